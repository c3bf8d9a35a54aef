/**
 * The `Transport`s of the HTTP transports (long-polling and Server-Sent Events). A long-poll
 * request is a short-lived `Connection` whose transport collects frames into the answer; a
 * poll session's presence is a `Connection` whose transport writes nowhere and whose sign of
 * life is the client's polls; an SSE stream is a `Connection` whose transport writes events.
 */
import type { ServerResponse } from 'node:http';
import type { DisconnectReason } from '@careline/protocol';
import type { Connection } from '../realtime/connection.ts';
import type { Transport } from '../realtime/transport.ts';
import { encodePollCursor, place, type Cursor } from './cursor.ts';

/**
 * The transport of one long-poll request (GET) or one POST of frames: frames are collected,
 * and `end` is told once when the answer is due. The `Connection` calls `drained` when a
 * catch-up has more than half its output bound waiting: here that answers the request (the
 * next poll goes on from the cursor), which keeps an answer bounded.
 */
export class CollectTransport implements Transport {
  readonly frames: string[] = [];
  conn!: Connection;
  /** The close the connection asked for (shutdown, token expiry, a limit), told to the client with the answer. */
  closedWith: { code: number; reason: string } | undefined;
  #bytes = 0;
  #finished = false;
  #beats = 0;
  readonly #onWrite: (data: string) => void;
  readonly #onEnd: () => void;
  readonly #maxBytes: number;

  constructor(maxBytes: number, onWrite: (data: string) => void, onEnd: () => void) {
    this.#maxBytes = maxBytes;
    this.#onWrite = onWrite;
    this.#onEnd = onEnd;
  }

  get finished(): boolean {
    return this.#finished;
  }

