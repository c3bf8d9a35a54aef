/** The one rule for blob keys, shared by every `BlobStore` backend. */
import { fail } from '../domain/errors.ts';

const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;

/** Throws `file.invalid` unless `key` is `/`-joined safe segments (no `.`, `..`, empty or absolute part). */
export function checkKey(key: string): string {
  const parts = key.split('/');
  if (key.length > 1024 || parts.some((p) => !SEGMENT.test(p) || p === '.' || p === '..')) throw fail('file.invalid', 'Invalid storage key.');
  return key;
}

/** Counts the bytes of `body` as they pass; fails with `file.size_mismatch` past `size`, or short of it at the end. */
export async function* counted(body: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of body) {
    n += chunk.byteLength;
    if (n > size) throw fail('file.size_mismatch', `The body is longer than ${size} bytes.`);
    yield chunk;
  }
  if (n !== size) throw fail('file.size_mismatch', `The body has ${n} bytes, not ${size}.`);
}
