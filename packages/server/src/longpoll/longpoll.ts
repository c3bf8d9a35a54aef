/**
 * Long-polling and Server-Sent Events over the real-time layer (`realtime/`): the same frames,
 * handlers, catch-up and fan-out as the WebSocket; only the carrier differs.
 *
 * - A poll (`GET /api/v2/poll`) is a short-lived `Connection` that runs a `sync` from the
 *   client's cursor, then waits for live frames; it answers with what the catch-up sent, or
 *   holds until the first live frame or `longpoll.timeoutMs`. The cursor (`cursor.ts`) is all
 *   the state: any node answers any poll, and a node that dies loses nothing.
 * - A poll that continues its session's previous answer (the cursor's `k` and `m`: the session
 *   on this node has seen no message or notification since that answer, and all it saw before
 *   is in the cursor) skips the catch-up and only waits, as a WebSocket that stayed connected
 *   reads nothing from storage for a live message; a full catch-up runs at least every
 *   `FULL_CATCH_UP_MS` (a live event lost between nodes is not missed for longer), after any
 *   answer that did not take in everything the session saw (a gap, a cut catch-up), and after
 *   the bus lost its link (also the end of every remembered token: see `authenticate`).
 * - A POST of frames (`POST /api/v2/poll/send`) is a short-lived `Connection` that handles them
 *   and answers with their answers (a send's `ack` only after commit, as on the WebSocket).
 *   Its messages reach the user's other connections as usual, but a client that names itself
 *   (`client=`, the same on its polls and POSTs: the SDK does) does not get its own message
 *   on its poll while the POST that sends it is open: the POST's `ack` tells it, as the
 *   sending WebSocket gets its `ack` and not its message. Such a poll moves its cursor past
 *   the message and goes on waiting — one poll less per message sent.
 * - Presence: a user's poll session (per login session, on the node it polls) is a connection
 *   whose sign of life is the polls; polls that stop for two heartbeat intervals end it. A
 *   `presence` frame POSTed subscribes the session too, so the changes reach the polls.
 * - SSE (`GET /api/v2/poll/events`) is a long-lived `Connection` writing events.
 * - Authentication: a request is authenticated as a WebSocket upgrade is, once per poll
 *   session rather than once per request. While the session's connection is open, a request
 *   with the token that session was last seen with is taken as that session's (its token not
 *   expired), without reading the login session and the user again: the connection is closed
 *   — and the token forgotten — when the session is revoked, the user disabled or their role
 *   changed, exactly as a WebSocket's is. Every other request is checked in full.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { Authenticated } from '../domain/auth.ts';
import { fail } from '../domain/errors.ts';
import type { Connection } from '../realtime/connection.ts';
import type { Realtime } from '../realtime/realtime.ts';
import { encodePollCursor, place, type Cursor, type Placed } from './cursor.ts';
import { PostOrder } from './order.ts';
import { CollectTransport, PresenceTransport, SseTransport, isEphemeral } from './transport.ts';

export interface PollAnswer {
  /** The frames, as JSON text. */
  frames: string[];
  cursor: Cursor;
  /** The connection was closed by the server (shutdown, token expiry, a limit): the WebSocket close it stands for. */
  close?: { code: number; reason: string };
}

export interface PollOptions {
  /** Hold at most this long (ms) for a live frame; capped by `longpoll.timeoutMs`. */
  timeoutMs?: number;
  /** Put the `hello` frame first (the client's first poll). */
  hello?: boolean;
  /** False: no notification catch-up (the `sync` frame without `notifications_after`). */
  notifications?: boolean;
  /** The client's name for itself (`client=`): its own sends, in its open POSTs, are not answered here (their ack is). */
  client?: string;
}

/** The user ids of a `presence` frame's list (what is not a string is the frame's error, said by its connection). */
const userIds = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : []);

/** A `presence` frame POSTed, applied to the poll session's connection too (no status answers: the POST gives them), within the watch limit. */
function watchFrom(conn: Connection, f: { subscribe?: unknown; unsubscribe?: unknown }): void {
  const ctx = conn.ctx;
  const off = userIds(f.unsubscribe);
  if (off.length > 0) ctx.onPresenceSubscribe(conn, off, false);
  const on = userIds(f.subscribe).filter((u) => !conn.presence?.has(u));
  if (on.length > 0 && (conn.presence?.size ?? 0) + on.length <= ctx.maxPresenceWatches) ctx.onPresenceSubscribe(conn, on, true);
}