  write(data: string): void {
    if (this.#finished) return;
    this.frames.push(data);
    this.#bytes += data.length;
    this.#onWrite(data);
  }

  /**
   * The answer's size on the scale of the connection's output bound: past half of it once the
   * answer reaches its own bound (a catch-up then calls `drained`, which answers), and never
   * past the bound itself (a poll is never a slow consumer: its answer ends instead).
   */
  buffered(): number {
    if (this.#finished) return 0;
    const half = this.conn.ctx.maxBufferedBytes / 2;
    return this.#bytes >= this.#maxBytes ? half + 1 : Math.floor((this.#bytes / this.#maxBytes) * half);
  }

  /** The answer is full: it goes now (the connection ends with it). */
  async drained(): Promise<void> {
    this.finish();
  }

  sent(): number {
    return this.#bytes;
  }

  close(why: DisconnectReason, reason: string): void {
    this.closedWith ??= { code: why.code, reason };
    this.finish();
  }

  /** The client's request is open: it is alive. A ping (a silent beat) counts as a sign. */
  ping(): void {
    this.#beats++;
  }

  received(): number {
    return this.#beats;
  }

  terminate(): void {
    this.finish();
  }

  /** Ends the connection (it leaves the hub) and lets the answer go. Idempotent. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.conn.onClose();
    this.#onEnd();
  }
}

/** Most live frames of other kinds than messages and notifications a poll session keeps for its next poll. */
export const SESSION_EVENTS = 1000;

/**
 * Whether a frame is one of those a cursor cannot find again (receipts, typing, presence,
 * conversation and member events, call changes and relayed WebRTC signals): they reach a poll
 * through its session, not its cursor, so one that comes between two polls is not lost.
 */
export const isEphemeral = (data: string): boolean => /^\{"type":"(read|typing|presence|conversation|event|call|rtc)"/.test(data) && !/^\{"type":"[a-z_]+","id":/.test(data);

/**
 * The transport of a poll session (one per login session on the node): the user's presence —
 * its sign of life is the polls (`touch` on each, and while one is open); polls that stop for
 * two heartbeat intervals let the heartbeat close it, and the user goes offline — and the live
 * frames no cursor can find again (receipts, typing, presence, events), numbered and kept
 * (the newest `SESSION_EVENTS`) so that those that came between two polls reach the next.
 */
export class PresenceTransport implements Transport {
  conn!: Connection;
  /** The token the session was last seen with (`LongPoll.authenticate`). */
  token: string | undefined;
  /**
   * The sends in this session's POSTs not answered yet, as `client\0client_id` (the client's
   * name for itself, `client=`), with how many POSTs carry each: their messages are answered by
   * the POST's `ack`, so that client's polls do not wake for them (`LongPoll.poll`).
   */
  readonly sending = new Map<string, number>();
  #signs = 0;
  /** Requests of the session open now. */
  open = 0;
  /** The kept frames, oldest first, and the number of the next one. */
  readonly events: { i: number; data: string }[] = [];
  next = 1;
  /** How many messages and notifications the session has seen live (a cursor that has them all says so: `Cursor.m`). */
  moved = 0;
  /** Polls waiting for a frame. */
  readonly listeners = new Set<() => void>();
  readonly #onEnd: () => void;

  constructor(onEnd: () => void) {
    this.#onEnd = onEnd;
  }

  touch(): void {
    this.#signs++;
  }

  /** The kept frames after number `after`. */
  after(after: number): { i: number; data: string }[] {
    return this.events.filter((e) => e.i > after);
  }

  write(data: string): void {
    if (data.startsWith('{"type":"message"') || data.startsWith('{"type":"notification"')) this.moved++;
    if (!isEphemeral(data)) return;
    this.events.push({ i: this.next++, data });
    if (this.events.length > SESSION_EVENTS) this.events.shift();
    for (const l of this.listeners) l();
  }
  buffered(): number {
    return 0;
  }
  async drained(): Promise<void> {}
  sent(): number {
    return 0;
  }
  close(): void {
    this.terminate();
  }
  ping(): void {}
  received(): number {
    return this.open > 0 ? ++this.#signs : this.#signs;
  }
  terminate(): void {
    this.conn.onClose();
    this.#onEnd();
  }
}

/**
 * The transport of a Server-Sent Events stream: each frame an event whose `data:` is the frame
 * and, for those that move the cursor, whose `id:` is the cursor after it (an `EventSource`
 * resumes from it with `Last-Event-ID`). A message that comes before an older one of its
 * conversation (live frames from several nodes) ends the stream: the client reconnects from
 * its cursor and the catch-up sends both, in order.
 */
export class SseTransport implements Transport {
  conn!: Connection;
  readonly #res: ServerResponse;
  readonly #cursor: Cursor;
  #beats = 0;
  #ended = false;

  constructor(res: ServerResponse, cursor: Cursor) {
    this.#res = res;
    this.#cursor = cursor;
  }

  write(data: string): void {
    if (this.#ended) return;
    const p = place(this.#cursor, data);
    if (p === 'duplicate') return;
    if (p === 'gap') return this.close({ code: 4000, reason: 'resume' } as DisconnectReason, 'resume from the cursor');
    this.#res.write(p === 'moved' ? `id: ${encodePollCursor(this.#cursor)}\ndata: ${data}\n\n` : `data: ${data}\n\n`);
  }

  buffered(): number {
    return this.#res.writableLength;
  }

  drained(bytes: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.#ended || this.#res.writableLength <= bytes) return resolve();
        setTimeout(check, 5);
      };
      check();
    });
  }

  sent(): number {
    const s = this.#res.socket;
    return s ? s.bytesWritten - s.writableLength : 0;
  }

  /** A close is an `event: close` with `{code, reason}`, then the end of the stream. */
  close(why: DisconnectReason, reason: string): void {
    if (this.#ended) return;
    this.#res.write(`event: close\ndata: ${JSON.stringify({ code: why.code, reason })}\n\n`);
    this.#end();
  }

  /** A comment line: keeps proxies from closing an idle stream; a dead client shows as a write error or output that stops moving. */
  ping(): void {
    if (this.#ended) return;
    this.#beats++;
    this.#res.write(': ping\n\n');
  }

  received(): number {
    return this.#beats;
  }

  terminate(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#res.destroy();
  }

  #end(): void {
    this.#ended = true;
    this.#res.end();
  }

  /** The client went away (the response closed). */
  onClosed(): void {
    this.#ended = true;
  }
}
