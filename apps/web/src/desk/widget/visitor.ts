/**
 * A front-desk visitor's client (seed 002, docs/desk.md): no DOM, so the widget's frame and
 * the benchmark's simulated visitors share it (browser or Node: global `fetch`, `WebSocket`).
 *
 * - `start()`: `GET /api/state/init` — a new visitor with the widget key and a fingerprint, or
 *   the kept one with its token (a refused token: a new visitor); then `POST /api/user/track`,
 *   the connection, and the heartbeat (`GET /api/ping` every `interval` seconds).
 * - The connection: Careline's WebSocket (`/ws?token=`; chat messages are `message` frames,
 *   desk events `{type:"desk", event}`), or seed 002's long-poll `/pull` when the WebSocket
 *   cannot be opened (twice in a row without ever opening, or `transport: 'longpoll'`).
 *   Events older than the state's `version` are ignored (seed 002's rule); messages are
 *   de-duplicated by `mid`.
 * - `say(text)`: the first message opens a chat (`request_chat`), then sends `text`.
 */

export interface SeedMessage {
  cid?: string;
  mid?: string;
  type: string;
  t?: { t0: number; t1: number };
  from?: { id: string; name?: string; role?: string };
  chat?: { id: string };
  text?: string;
  event?: Record<string, unknown> & { chat?: { id: string }; position?: number; staff_id?: string; outcome?: string };
}

export interface SeedChat {
  id: string;
  chat_id?: string;
  state: 'request' | 'active' | 'closed' | string;
  staff_id?: string;
  position?: number;
  msgs?: SeedMessage[];
}

export interface PageInfo {
  url: string;
  title: string;
  referer: string;
}

export type VisitorConnection = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface VisitorHandlers {
  /** A chat message or a desk event shown in the chat (`mine`: sent by this visitor). */
  message?(m: SeedMessage, mine: boolean): void;
  /** The place in the queue (1 = next), or null when not queued. */
  queue?(position: number | null): void;
  /** A staff member took the chat. */
  claimed?(name: string, staffId: string): void;
  closed?(outcome: string): void;
  connection?(state: VisitorConnection): void;
  error?(reason: string): void;
}

export interface VisitorOptions {
  /** The Careline server (the frame's own origin in the widget). */
  baseUrl: string;
  /** The organisation's widget key (`dwk_…`). */
  key: string;
  /** Where the visitor's id and token are kept (the frame's `localStorage`); default: memory. */
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | undefined;
  page: PageInfo;
  env?: { os?: string; browser?: string };
  on?: VisitorHandlers;
  /** Start on long-polling (default: the WebSocket, falling back to long-polling). */
  transport?: 'websocket' | 'longpoll';
  /** The fingerprint (default: a random one kept in `storage`). */
  fp?: string;
  /** Long-poll hold (ms; default the server's). */
  pollTimeoutMs?: number;
  /** No heartbeat timer (a benchmark pings on its own schedule). */
  noHeartbeat?: boolean;
  fetch?: typeof fetch;
  WebSocket?: typeof WebSocket;
}

interface InitAnswer {
  code: number;
  uid: string;
  addr: string;
  track_id: string;
  token?: string;
  token_expires_at?: number;
  cid: string;
  state: { chats: SeedChat[]; version: string };
}

/** An HTTP error of the server (`{code, message}` with a status ≥ 400). */
export class DeskError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  constructor(code: string, message: string, status: number, details?: unknown) {
    super(message);
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

const randomId = (n: number) => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  let s = '';
  for (const b of bytes) s += abc[b % abc.length];
  return s;
};

export class VisitorClient {
  uid = '';
  cid = '';
  token = '';
  trackId = '';
  version = '';
  /** The visitor's current chat (open, or the last closed one). */
  chat: SeedChat | null = null;
  transport: 'websocket' | 'longpoll' | 'none' = 'none';
  onTransport: ((t: 'websocket' | 'longpoll') => void) | undefined;
  /** Figures for a benchmark: when the staff's first answer arrived, etc. */
  readonly received: SeedMessage[] = [];

  readonly #o: VisitorOptions;
  readonly #mem = new Map<string, string>();
  readonly #seen = new Set<string>();
  #msgs: SeedMessage[] = [];
  #stopped = false;
  #ws: WebSocket | null = null;
  #wsFailures = 0;
  #wsEverOpened = false;
  #pollAbort: AbortController | null = null;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #interval = 30;
  /** Staff names seen in `join_chat` events (Careline message frames carry only ids). */
  readonly #names = new Map<string, string>();

  constructor(opts: VisitorOptions) {
    this.#o = opts;
  }