/** Answers to the frames of a POST: the `hello` of its connection is not one. */
const isHello = (data: string) => data.startsWith('{"type":"hello"');

/** A poll that continues its session's previous answer still runs a full catch-up when the last was this long ago. */
export const FULL_CATCH_UP_MS = 60_000;

/** The key of a poll session: `tenant\0user\0login session`. */
const sessionKey = (auth: Authenticated): string => `${auth.principal.tenantId}\u0000${auth.principal.userId}\u0000${auth.principal.sessionId}`;

export class LongPoll {
  readonly #core: Core;
  #realtime: Realtime | undefined;
  /** Per poll session (`tenant\0user\0login session`), the connection that keeps the user present. */
  readonly #sessions = new Map<string, PresenceTransport>();
  /** Per token, the open poll session it was last seen with (one token per session), and what it authenticated as. */
  readonly #tokens = new Map<string, { session: PresenceTransport; auth: Authenticated }>();
  /** The order of numbered POSTs, per client. */
  readonly #order = new PostOrder();

  constructor(core: Core) {
    this.#core = core;
    // The bus lost its link (several nodes): live events may have been missed, a revocation among
    // them. Every token is checked in full again, and every session's next poll catches up.
    core.bus.onResume(() => {
      this.#tokens.clear();
      for (const s of this.#sessions.values()) {
        s.token = undefined;
        s.moved++;
      }
    });
  }

  /** The node's real-time layer (made once the server listens; no request comes before). */
  attach(realtime: Realtime): void {
    this.#realtime = realtime;
  }

  /**
   * Authenticates a request's user token: as the open poll session it belongs to, if there is
   * one on this node (see the file's head), else in full (`AuthService.authenticate`).
   */
  async authenticate(token: string): Promise<Authenticated> {
    const known = this.#tokens.get(token);
    if (known) {
      const { session, auth } = known;
      if (!session.conn.closed && this.#sessions.get(sessionKey(auth)) === session && auth.expiresAt > Date.now()) return auth;
      this.#forget(session);
    }
    const auth = await this.#core.auth.authenticate(token);
    const session = this.#sessions.get(sessionKey(auth));
    if (session && !session.conn.closed) {
      this.#forget(session);
      session.token = token;
      this.#tokens.set(token, { session, auth });
    }
    return auth;
  }

  /** Forgets the token of a poll session (it ended, or was seen with another token). */
  #forget(session: PresenceTransport): void {
    if (session.token !== undefined && this.#tokens.get(session.token)?.session === session) this.#tokens.delete(session.token);
    session.token = undefined;
  }

  get #rt(): Realtime {
    const rt = this.#realtime;
    if (!rt || !rt.accepting) throw fail('server.unavailable', 'The server is shutting down; poll another node or later.');
    return rt;
  }

