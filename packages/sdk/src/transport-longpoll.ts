/**
 * Careline's long-poll transport, seen by the client as a WebSocket (`WebSocketLike`): the same
 * frames both ways, carried by HTTP (docs/transports.md). Frames the client sends go out in
 * `POST /api/v2/poll/send` (the answer brings their answers — a send's `ack` after commit): up
 * to `postsInFlight` POSTs at once (default one), numbered (`n=`, with `from=`, the oldest not
 * answered yet), so that the server handles their frames in the order sent. A `sync` frame becomes polls from its cursors, answered by the catch-up
 * and `sync_done` (with the sync's id). After the first sync, `GET /api/v2/poll` runs in a
 * loop from the cursor of the previous answer: any node can answer it, and a poll lost with
 * its node is asked again, from the same cursor, of another. Every request names the socket
 * (`client=`, random): the server then answers a message this socket sends by the POST's `ack`
 * alone, not by waking its poll too.
 */
import { MAX_POSTS_IN_FLIGHT } from '@careline/protocol';
import type { SocketCloseEvent, SocketMessageEvent, WebSocketFactory, WebSocketLike } from './socket.ts';

/** The cursor of the long-poll transport: per conversation the last seq, the last `sync_done` time, the newest notification. */
interface PollCursor {
  c: Record<string, number>;
  s?: number;
  n?: string;
  /** The poll session on the node and its last frame the client has (receipts, typing… between polls); only the live loop moves them. */
  k?: string;
  e?: number;
  /** The server's sign that the cursor has all that session saw (its next poll may skip the catch-up). */
  m?: number;
}

interface PollAnswer {
  frames: { type: string; id?: string; [k: string]: unknown }[];
  cursor: string;
  close?: { code: number; reason: string };
}

interface SyncFrame {
  type: 'sync';
  id?: string;
  cursors: Record<string, number>;
  since?: number;
  notifications_after?: string;
}

/** How a refused request is closed, by its error code (the WebSocket's close codes). */
const refusedWith: Record<string, number> = {
  'auth.token_expired': 4501,
  'auth.token_revoked': 4502,
  'user.disabled': 4504,
  'request.rate_limited': 1013,
  'connection.too_many': 4005,
};

function decodeCursor(token: string): PollCursor {
  const b64 = token.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0)))) as PollCursor;
}

