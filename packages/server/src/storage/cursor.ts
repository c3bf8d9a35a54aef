/**
 * Page cursors of the keyset-paged lists (conversations, topics): the sort key of a page's
 * last item, as base64url JSON. Opaque to clients; the same for every storage backend, so a
 * cursor stays valid whichever backend answers the next page.
 */
import { fail } from '../domain/errors.ts';

type Part = 'number' | 'string';
type Parts<S extends readonly Part[]> = { -readonly [I in keyof S]: S[I] extends 'number' ? number : string };

/** The cursor of a sort key. */
export function encodeCursor(key: readonly (number | string)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key in a cursor, checked against its shape; `request.invalid` for anything else. */
export function decodeCursor<const S extends readonly Part[]>(cursor: string, shape: S): Parts<S> {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === shape.length && shape.every((t, i) => typeof v[i] === t)) return v as Parts<S>;
  } catch {
    /* fall through */
  }
  throw fail('request.invalid', 'Unknown cursor: pass next_cursor from the previous page.');
}
