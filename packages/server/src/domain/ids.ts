/** Server-made ids: time-sortable (ULID, monotonic within a millisecond) or random. */
import { randomBytes, randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/**
 * Random bytes drawn from the OS in bulk: one `randomFillSync` per 4 KiB (256 ids) rather than
 * one `getRandomValues` call per character, as the `ulid` package's default PRNG does.
 */
const pool = new Uint8Array(4096);
let next = pool.length;

/** A PRNG for `ulid`: a uniform fraction in [0, 1) from one pooled CSPRNG byte (ulid keeps its top 5 bits). */
export function pooledRandom(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++]! / 256;
}

const ulid = monotonicFactory(pooledRandom);

/** A time-sortable id (26 chars, Crockford base32); later calls on this process never sort lower. */
export const newId = (): string => ulid();

/**
 * An id a caller gives (a conversation, a consultation, a team, a notification's target): 1 to
 * 128 characters without white space, "/", "?" or "#", so that it fits a path segment as it is.
 */
export const ID_RE = /^[^\s/?#]{1,128}$/;

/** A user id: an `ID_RE` without ":" or "," either, which separate ids and roles in participant lists. */
export const USER_ID_RE = /^[^\s/?#:,]{1,128}$/;

/** A random url-safe secret of `bytes` bytes. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');