  #admit(auth: Authenticated): void {
    const over = this.#rt.admit(auth);
    if (over) throw fail(over.code, over.message, over.details);
  }

  /**
   * The user's poll session on this node: made on the first poll (the user comes online,
   * `hello` and the "connected elsewhere" policy run as for a WebSocket connect), kept alive by
   * each request. Returns it with one request counted open; `release` when the request ends.
   */
  #session(auth: Authenticated): PresenceTransport {
    const key = sessionKey(auth);
    let s = this.#sessions.get(key);
    if (!s) {
      this.#admit(auth);
      const t = new PresenceTransport(() => {
        if (this.#sessions.get(key) === t) this.#sessions.delete(key);
        this.#forget(t);
      });
      t.conn = this.#rt.open(t, auth, { holdUntilSync: false });
      this.#sessions.set(key, t);
      s = t;
    }
    s.touch();
    s.open++;
    return s;
  }

  #release(s: PresenceTransport): void {
    s.open--;
    s.touch();
  }

  /** A heartbeat without frames (seed 002's `/api/ping`): the user stays present. */
  ping(auth: Authenticated): void {
    this.#release(this.#session(auth));
  }

  /** Opens a short-lived connection over `t`. */
  #open(t: CollectTransport, auth: Authenticated, holdUntilSync: boolean): Connection {
    this.#admit(auth);
    const conn = this.#rt.open(t, auth, { holdUntilSync, secondary: true });
    t.conn = conn;
    return conn;
  }

  /**
   * One poll: the frames after `cursor` (the catch-up, then `sync_done`), at once if there are
   * any, else the first live frames within the timeout. `closed` aborts it (the client left).
   */
  async poll(auth: Authenticated, cursor: Cursor, opts: PollOptions, closed: AbortSignal): Promise<PollAnswer> {
    const cfg = this.#core.config;
    const session = this.#session(auth);
    let onEvent: (() => void) | undefined;
    try {
      const first = opts.hello === true;
      const cur: Cursor = { c: { ...cursor.c }, ...(cursor.s !== undefined ? { s: cursor.s } : {}), ...(cursor.n !== undefined ? { n: cursor.n } : {}) };
      const frames: string[] = [];
      let synced = false;
      let timer: NodeJS.Timeout | undefined;
      const holdMs = Math.min(opts.timeoutMs ?? cfg.longpoll.timeoutMs, cfg.longpoll.timeoutMs);
      let soon: NodeJS.Immediate | undefined;
      let done!: () => void;
      const ended = new Promise<void>((r) => (done = r));
      // The session's frames no cursor finds again: those after the client's number (same session), else from now on.
      const from = cursor.k === session.conn.id && cursor.e !== undefined ? Math.min(cursor.e, session.next - 1) : session.next - 1;
      // The cursor has every message and notification this session saw, and it saw none since: nothing to catch up (see the file's head).
      const continuing = !first && cursor.k === session.conn.id && cursor.m !== undefined && cursor.m === session.moved
        && cursor.s !== undefined && Date.now() - cursor.s < FULL_CATCH_UP_MS;
      let gapped = false;
      const t = new CollectTransport(cfg.longpoll.maxResponseBytes, (data) => {
        if (isHello(data) && !first) return;
        if (isEphemeral(data)) return;
        const seen: Placed = {};
        const p = place(cur, data, seen);
        if (p === 'duplicate') return;
        // An older message of this conversation is still on its way: answer without this one;
        // the next poll reads both from storage, in order.
        if (p === 'gap') {
          gapped = true;
          return t.finish();
        }
        // The client's own message, in a POST of this session not answered yet: its ack says it (the cursor moved past it).
        if (p === 'moved' && opts.client !== undefined && session.sending.size > 0 && sentBy(seen.message, auth.principal.userId, opts.client, session.sending)) return;
        frames.push(data);
        if (data.startsWith('{"type":"sync_done"')) {
          synced = true;
          // The hold for live frames starts once the catch-up is out.
          timer = setTimeout(() => t.finish(), holdMs);
          // Something to tell (or the first poll, which answers with hello and sync_done): answer
          // now — after the live frames held during the catch-up, released right after its
          // sync_done (in this turn): they belong in this answer (its cursor passes them).
          if (first || frames.length > 1 || session.next - 1 > from) soon ??= setImmediate(() => t.finish());
          return;
        }
        // A live frame: answer after the frames of the same turn.
        if (synced) soon ??= setImmediate(() => t.finish());
      }, () => done());
      onEvent = () => {
        if (synced) soon ??= setImmediate(() => t.finish());
      };
      session.listeners.add(onEvent);
      const conn = this.#open(t, auth, !continuing);
      if (first) conn.send({ type: 'hello', connection_id: conn.id, user: auth.user, server_time: Date.now(), heartbeat_ms: cfg.ws.heartbeatMs, max_frame_bytes: cfg.ws.maxFrameBytes, token_expires_at: auth.expiresAt });
      const onAbort = () => t.finish();
      closed.addEventListener('abort', onAbort);
      // A catch-up that takes longer than the poll's budget answers with what it sent (its cursor moved with it).
      const budget = setTimeout(() => t.finish(), cfg.longpoll.timeoutMs);
      if (continuing) {
        // No catch-up: live frames from now on, or the receipts and events kept since the previous answer at once.
        synced = true;
        timer = setTimeout(() => t.finish(), holdMs);
        if (session.next - 1 > from) t.finish();
      } else {
        conn.onFrame(JSON.stringify({
          type: 'sync', id: 'poll', cursors: cur.c, ...(cur.s !== undefined ? { since: cur.s } : {}),
          ...(opts.notifications === false ? {} : { notifications_after: cur.n ?? '' }),
        }));
      }
      await ended;
      clearTimeout(timer);
      clearTimeout(budget);
      if (soon) clearImmediate(soon);
      closed.removeEventListener('abort', onAbort);
      // After the messages: the receipts, typing and events since the previous poll.
      for (const e of session.after(from)) frames.push(e.data);
      cur.k = session.conn.id;
      cur.e = session.next - 1;
      // Everything the session saw is in the cursor (the catch-up ran to its end, or there was none; no gap): the next poll may continue.
      if (synced && !gapped && !t.closedWith) cur.m = session.moved;
      return { frames, cursor: cur, ...(t.closedWith ? { close: t.closedWith } : {}) };
    } finally {
      if (onEvent) session.listeners.delete(onEvent);
      this.#release(session);
    }
  }

  /**
   * Handles client frames (JSON values) as one connection would, in order, and answers with
   * their answers: the frames that carry their ids (`ack`, `sync_done`, `pong`, `presence`,
   * `refreshed`, the own `read` receipt, `error`) and the errors and pongs of frames without one. It waits
   * for an answer to every frame with an id, at most `longpoll.timeoutMs`: a send whose ack did
   * not come is sent again with the same `client_id` (stored once).
   */
  async send(auth: Authenticated, frames: unknown[], client?: string, order?: { n: number; from: number }, bodyBytes?: number): Promise<PollAnswer> {
    const cfg = this.#core.config;
    if (frames.length > cfg.longpoll.maxFrames) throw fail('longpoll.too_many_frames', undefined, { max: cfg.longpoll.maxFrames });
    // A numbered POST hands its frames after the client's earlier POSTs (order.ts).
    const chain = order && client !== undefined ? `${sessionKey(auth)}\u0000${client}` : null;
    if (chain !== null) await this.#order.turn(chain, order!.n, order!.from, cfg.longpoll.orderWaitMs);
    let handed = false;
    const hand = () => {
      if (handed || chain === null) return;
      handed = true;
      this.#order.handed(chain, order!.n);
    };
    try {
      return await this.#send(auth, frames, client, hand, bodyBytes);
    } finally {
      hand();
    }
  }

  async #send(auth: Authenticated, frames: unknown[], client: string | undefined, handed: () => void, bodyBytes: number | undefined): Promise<PollAnswer> {
    const cfg = this.#core.config;
    // A body no larger than one frame may be cannot hold a frame over the bound: the frames are
    // handed as parsed, not written out again to be measured.
    const measure = bodyBytes === undefined || bodyBytes > cfg.ws.maxFrameBytes;
    const session = this.#sessionIfAny(auth);
    /** The client ids of this POST's sends, in the session's `sending` while it runs. */
    const sending: string[] = [];
    try {
      const waiting = new Set<string>();
      for (const f of frames) {
        const id = (f as { id?: unknown } | null)?.id;
        if (typeof id === 'string') waiting.add(id);
        const send = f as { type?: unknown; message?: { client_id?: unknown } } | null;
        if (session && client !== undefined && typeof id === 'string' && send?.type === 'send' && typeof send.message?.client_id === 'string') {
          const key = `${client}\u0000${send.message.client_id}`;
          sending.push(key);
          session.sending.set(key, (session.sending.get(key) ?? 0) + 1);
        }
      }
      const answers: string[] = [];
      let soon: NodeJS.Immediate | undefined;
      let done!: () => void;
      const ended = new Promise<void>((r) => (done = r));
      const asked = new Set(waiting);
      const t = new CollectTransport(Number.MAX_SAFE_INTEGER, (data) => {
        // The connection's live frames (the user's messages and notifications) are not answers.
        if (data.startsWith('{"type":"message"') || data.startsWith('{"type":"notification"') || isHello(data)) return;
        const f = JSON.parse(data) as { type: string; id?: unknown };
        // Without an id: errors, and the pong of a ping (the client's sign that the link is alive).
        if (typeof f.id === 'string' ? !asked.has(f.id) : f.type !== 'error' && f.type !== 'pong') return;
        answers.push(data);
        if (typeof f.id === 'string') waiting.delete(f.id);
        if (waiting.size === 0) soon ??= setImmediate(() => t.finish());
      }, () => done());
      const conn = this.#open(t, auth, false);
      const timer = setTimeout(() => t.finish(), cfg.longpoll.timeoutMs);
      frames.forEach((frame, i) => {
        if (measure && Buffer.byteLength(JSON.stringify(frame) ?? '') > cfg.ws.maxFrameBytes) {
          const id = (frame as { id?: unknown } | null)?.id;
          waiting.delete(id as string);
          const e = ErrorCodes['longpoll.frame_too_large'];
          answers.push(JSON.stringify({ type: 'error', ...(typeof id === 'string' ? { id } : {}), code: 'longpoll.frame_too_large', message: e.message, details: { max: cfg.ws.maxFrameBytes } }));
          return;
        }
        conn.onFrameValue(frame);
        // Presence watches live as long as the connection that made them: this POST's ends with
        // it, so the poll session (which outlives it) watches too, and its changes reach the polls.
        const f = frames[i] as { type?: unknown; subscribe?: unknown; unsubscribe?: unknown } | null;
        if (session && f !== null && typeof f === 'object' && !Array.isArray(f) && f.type === 'presence') watchFrom(session.conn, f);
      });
      // Handed once its sends are queued for commit (a connection queues them in order).
      void conn.inOrder(async () => handed());
      // Frames without ids (and errors found at once): their answers come in this turn.
      if (waiting.size === 0) soon ??= setImmediate(() => t.finish());
      await ended;
      clearTimeout(timer);
      if (soon) clearImmediate(soon);
      return { frames: answers, cursor: { c: {} }, ...(t.closedWith ? { close: t.closedWith } : {}) };
    } finally {
      if (session) {
        for (const cid of sending) {
          const n = session.sending.get(cid)! - 1;
          if (n > 0) session.sending.set(cid, n);
          else session.sending.delete(cid);
        }
        this.#release(session);
      }
    }
  }

  /** The poll session of `auth` on this node if there is one, counted as a sign of life. */
  #sessionIfAny(auth: Authenticated): PresenceTransport | undefined {
    const s = this.#sessions.get(sessionKey(auth));
    if (!s) return undefined;
    s.touch();
    s.open++;
    return s;
  }

  /**
   * A Server-Sent Events stream on `res`: `hello`, the catch-up after `cursor`, `sync_done`,
   * then live frames, until the client or the server ends it. A full connection (presence,
   * heartbeat comments), like a WebSocket.
   */
  events(auth: Authenticated, cursor: Cursor, req: IncomingMessage, res: ServerResponse): void {
    const rt = this.#rt;
    this.#admit(auth);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive',
      'x-accel-buffering': 'no', 'x-content-type-options': 'nosniff',
    });
    res.write('retry: 1000\n\n');
    const t = new SseTransport(res, cursor);
    const conn = rt.open(t, auth, { holdUntilSync: true });
    t.conn = conn;
    res.on('close', () => {
      t.onClosed();
      conn.onClose();
    });
    req.socket.setTimeout(0);
    conn.onFrame(JSON.stringify({
      type: 'sync', id: 'events', cursors: cursor.c, ...(cursor.s !== undefined ? { since: cursor.s } : {}), notifications_after: cursor.n ?? '',
    }));
  }
}

/** Whether a message (as `place` read it from its frame) is `userId`'s own, sent by `client` in a POST still open (`sending`). */
function sentBy(m: Placed['message'], userId: string, client: string, sending: ReadonlyMap<string, number>): boolean {
  return m !== undefined && m.sender_id === userId && typeof m.client_id === 'string' && sending.has(`${client}\u0000${m.client_id}`);
}

/** The JSON body of a poll or POST answer: `{frames, cursor, close?}`, built from the frames' text. */
export function answerBody(a: PollAnswer): string {
  return `{"frames":[${a.frames.join(',')}],"cursor":"${encodePollCursor(a.cursor)}"${a.close ? `,"close":${JSON.stringify(a.close)}` : ''}}`;
}