function encodeCursor(c: PollCursor): string {
  const bytes = new TextEncoder().encode(JSON.stringify(c));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** `into` moved to at least `from`. */
function merge(into: PollCursor, from: PollCursor): void {
  for (const [k, v] of Object.entries(from.c)) if ((into.c[k] ?? -1) < v) into.c[k] = v;
  if (from.s !== undefined && (into.s === undefined || from.s > into.s)) into.s = from.s;
  if (from.n !== undefined && (into.n === undefined || from.n > into.n)) into.n = from.n;
}

class HttpError extends Error {
  readonly status: number;
  readonly body: { code?: string; message?: string; details?: unknown };
  constructor(status: number, body: { code?: string; message?: string; details?: unknown }) {
    super(body.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export interface LongPollSocketOptions {
  /** The server's HTTP base URL (`https://host/prefix`). */
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  /** How long a poll may be held by the server (ms; default the server's `longpoll.timeoutMs`). */
  pollTimeoutMs?: number;
  /**
   * How many POSTs of frames may be in flight at once (default 1: the next POST, carrying every
   * frame queued meanwhile, goes when the previous one is answered). More lets a message go
   * without waiting for the answer to the one before it — for links with a long round trip;
   * on a busy server each POST costs its main thread more than a frame added to a POST does
   * (docs/transports.md). At most 4 keeps a browser within its six connections per host.
   */
  postsInFlight?: number;
}

export class LongPollSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: SocketMessageEvent) => void) | null = null;
  onclose: ((event: SocketCloseEvent) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly #base: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #pollTimeoutMs: number | undefined;
  readonly #abort = new AbortController();
  /** This socket's name on its requests (`client=`). */
  readonly #client = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 12)}`;
  /** Frames waiting for a POST to carry them. */
  #outbox: unknown[] = [];
  readonly #postsInFlight: number;
  /** The number of the next POST, and those sent and not answered yet. */
  #nextPost = 1;
  readonly #posting = new Set<number>();
  #syncs: SyncFrame[] = [];
  #syncing = false;
  /** Frames of the live loop that came while a catch-up ran: delivered after it, minus what it sent. */
  #held: PollAnswer['frames'] | null = null;
  /** Where the live loop polls from; set by the first sync. */
  #cursor: PollCursor | null = null;
  #looping = false;
  /** The poll session of the first poll, where the live loop starts. */
  #session: { k: string; e: number } | null = null;
  /**
   * Per `client_id` of a send in a POST not answered yet, the live frames of that message that
   * came meanwhile (from the poll, another connection of the user): held until the POST's
   * answer, then dropped if it carried the ack — as a WebSocket's own connection gets the ack
   * and not the message.
   */
  readonly #inflight = new Map<string, PollAnswer['frames']>();

  constructor(o: LongPollSocketOptions) {
    this.#base = o.baseUrl.replace(/\/+$/, '');
    this.#token = o.token;
    this.#fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.#pollTimeoutMs = o.pollTimeoutMs;
    this.#postsInFlight = Math.max(1, Math.min(MAX_POSTS_IN_FLIGHT, Math.floor(o.postsInFlight ?? 1)));
    setTimeout(() => void this.#start(), 0);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('The long-poll connection is not open.');
    const frame = JSON.parse(data) as { type?: string };
    if (frame.type === 'sync') {
      this.#syncs.push(frame as SyncFrame);
      void this.#runSyncs();
      return;
    }
    this.#outbox.push(frame);
    void this.#post();
  }

  close(code = 1000, reason = ''): void {
    this.#end(code, reason);
  }

  async #request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<PollAnswer> {
    const res = await this.#fetch(this.#base + path, {
      method,
      headers: { authorization: `Bearer ${this.#token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: this.#abort.signal,
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = {};
    }
    if (!res.ok) throw new HttpError(res.status, json as HttpError['body']);
    return json as PollAnswer;
  }

  #query(q: Record<string, string | number | undefined>): string {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
    p.set('client', this.#client);
    return `/api/v2/poll?${p}`;
  }

  /** The first poll: `hello` (the connection is open), or the refusal as the WebSocket would say it. */
  async #start(): Promise<void> {
    if (this.readyState !== 0) return;
    try {
      const a = await this.#request('GET', this.#query({ hello: 1, timeout: 0, notifications: 0 }));
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen?.({});
      for (const f of a.frames) if (f.type === 'hello') this.#deliver(f);
      const { k, e } = decodeCursor(a.cursor);
      this.#session = k !== undefined && e !== undefined ? { k, e } : null;
      if (a.close) this.#end(a.close.code, a.close.reason);
    } catch (err) {
      this.#failed(err);
    }
  }

  /** A request failed: an HTTP refusal becomes the error frame and close of a refused WebSocket; anything else a dropped one. */
  #failed(err: unknown): void {
    if (this.readyState === 3) return;
    if (err instanceof HttpError && err.body.code && err.status < 500) {
      const code = err.body.code;
      const wasOpen = this.readyState === 1;
      if (this.readyState === 0) {
        this.readyState = 1;
        this.onopen?.({});
      }
      // A token revoked while connected is said by the close alone (4502), as the WebSocket says it.
      if (!(code === 'auth.token_revoked' && wasOpen)) {
        this.#deliver({ type: 'error', code, message: err.body.message ?? code, ...(err.body.details !== undefined ? { details: err.body.details } : {}) });
      }
      return this.#end(refusedWith[code] ?? (code.startsWith('auth.') ? 4500 : 1011), code);
    }
    this.onerror?.(err);
    this.#end(1006, 'network error');
  }

  #deliver(frame: unknown): void {
    if (this.readyState !== 1) return;
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** Sends the queued frames in one POST, if fewer than `postsInFlight` are in flight (the server handles them in the order of their numbers). */
  async #post(): Promise<void> {
    if (this.#posting.size >= this.#postsInFlight || this.#outbox.length === 0 || this.readyState !== 1) return;
    const n = this.#nextPost++;
    this.#posting.add(n);
    let from = n;
    for (const k of this.#posting) if (k < from) from = k;
    const frames = this.#outbox.splice(0, 100);
    const sends = new Map<string, string>();
    for (const f of frames as { type?: string; id?: string; message?: { client_id?: string } }[]) {
      const cid = f.message?.client_id;
      if (f.type === 'send' && typeof f.id === 'string' && typeof cid === 'string') {
        sends.set(f.id, cid);
        this.#inflight.set(cid, []);
      }
    }
    try {
      const a = await this.#request('POST', `/api/v2/poll/send?client=${this.#client}&n=${n}&from=${from}`, frames);
      const acked = new Set<string>();
      for (const f of a.frames) {
        if (f.type === 'ack' && typeof f.id === 'string' && sends.has(f.id)) acked.add(sends.get(f.id)!);
        this.#deliver(f);
      }
      for (const cid of sends.values()) {
        const held = this.#inflight.get(cid) ?? [];
        this.#inflight.delete(cid);
        if (!acked.has(cid)) for (const f of held) this.#live(f);
      }
      if (a.close) return this.#end(a.close.code, a.close.reason);
    } catch (err) {
      return this.#failed(err);
    } finally {
      this.#posting.delete(n);
    }
    void this.#post();
  }

  /** A frame of the live loop: held during a catch-up or while its message's send is in a POST, delivered otherwise. */
  #live(f: PollAnswer['frames'][number]): void {
    if (f.type === 'message') {
      const cid = (f['message'] as { client_id?: string | null }).client_id;
      const held = typeof cid === 'string' ? this.#inflight.get(cid) : undefined;
      if (held) return void held.push(f);
    }
    if (this.#held) this.#held.push(f);
    else this.#deliver(f);
  }

  /** Runs the client's catch-ups one after another; live frames wait meanwhile. */
  async #runSyncs(): Promise<void> {
    if (this.#syncing) return;
    this.#syncing = true;
    this.#held ??= [];
    try {
      while (this.#syncs.length > 0 && this.readyState === 1) {
        const sync = this.#syncs.shift()!;
        const got = await this.#sync(sync);
        if (!got) return;
        if (this.#cursor) merge(this.#cursor, got);
        else this.#cursor = { ...got, ...(this.#session ?? {}) };
      }
    } catch (err) {
      return this.#failed(err);
    } finally {
      this.#syncing = false;
    }
    this.#release();
    this.#loop();
  }

  /** One `sync`: polls from its cursors until `sync_done` (a long catch-up comes in several answers). */
  async #sync(sync: SyncFrame): Promise<PollCursor | null> {
    let q: Record<string, string | number | undefined> = {
      cursors: JSON.stringify(sync.cursors), since: sync.since, notifications_after: sync.notifications_after,
      notifications: sync.notifications_after === undefined ? 0 : undefined, timeout: 0,
    };
    let sent = 0;
    for (;;) {
      const a = await this.#request('GET', this.#query(q));
      if (this.readyState !== 1) return null;
      for (const f of a.frames) {
        if (f.type === 'sync_done') {
          sent += f['sent'] as number;
          const { id: _, ...rest } = f;
          this.#deliver({ ...rest, ...(sync.id !== undefined ? { id: sync.id } : {}), sent });
        } else if (f.type !== 'hello') {
          this.#deliver(f);
        }
      }
      if (a.close) {
        this.#end(a.close.code, a.close.reason);
        return null;
      }
      const cursor = decodeCursor(a.cursor);
      if (a.frames.some((f) => f.type === 'sync_done')) return cursor;
      sent += a.frames.filter((f) => f.type === 'message').length;
      q = { cursor: a.cursor, notifications: sync.notifications_after === undefined ? 0 : undefined, timeout: 0 };
    }
  }

  /** Delivers the live frames that came during a catch-up, minus the messages it sent. */
  #release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    const cur = this.#cursor;
    for (const f of held) {
      if (f.type === 'message' && cur) {
        const m = f['message'] as { conversation_id: string; seq: number };
        if ((cur.c[m.conversation_id] ?? -1) >= m.seq) continue;
      }
      this.#deliver(f);
    }
  }

  /** The live loop: polls from the cursor, again and again, while open. */
  #loop(): void {
    if (this.#looping || !this.#cursor) return;
    this.#looping = true;
    void (async () => {
      try {
        while (this.readyState === 1) {
          const a = await this.#request('GET', this.#query({ cursor: encodeCursor(this.#cursor!), timeout: this.#pollTimeoutMs, notifications: this.#cursor!.n === undefined ? 0 : undefined }));
          if (this.readyState !== 1) return;
          for (const f of a.frames) {
            if (f.type === 'sync_done' || f.type === 'hello') continue;
            this.#live(f);
          }
          const next = decodeCursor(a.cursor);
          merge(this.#cursor!, next);
          this.#cursor!.k = next.k;
          this.#cursor!.e = next.e;
          this.#cursor!.m = next.m;
          if (a.close) return this.#end(a.close.code, a.close.reason);
        }
      } catch (err) {
        this.#failed(err);
      } finally {
        this.#looping = false;
      }
    })();
  }

  #end(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#abort.abort();
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

/** The WebSocket URL the client made (with its `token`) → a long-poll socket on the HTTP server `baseUrl`. */
export function longPollFactory(baseUrl: string, opts: { fetch?: typeof fetch; pollTimeoutMs?: number; postsInFlight?: number } = {}): WebSocketFactory {
  return (url) => {
    const token = new URL(url).searchParams.get('token') ?? '';
    return new LongPollSocket({ baseUrl, token, ...opts });
  };
}
