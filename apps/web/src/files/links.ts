/**
 * Signed links of stored files, for `<img src>`, `<audio src>` and download links: the token
 * never goes into an address. A link is asked for once per file and variant and reused until
 * shortly before it expires (the server's `files.signedUrlTtlSeconds`); a page already shown
 * keeps its picture, and media or downloads ask again when theirs is stale.
 */
import { useEffect, useState } from 'react';
import { CarelineError, type FilesApi } from '@careline/sdk';

export type Variant = 'original' | 'thumbnail';

interface Entry {
  url: string;
  expires_at: number;
}

/** Asked for this long before a link expires, a new one is made. */
const MARGIN_MS = 30_000;
const caches = new WeakMap<FilesApi, Map<string, Entry | Promise<Entry>>>();

function cacheOf(files: FilesApi): Map<string, Entry | Promise<Entry>> {
  let c = caches.get(files);
  if (!c) caches.set(files, (c = new Map()));
  return c;
}

const fresh = (e: Entry) => e.expires_at - MARGIN_MS > Date.now();

/** The cached link if it is still good (synchronously), else undefined. */
export function cachedLink(files: FilesApi, storageId: string, variant: Variant): string | undefined {
  const e = cacheOf(files).get(`${variant}:${storageId}`);
  return e && !(e instanceof Promise) && fresh(e) ? e.url : undefined;
}

/** A signed link of the file (made once, reused while fresh; `force` makes a new one). */
export async function signedLink(files: FilesApi, storageId: string, variant: Variant, force = false): Promise<string> {
  const cache = cacheOf(files);
  const key = `${variant}:${storageId}`;
  const have = cache.get(key);
  if (have instanceof Promise) return (await have).url;
  if (have && !force && fresh(have)) return have.url;
  const p = files.url(storageId, { variant }).then(
    (e) => {
      cache.set(key, e);
      return e;
    },
    (err: unknown) => {
      cache.delete(key);
      throw err;
    },
  );
  cache.set(key, p);
  return (await p).url;
}

export interface LinkState {
  url: string | undefined;
  /** The file cannot be read (gone, recalled, not the reader's): `file.not_found`… */
  error: CarelineError | undefined;
  /** Makes a new link (after a media element failed with a stale one). */
  refresh(): void;
}

/** A signed link of a stored file for a component; `enabled` false asks for nothing yet. */
export function useSignedLink(files: FilesApi, storageId: string | undefined, variant: Variant, enabled = true): LinkState {
  const [state, setState] = useState<{ url?: string; error?: CarelineError; round: number }>(() => ({
    url: storageId ? cachedLink(files, storageId, variant) : undefined,
    round: 0,
  }));
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (!storageId || !enabled) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A busy or unreachable server (network error, 429, 5xx) is asked again, after 0.5, 1, 2, 4,
    // then every 8 s: only an answer about the file itself (gone, recalled, not the reader's)
    // shows it as unavailable.
    const ask = (attempt: number) => {
      signedLink(files, storageId, variant, round > 0).then(
        (url) => live && setState({ url, round }),
        (err: unknown) => {
          if (!live) return;
          const e = err instanceof CarelineError ? err : new CarelineError('client.network_error', String(err));
          if (e.retryable) timer = setTimeout(() => ask(attempt + 1), Math.min(8_000, 500 * 2 ** attempt));
          else setState({ error: e, round });
        },
      );
    };
    ask(0);
    return () => {
      live = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [files, storageId, variant, enabled, round]);
  return { url: state.url, error: state.error, refresh: () => setRound((r) => r + 1) };
}
