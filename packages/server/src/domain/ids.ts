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

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * The next id after `id` in Crockford base32: its last character incremented, with carry (the
 * next ULID after a ULID, as a monotonic generator makes it). An id that cannot be incremented
 * so (all "Z", or a last character outside the alphabet) gets "0" appended, which also sorts
 * right after it. A store uses it to keep a tenant's notification ids in commit order.
 */
export function nextIdAfter(id: string): string {
  const chars = id.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    const d = CROCKFORD.indexOf(chars[i]!);
    if (d === -1) break;
    if (d < CROCKFORD.length - 1) {
      chars[i] = CROCKFORD[d + 1]!;
      return chars.join('');
    }
    chars[i] = '0';
  }
  return `${id}0`;
}
