/**
 * What both search stores share: the page cursor of a search (its own code,
 * `search.cursor_invalid`) and the splitting of terms into characters (code points, as the
 * databases count them).
 */
import { fail } from '../domain/errors.ts';
import { encodeCursor } from './cursor.ts';

/** The characters of a term, as code points (what SQLite and PostgreSQL count). */
export const chars = (term: string): string[] => Array.from(term);

/** ASCII letters lowered, nothing else: the case folding both backends do the same way whatever the database's locale. */
export const asciiLower = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/** A search cursor: the backend's sort key (a number or a message id). */
export function encodeSearchCursor(key: number | string): string {
  return encodeCursor(['s', key]);
}

export function decodeSearchCursor<K extends 'number' | 'string'>(cursor: string, kind: K): K extends 'number' ? number : string {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && v[0] === 's' && typeof v[1] === kind && (kind === 'string' || Number.isSafeInteger(v[1]))) {
      return v[1] as K extends 'number' ? number : string;
    }
  } catch {
    /* fall through */
  }
  throw fail('search.cursor_invalid');
}
