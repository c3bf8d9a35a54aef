/**
 * The long-poll and SSE cursor: what the client has, as a `sync` frame takes it — per
 * conversation the last seq (`c`), the `server_time` of the last `sync_done` (`s`), the newest
 * notification id (`n`). On the wire it is base64url JSON, so it fits a query string and an SSE
 * `id:`; the server gives the next one with every answer, and a client may also build it. It is
 * all the state a poll needs: any node answers any poll from it.
 */
import { fail } from '../domain/errors.ts';

export interface Cursor {
  c: Record<string, number>;
  s?: number;
  n?: string;
  /** The poll session (its connection id, on the node that answered) and the number of its last frame the client has (receipts, typing…: `longpoll/transport.ts`). */
  k?: string;
  e?: number;
  /**
   * With `k`: how many messages and notifications that poll session had seen when this cursor
   * was given, all of them in it (`PresenceTransport.moved`). A poll whose session has seen none
   * since skips the catch-up (`LongPoll.poll`).
   */
  m?: number;
}

const MAX_CONVERSATIONS = 100_000;

/** The cursor of `text` (from `encodePollCursor`), or throws `longpoll.invalid_cursor`. */
export function decodePollCursor(text: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw fail('longpoll.invalid_cursor');
  }
  return checkCursor(v);
}

/** A cursor given as plain parts (`cursors` JSON, `since`, `notifications_after`), checked. */
export function checkCursor(v: unknown): Cursor {
  const o = v as { c?: unknown; s?: unknown; n?: unknown } | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw fail('longpoll.invalid_cursor');
  const c = o.c ?? {};
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw fail('longpoll.invalid_cursor');
  const entries = Object.entries(c as Record<string, unknown>);
  if (entries.length > MAX_CONVERSATIONS) throw fail('longpoll.invalid_cursor', `A cursor holds at most ${MAX_CONVERSATIONS} conversations.`);
  const out: Cursor = { c: {} };
  for (const [k, seq] of entries) {
    if (k.length === 0 || k.length > 128 || !Number.isSafeInteger(seq) || (seq as number) < 0) throw fail('longpoll.invalid_cursor', `Bad cursor entry for "${k.slice(0, 128)}".`);
    out.c[k] = seq as number;
  }
  if (o.s !== undefined) {
    if (typeof o.s !== 'number' || !Number.isFinite(o.s) || o.s < 0) throw fail('longpoll.invalid_cursor', 'since must be a time in ms.');
    out.s = o.s;
  }
  const k = (o as { k?: unknown }).k;
  const e = (o as { e?: unknown }).e;
  if (k !== undefined || e !== undefined) {
    if (typeof k !== 'string' || k.length > 64 || !Number.isSafeInteger(e) || (e as number) < 0) throw fail('longpoll.invalid_cursor', 'k and e go together.');
    out.k = k;
    out.e = e as number;
    const m = (o as { m?: unknown }).m;
    if (m !== undefined) {
      if (!Number.isSafeInteger(m) || (m as number) < 0) throw fail('longpoll.invalid_cursor', 'm is a count.');
      out.m = m as number;
    }
  }
  if (o.n !== undefined) {
    if (typeof o.n !== 'string' || o.n.length > 64) throw fail('longpoll.invalid_cursor', 'notifications_after must be an id.');
    out.n = o.n;
  }
  return out;
}

export function encodePollCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

type Moving = {
  type: string;
  message?: PlacedMessage;
  notification?: { id: string };
  server_time?: number;
  conversations?: { id: string; last_seq: number }[];
  notifications?: { last_id: string | null };
};

/** What `place` read of a frame, for its caller (a message frame's message), so that the frame is parsed once. */
export interface Placed {
  message?: PlacedMessage;
}

/** The fields of a message frame's message that the long-poll transport reads. */
type PlacedMessage = { conversation_id: string; seq: number; sender_id: string; client_id?: string | null };

/**
 * How a cursor-keeping transport treats one server frame (JSON text), and the cursor moved past
 * it: a message raises its conversation's seq, a notification the notification id, a
 * `sync_done` sets `since` (and the conversations the client had no cursor for start at their
 * newest seq, as the catch-up listed them). `duplicate`: a message the cursor has; `gap`: a
 * message after one the cursor lacks (an older one is still on its way, from another node) —
 * the cursor does not move; `frame`: a frame that does not move it.
 */
export function place(cur: Cursor, data: string, seen?: Placed): 'frame' | 'moved' | 'duplicate' | 'gap' {
  const t = /^\{"type":"([a-z_]+)"/.exec(data)?.[1];
  if (t !== 'message' && t !== 'notification' && t !== 'sync_done') return 'frame';
  const f = JSON.parse(data) as Moving;
  if (t === 'message') {
    const m = f.message!;
    if (seen) seen.message = m;
    const have = cur.c[m.conversation_id];
    if (have !== undefined && m.seq <= have) return 'duplicate';
    if (have !== undefined && m.seq > have + 1) return 'gap';
    cur.c[m.conversation_id] = m.seq;
    return 'moved';
  }
  if (t === 'notification') {
    const id = f.notification!.id;
    if (cur.n !== undefined && cur.n !== '' && cur.n >= id) return 'duplicate';
    cur.n = id;
    return 'moved';
  }
  cur.s = f.server_time!;
  for (const h of f.conversations ?? []) if (!Object.hasOwn(cur.c, h.id)) cur.c[h.id] = h.last_seq;
  const last = f.notifications?.last_id;
  if (last != null && (cur.n === undefined || last > cur.n)) cur.n = last;
  return 'moved';
}
