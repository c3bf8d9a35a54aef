/**
 * Files on their way into a conversation: each is uploaded with `client.files.upload`
 * (progress from the browser's upload events, cancellable), then sent as a message through
 * the store (shown at once as sending, then sent or failed, like a text). A refused upload
 * stays in the list with the server's reason until dismissed.
 */
import { useMemo, useSyncExternalStore } from 'react';
import { CarelineError, fileContent, MessageTypes, type StoredFile } from '@careline/sdk';
import type { Store } from '../store.ts';

export interface Upload {
  id: string;
  conversationId: string;
  name: string;
  size: number;
  loaded: number;
  state: 'uploading' | 'sending' | 'failed';
  error?: CarelineError;
  /** An object URL of the image being sent, for its preview in the list. */
  preview?: string;
  controller: AbortController;
}

export interface SendFileOptions {
  name: string;
  /** The message type; default by the stored kind (image 2, audio 3, video 12, else file 1000). */
  type?: number;
  /** Seconds measured while recording, used when the server cannot read the file's own. */
  duration?: number;
}

const KIND_TYPE: Record<StoredFile['kind'], number> = { image: MessageTypes.IMAGE, audio: MessageTypes.VOICE, video: MessageTypes.VIDEO, file: MessageTypes.FILE };

class Uploads {
  list: readonly Upload[] = [];
  #listeners = new Set<() => void>();

  subscribe = (l: () => void): (() => void) => {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  };

  set(list: readonly Upload[]): void {
    this.list = list;
    for (const l of [...this.#listeners]) l();
  }

  patch(id: string, patch: Partial<Upload>): void {
    this.set(this.list.map((u) => (u.id === id ? { ...u, ...patch } : u)));
  }

  remove(id: string): void {
    const u = this.list.find((x) => x.id === id);
    if (u?.preview) URL.revokeObjectURL(u.preview);
    this.set(this.list.filter((x) => x.id !== id));
  }
}

const managers = new WeakMap<Store, Uploads>();

function uploadsOf(store: Store): Uploads {
  let m = managers.get(store);
  if (!m) managers.set(store, (m = new Uploads()));
  return m;
}

/** The uploads of one conversation, live. */
export function useUploads(store: Store, conversationId: string): readonly Upload[] {
  const m = uploadsOf(store);
  const all = useSyncExternalStore(m.subscribe, () => m.list);
  return useMemo(() => all.filter((u) => u.conversationId === conversationId), [all, conversationId]);
}

/** Cancels an upload in flight, or dismisses a failed one. */
export function cancelUpload(store: Store, id: string): void {
  const m = uploadsOf(store);
  const u = m.list.find((x) => x.id === id);
  if (!u) return;
  u.controller.abort();
  m.remove(id);
}

/** Uploads `file` to the conversation and sends it as a message. Resolves when done (or refused, or cancelled). */
export async function sendFile(store: Store, conversationId: string, file: Blob, opts: SendFileOptions): Promise<void> {
  const m = uploadsOf(store);
  const id = crypto.randomUUID();
  const controller = new AbortController();
  const preview = file.type.startsWith('image/') ? URL.createObjectURL(file) : undefined;
  m.set([...m.list, { id, conversationId, name: opts.name, size: file.size, loaded: 0, state: 'uploading', controller, ...(preview ? { preview } : {}) }]);
  try {
    const stored = await store.client.files.upload(file, {
      conversationId,
      name: opts.name,
      signal: controller.signal,
      onProgress: ({ loaded }) => m.patch(id, { loaded }),
    });
    m.patch(id, { state: 'sending', loaded: file.size });
    const type = opts.type ?? KIND_TYPE[stored.kind] ?? MessageTypes.FILE;
    const content = fileContent(type, stored);
    // A browser's recording often says nothing of its length: the time recorded stands in.
    if (stored.duration === undefined && opts.duration !== undefined) content.duration = Math.max(1, Math.round(opts.duration));
    store.send(conversationId, type, content);
    m.remove(id);
  } catch (err) {
    if (err instanceof CarelineError && err.code === 'client.aborted') {
      m.remove(id);
      return;
    }
    const error = err instanceof CarelineError ? err : new CarelineError('client.network_error', String(err));
    if (m.list.some((u) => u.id === id)) m.patch(id, { state: 'failed', error });
  }
}

/** A plain file name for a pasted or recorded file (the server refuses paths and leading dots). */
export function stampName(prefix: string, ext: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${prefix}-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.${ext}`;
}

/** The extension of a MIME type, for a file that has no name. */
export function extOf(mime: string): string {
  const base = mime.split(';')[0]!.trim().toLowerCase();
  const known: Record<string, string> = {
    'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp', 'image/avif': 'avif',
    'audio/webm': 'webm', 'audio/ogg': 'ogg', 'audio/mp4': 'm4a', 'audio/mpeg': 'mp3', 'video/webm': 'webm', 'video/mp4': 'mp4',
  };
  return known[base] ?? 'bin';
}