  get #fetch(): typeof fetch {
    // Called unbound: a browser's fetch refuses another `this`.
    return this.#o.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  #get(k: string): string | null {
    try {
      return this.#o.storage ? this.#o.storage.getItem(k) : (this.#mem.get(k) ?? null);
    } catch {
      return this.#mem.get(k) ?? null;
    }
  }

  #set(k: string, v: string | null): void {
    try {
      if (this.#o.storage) {
        if (v === null) this.#o.storage.removeItem(k);
        else this.#o.storage.setItem(k, v);
        return;
      }
    } catch {
      // Storage blocked: memory only.
    }
    if (v === null) this.#mem.delete(k);
    else this.#mem.set(k, v);
  }

  get #prefix(): string {
    return `careline-desk:${this.#o.key.slice(0, 12)}:`;
  }

  async #call<T>(method: string, path: string, opts: { query?: Record<string, string>; body?: unknown; auth?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    const url = new URL(path, this.#o.baseUrl);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== '') url.searchParams.set(k, v);
    const headers: Record<string, string> = {};
    if (opts.auth !== false && this.token) headers['authorization'] = `Bearer ${this.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.#fetch(url, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // Not JSON: the status says what happened.
    }
    if (!res.ok) throw new DeskError(String(body['code'] ?? `http.${res.status}`), String(body['message'] ?? res.statusText), res.status, body['details']);
    return body as T;
  }

  /** State init (a new visitor if the kept token is refused), visit tracking, the connection, the heartbeat. */
  async start(): Promise<void> {
    this.#emitConn('connecting');
    let fp = this.#o.fp ?? this.#get(`${this.#prefix}fp`);
    if (!fp) {
      fp = randomId(24);
      this.#set(`${this.#prefix}fp`, fp);
    }
    this.token = this.#get(`${this.#prefix}token`) ?? '';
    this.uid = this.#get(`${this.#prefix}uid`) ?? '';
    const trackId = this.#get(`${this.#prefix}track`) ?? '';
    let init: InitAnswer | null = null;
    if (this.token && this.uid) {
      try {
        init = await this.#call<InitAnswer>('GET', '/api/state/init', { query: { uid: this.uid, fp, track_id: trackId } });
      } catch (err) {
        if (!(err instanceof DeskError) || err.status >= 500) throw err;
        init = null;
      }
    }
    if (!init) {
      this.token = '';
      init = await this.#call<InitAnswer>('GET', '/api/state/init', { query: { fp, key: this.#o.key }, auth: false });
      if (init.token) this.token = init.token;
    }
    this.uid = init.uid;
    this.cid = init.cid;
    this.trackId = init.track_id;
    this.#set(`${this.#prefix}uid`, this.uid);
    this.#set(`${this.#prefix}token`, this.token);
    this.#set(`${this.#prefix}track`, this.trackId);
    this.#applyState(init.state);
    await this.track(this.#o.page, fp);
    this.#connect();
    if (!this.#o.noHeartbeat) this.#heartbeat();
  }

  #applyState(state: InitAnswer['state']): void {
    this.version = state.version;
    const chats = [...state.chats].sort((a, b) => (a.state === 'closed' ? 1 : 0) - (b.state === 'closed' ? 1 : 0));
    this.chat = chats[0] ? { ...chats[0], id: chats[0].id ?? chats[0].chat_id ?? '' } : null;
    this.#msgs = [];
    for (const m of this.chat?.msgs ?? []) this.#remember(m);
    if (this.chat?.state === 'request') this.#o.on?.queue?.(this.chat.position ?? null);
  }

  /** The current chat's messages, oldest first. */
  history(): SeedMessage[] {
    return [...this.#msgs];
  }

  #remember(m: SeedMessage): boolean {
    const id = m.mid ?? '';
    if (id && this.#seen.has(id)) return false;
    if (id) this.#seen.add(id);
    this.#msgs.push(m);
    return true;
  }

  /** Reports the page the visitor is on (`POST /api/user/track`); staff see it at once. */
  async track(page: PageInfo, fp?: string): Promise<void> {
    const env = this.#o.env ?? {};
    const a = await this.#call<{ track_id: string }>('POST', '/api/user/track', {
      body: {
        uid: this.uid, fp: fp ?? this.#get(`${this.#prefix}fp`) ?? '', cid: this.cid,
        url: page.url.slice(0, 2000) || 'about:blank', title: page.title.slice(0, 300), referer: page.referer.slice(0, 2000),
        os: (env.os ?? '').slice(0, 200), browser: (env.browser ?? '').slice(0, 300),
      },
    });
    if (a.track_id) {
      this.trackId = a.track_id;
      this.#set(`${this.#prefix}track`, a.track_id);
    }
  }

  /** Sends `text`; the first message (or the first after a closed chat) opens a chat. */
  async say(text: string, retried = false): Promise<SeedMessage> {
    if (!this.chat || this.chat.state === 'closed') {
      const a = await this.#call<{ mid: string; chat: { id: string } }>('POST', '/api/message', {
        body: { cid: this.cid, type: 'request_chat', from: { id: this.uid, name: '', role: 'user' }, event: { uids: [this.uid] } },
      });
      this.chat = { id: a.chat.id, state: 'request', msgs: [] };
      this.#msgs = [];
      // Where the chat stands now (the queue_position event may have gone by already).
      void this.#call<{ position: number; state: string }>('GET', `/api/desk/chats/${encodeURIComponent(a.chat.id)}/position`).then(
        (p) => {
          if (this.chat?.id === a.chat.id && this.chat.state === 'request' && p.state === 'request') this.#o.on?.queue?.(p.position);
        },
        () => undefined,
      );
    }
    const body = { cid: this.cid, type: 'text', from: { id: this.uid, name: '', role: 'user' }, chat: { id: this.chat.id }, text };
    let a: { mid: string };
    try {
      a = await this.#call<{ mid: string }>('POST', '/api/message', { body });
    } catch (err) {
      // Closed by the staff a moment ago (its event still on the way): a new chat.
      if (retried || !(err instanceof DeskError) || err.code !== 'desk.chat_closed') throw err;
      this.chat.state = 'closed';
      return this.say(text, true);
    }
    const m: SeedMessage = { ...body, mid: a.mid, t: { t0: Math.floor(Date.now() / 1000), t1: Math.floor(Date.now() / 1000) } };
    this.#remember(m);
    return m;
  }

  /** Ends the visitor's chat (`abandoned` if nobody took it yet). */
  async leave(): Promise<void> {
    if (!this.chat || this.chat.state === 'closed') return;
    await this.#call('POST', `/api/desk/chats/${encodeURIComponent(this.chat.id)}/close`, { body: { outcome: this.chat.state === 'request' ? 'abandoned' : 'visitor_left' } });
    this.chat.state = 'closed';
  }

  /** One heartbeat now (`GET /api/ping`); returns the interval in seconds. */
  async ping(): Promise<number> {
    const a = await this.#call<{ interval: number }>('GET', '/api/ping', { query: { uid: this.uid, track_id: this.trackId } });
    this.#interval = Math.max(1, a.interval || 30);
    return this.#interval;
  }

  #heartbeat(): void {
    const beat = () => {
      if (this.#stopped) return;
      this.ping().then(
        () => this.#later(beat, this.#interval * 1000),
        () => this.#later(beat, 5000),
      );
    };
    beat();
  }

  #later(fn: () => void, ms: number): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #emitConn(s: VisitorConnection): void {
    this.#o.on?.connection?.(s);
  }

  #setTransport(t: 'websocket' | 'longpoll'): void {
    if (this.transport === t) return;
    this.transport = t;
    this.onTransport?.(t);
  }

  #connect(): void {
    if (this.#stopped) return;
    const WS = this.#o.WebSocket ?? (typeof WebSocket === 'undefined' ? undefined : WebSocket);
    if (this.#o.transport === 'longpoll' || !WS || (!this.#wsEverOpened && this.#wsFailures >= 2)) {
      this.#setTransport('longpoll');
      void this.#pollLoop();
      return;
    }
    const url = new URL('/ws', this.#o.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', this.token);
    let ws: WebSocket;
    try {
      ws = new WS(url.toString());
    } catch {
      // WebSockets disabled here (a policy, an old browser): long-polling from now on.
      this.#wsFailures = 2;
      this.#connect();
      return;
    }
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.#wsEverOpened = true;
      this.#wsFailures = 0;
      this.#setTransport('websocket');
      this.#emitConn('open');
      void this.#catchUp();
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data !== 'string') return;
      let f: { type?: string; message?: CarelineMessage; event?: SeedMessage };
      try {
        f = JSON.parse(e.data) as typeof f;
      } catch {
        return;
      }
      if (f.type === 'message' && f.message) this.#onItem(fromCareline(f.message, this.cid, this.#names));
      else if (f.type === 'desk' && f.event) this.#onItem(f.event);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (this.#stopped) return;
      if (!opened) this.#wsFailures++;
      this.#emitConn('reconnecting');
      this.#later(() => this.#connect(), opened ? 500 : 1000 + Math.random() * 1000);
    };
  }

  /** After a (re)connection: the chat's messages that went by while away. */
  async #catchUp(): Promise<void> {
    const id = this.chat?.id;
    if (!id) return;
    try {
      const a = await this.#call<{ chat: SeedChat }>('GET', `/api/desk/chats/${encodeURIComponent(id)}`);
      if (this.chat?.id !== id) return;
      this.chat.state = a.chat.state;
      for (const m of a.chat.msgs ?? []) this.#onItem(m);
    } catch {
      // The next event or reconnection tries again.
    }
  }

  async #pollLoop(): Promise<void> {
    let cursor = '';
    let failures = 0;
    let first = true;
    while (!this.#stopped) {
      const abort = new AbortController();
      this.#pollAbort = abort;
      try {
        const q: Record<string, string> = { uid: this.uid, track_id: this.trackId, token: this.token, cursor, version: this.version };
        if (this.#o.pollTimeoutMs !== undefined) q['timeout'] = String(this.#o.pollTimeoutMs);
        const a = await this.#call<{ data: SeedMessage[]; cursor: string; version?: string }>('GET', '/pull', { query: q, auth: false, signal: abort.signal });
        cursor = a.cursor;
        failures = 0;
        if (first) {
          first = false;
          this.#emitConn('open');
          void this.#catchUp();
        }
        for (const m of a.data) this.#onItem(m);
        // The next pull goes on from the newest item this one carried (the server's rule).
        if (a.version && a.version > this.version) this.version = a.version;
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof DeskError && (err.status === 401 || err.status === 403)) {
          this.#o.on?.error?.(err.message);
          this.#emitConn('closed');
          return;
        }
        failures++;
        this.#emitConn('reconnecting');
        if (err instanceof DeskError && err.code.includes('cursor')) cursor = '';
        await new Promise<void>((r) => this.#later(r, Math.min(10_000, 500 * 2 ** Math.min(failures, 5))));
      }
    }
  }

  /** A chat message or a desk event from the connection. */
  #onItem(m: SeedMessage): void {
    // Seed 002: events at or before the state's version are already in the state.
    if (m.mid && this.version && m.mid <= this.version && m.type !== 'text' && m.type !== 'file' && m.type !== 'image') return;
    const chatId = m.chat?.id ?? m.event?.chat?.id;
    if (chatId && this.chat && chatId !== this.chat.id && m.type !== 'request_chat') return;
    switch (m.type) {
      case 'queue_position':
      case 'request_chat':
        if (this.chat && (this.chat.state === 'request' || !this.chat.state) && typeof m.event?.position === 'number') this.#o.on?.queue?.(m.event.position);
        return;
      case 'transfer_chat':
        if (this.chat && m.event?.['to_team']) {
          this.chat.state = 'request';
        }
        return;
      case 'join_chat':
        if (m.from?.id && m.from.name) this.#names.set(m.from.id, m.from.name);
        if (!this.#remember(m)) return;
        if (this.chat) {
          this.chat.state = 'active';
          this.chat.staff_id = String(m.event?.staff_id ?? m.from?.id ?? '');
        }
        this.#o.on?.queue?.(null);
        this.#o.on?.claimed?.(m.from?.name ?? '', String(m.event?.staff_id ?? m.from?.id ?? ''));
        this.#o.on?.message?.(m, false);
        return;
      case 'close_chat':
        if (!this.#remember(m)) return;
        if (this.chat) this.chat.state = 'closed';
        this.#o.on?.queue?.(null);
        this.#o.on?.closed?.(String(m.event?.outcome ?? ''));
        return;
      default:
        if (m.type !== 'text' && m.type !== 'file' && m.type !== 'image') return;
        if (m.from?.id === this.uid) {
          this.#remember(m);
          return;
        }
        if (!this.#remember(m)) return;
        this.received.push(m);
        this.#o.on?.message?.(m, false);
    }
  }

  /** Stops the connection and the heartbeat. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#pollAbort?.abort();
    const ws = this.#ws;
    this.#ws = null;
    ws?.close();
    this.#emitConn('closed');
  }
}

interface CarelineMessage {
  id: string;
  client_id?: string | null;
  conversation_id: string;
  sender_id: string;
  type: number;
  content?: Record<string, unknown>;
  created_at: number;
  sender?: { name?: string; role?: string };
}

/** A Careline `message` frame's message in seed 002's shape (`mid` = its `client_id`). */
function fromCareline(m: CarelineMessage, cid: string, names: Map<string, string>): SeedMessage {
  const t = Math.floor(m.created_at / 1000);
  const text = typeof m.content?.['text'] === 'string' ? m.content['text'] : undefined;
  return {
    cid, mid: m.client_id ?? m.id, type: text !== undefined ? 'text' : 'other', t: { t0: t, t1: t },
    from: { id: m.sender_id, name: m.sender?.name ?? names.get(m.sender_id) ?? '', role: '' }, chat: { id: m.conversation_id },
    ...(text !== undefined ? { text } : {}),
  };
}
