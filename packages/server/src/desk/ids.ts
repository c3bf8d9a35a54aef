/**
 * The front desk's ids, in seed 002's formats and lengths, made here and nowhere else
 * (docs/desk.md): staff `sid` 19, visitor `vid` 23, chat 25 — random `[A-Za-z0-9]`; message
 * `mid` 20 — time-ordered base32hex; visit `tid` 53 — `YYYYMMDDHHmmss` + the visitor's id +
 * random. The organisation (`oid`, the bodies' `cid`) is the tenant id, not made here.
 */
import { randomBytes } from 'node:crypto';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const B32HEX = '0123456789abcdefghijklmnopqrstuv';

/** `n` random characters of `[A-Za-z0-9]` (rejection sampling: uniform). */
export function alnum(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      if (b < 248) out += ALNUM[b % 62];
      if (out.length === n) break;
    }
  }
  return out;
}

export const SID_RE = /^[A-Za-z0-9]{19}$/;
export const VID_RE = /^[A-Za-z0-9]{23}$/;
export const CHAT_ID_RE = /^[A-Za-z0-9]{25}$/;
export const MID_RE = /^[0-9a-v]{20}$/;
export const TID_RE = /^[0-9]{14}[A-Za-z0-9]{39}$/;

export const newSid = (): string => alnum(19);
export const newVid = (): string => alnum(23);
export const newChatId = (): string => alnum(25);

/** 12 bytes as 20 characters of lowercase base32hex (as xid does): byte order is string order. */
function base32hex(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32HEX[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32HEX[(acc << (5 - bits)) & 31];
  return out;
}

const node = randomBytes(3);
let lastMs = 0;
let counter = randomBytes(3).readUIntBE(0, 3);

/**
 * A message or event id: 6 bytes of milliseconds, 3 of a per-process counter, 3 random per
 * process. Later calls on one process sort after earlier ones (the counter carries a clock that
 * went back); across nodes ids sort by their millisecond.
 */
export function newMid(now = Date.now()): string {
  let ms = now;
  if (ms <= lastMs) {
    ms = lastMs;
    counter = (counter + 1) & 0xffffff;
    if (counter === 0) ms = ++lastMs;
  } else {
    counter = randomBytes(2).readUInt16BE(0);
  }
  lastMs = ms;
  const b = Buffer.alloc(12);
  b.writeUIntBE(ms, 0, 6);
  b.writeUIntBE(counter, 6, 3);
  node.copy(b, 9);
  return base32hex(b);
}

/** The smallest mid of a millisecond (a bound for "every id before this time"). */
export function midAt(ms: number): string {
  const b = Buffer.alloc(12);
  b.writeUIntBE(ms, 0, 6);
  return base32hex(b);
}

/** `YYYYMMDDHHmmss` in UTC. */
export function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** A visit id: time (14) + the visitor's vid (23) + 16 random; a staff member's: time + sid (19) + 20 random. 53 chars. */
export function newTid(ownerId: string, now = Date.now()): string {
  return stamp(now) + ownerId + alnum(53 - 14 - ownerId.length);
}

/** Whether `tid` is a visit id of `ownerId` (its vid or sid). */
export function isTidOf(tid: string, ownerId: string): boolean {
  return TID_RE.test(tid) && tid.slice(14, 14 + ownerId.length) === ownerId;
}
