/** Server-made ids: time-sortable (ULID, monotonic within a millisecond) or random. */
import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';

const ulid = monotonicFactory();

/** A time-sortable id (26 chars, Crockford base32). */
export const newId = (): string => ulid();

/** A random url-safe secret of `bytes` bytes. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');
