/**
 * `CarelineClient`: one user's connection to a Careline server. It keeps a WebSocket open
 * (reconnecting with backoff), catches up after every (re)connect, delivers each message
 * once and in order, and sends through an outbox that survives disconnects.
 */
import { CloseCodes, shouldReconnect } from '@careline/protocol/constants';
import type {
  ClientFrame,
  ConversationHead,
  ErrorFrame,
  HelloFrame,
  Message,
  RefreshedFrame,
  ServerFrame,
  SyncDoneFrame,
  User,
} from '@careline/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { CursorStore } from './cursors.ts';
import { Emitter } from './emitter.ts';
import { CarelineError, closeError, toCarelineError } from './errors.ts';
import type { CarelineEvents, ConnectionState, SendAck, SyncedEvent } from './events.ts';
import { uuidv7 } from './ids.ts';
import { Outbox, type OutboxEntry } from './outbox.ts';
import { CarelineApi, type ConversationPage, type HistoryPage, type HistoryQuery, type UnreadCounts } from './rest.ts';
import { NotificationsApi } from './notifications.ts';
import { DevicesApi } from './devices.ts';
import { CallsApi } from './calls.ts';
import { searchMessages, type SearchPage, type SearchQuery } from './search.ts';
import { Sequencer } from './sequencer.ts';
import { TopicsApi } from './topics.ts';
import { FilesApi } from './files.ts';
import { OPEN, defaultWebSocket, webSocketUrl, type WebSocketFactory, type WebSocketLike } from './socket.ts';
import { longPollFactory } from './transport-longpoll.ts';
import { mqttFactory, mqttUrl } from './transport-mqtt.ts';
import { MemoryStorage, type CarelineStorage } from './storage.ts';

export interface CarelineClientOptions {
  /** Base URL of the server: `https://im.example.com` (a path prefix is kept). */
  url: string;
  /** The user's token, from `POST /api/v2/users/login` (called by your backend). */
  token: string;
  /**
   * Gets a new token for the same user (e.g. from your backend, which calls
   * `POST /api/v2/users/login`). Called before the current token expires — the open connection
   * then swaps it in with a `refresh` frame, without reconnecting — and when the server refuses
   * or closes a connection for an expired token (4501), before reconnecting. Return `null` to
   * give up: the client stops with `auth.token_expired`. A rejection is reported as a
   * `client.token_provider` error, and tried again with the reconnect backoff. Without it, an
   * expired token stops the client (call `setToken()` and `connect()`).
   */
  tokenProvider?: () => Promise<string | null> | string | null;
  /** WebSocket endpoint, if not `<url>/ws` with `http` → `ws`. */
  wsUrl?: string;
  /** Where the outbox and cursors persist (default: in memory). `localStorage` works. */
  storage?: CarelineStorage;
  /** Prefix of the storage keys (default `careline`). Use one per account on a shared device. */
  storageKey?: string;
  /** Reconnect backoff (full jitter): `baseMs` default 500, `maxMs` default 30 000. */
  reconnect?: BackoffOptions;
  /** Give up on a connection attempt that got no `hello` within this many ms (default 15 000). */
  connectTimeoutMs?: number;
  /** Timeout of REST requests, in ms (default 30 000). */
  requestTimeoutMs?: number;
  /** Delay before re-sending a message the server refused with a retryable error (default 2 000 ms). */
  sendRetryMs?: number;
  /** WebSocket implementation (default: the global `WebSocket`). */
  createWebSocket?: WebSocketFactory;
  /**
   * How frames travel: `'websocket'` (default), `'longpoll'` (HTTP long-polling, for networks
   * that block WebSockets) or `'mqtt'` (Node: MQTT 3.1.1 with the `mqtt` package installed;
   * see `mqttUrl`). Same API, events and guarantees.
   */
  transport?: 'websocket' | 'longpoll' | 'mqtt';
  /**
   * With `transport: 'mqtt'`: the MQTT endpoint. Default `<url>/mqtt` with `http` → `ws`
   * (MQTT over WebSocket on the HTTP port); `mqtt://host:port` for the server's TCP listener
   * (`mqtt.port`).
   */
  mqttUrl?: string;
  /**
   * With the WebSocket transport: when a WebSocket never opened but the server answers HTTP
   * (a proxy or firewall that refuses or breaks WebSockets), or there is no WebSocket at all
   * (`createWebSocket` throws), go on over long-polling. A WebSocket of `createWebSocket` that
   * fails is retried, not left (the app runs its own). Default true.
   */
  longPollFallback?: boolean;
  /** Over long-polling: how many POSTs of frames may be in flight at once (default 1; see `LongPollSocketOptions.postsInFlight`). */
  longPoll?: { postsInFlight?: number };
  /** `fetch` implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
}

/** What to send: a message type code (`MessageTypes`) and its content. */
export interface OutgoingContent {
  type: number;
  content: Record<string, unknown>;
}

export interface SendOptions {
  /** Your own idempotency key (1–64 chars); default: a random UUID. */
  clientId?: string;
}

interface Deferred<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

type SyncRequest = { kind: 'full' } | { kind: 'fill'; cursors: Record<string, number> };

const encoder = new TextEncoder();

/**
 * A Careline client for one user.
 *
 * ```ts
 * const client = new CarelineClient({ url: 'https://im.example.com', token });
 * client.on('message', (m) => render(m));
 * await client.connect();
 * const ack = await client.send(conversationId, { type: MessageTypes.TEXT, content: { text: 'Hello' } });
 * ```
 */
export class CarelineClient extends Emitter<CarelineEvents> {
  /** REST calls with this client's token. */
  readonly api: CarelineApi;
  /** The user's notification inbox (REST): list, latest per kind, unread counts, mark read. */
  readonly notifications: NotificationsApi;
  /** This install's registration and vendor push settings (seed 003). */
  readonly devices: DevicesApi;
  /** Consultation helpers: start, end, enter, lists and counts by state. */
  readonly topics: TopicsApi;
  /** Files: upload with progress, send as a message, signed links. */
  readonly files: FilesApi;
  /** Calls (signalling): invite, accept, refuse, cancel, hang up, and their events (docs/calls.md). */
  readonly calls: CallsApi;

  readonly #opts: CarelineClientOptions;
  #factory: WebSocketFactory;
  #transport: 'websocket' | 'longpoll' | 'mqtt';
  readonly #outbox: Outbox;
  readonly #cursors: CursorStore;
  readonly #ready: Promise<void>;
  #seq: Sequencer;
  #token: string;

  #state: ConnectionState = 'closed';
  /** Whether the app wants to be connected. */
  #wanted = false;
  #everOpened = false;
  #attempt = 0;
  #ws: WebSocketLike | null = null;
  #hello: HelloFrame | null = null;
  #user: User | null = null;
  /** An `error` frame that announces the close that follows (before `hello`, or `auth.token_expired` / `user.disabled` after it). */
  #preHelloError: CarelineError | null = null;
  /** Ids of the `refresh` frames not answered yet. */
  readonly #refreshes = new Set<string>();
  /** When to ask `tokenProvider` for the next token (local clock, ms), and its timer. */
  #refreshAt = 0;
  #refreshTimer: ReturnType<typeof setTimeout> | null = null;
  /** A `tokenProvider` call in progress (one at a time). */
  #renewing: Promise<string | null> | null = null;
  #counter = 0;

  #openWaiters: Deferred<void>[] = [];
  readonly #deferreds = new Map<string, Deferred<SendAck>[]>();
  /** Request id → client id, for sends on the current connection. */
  readonly #inflight = new Map<string, string>();
  readonly #syncs = new Map<string, SyncRequest>();
  #fullPending = 0;
  #fullTime = Infinity;
  #fullSent = 0;
  #fullNotifications: SyncedEvent['notifications'];
  readonly #fillFailures = new Map<string, number>();
  readonly #restFilling = new Set<string>();
  /** Conversations whose fill failed for a reason that may pass (server unavailable, network): retried after a delay. */
  readonly #fillWaiting = new Set<string>();
  /** Fill retries in a row that met such a failure (sizes the next delay). */
  #fillRetries = 0;
  #gapCheckQueued = false;
  readonly #presence = new Set<string>();
  readonly #reads = new Map<string, number>();

  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  #connectTimer: ReturnType<typeof setTimeout> | null = null;
  #idleTimer: ReturnType<typeof setTimeout> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();

  constructor(opts: CarelineClientOptions) {
    super();
    this.#opts = opts;
    this.#token = opts.token;
    this.#transport = opts.transport ?? 'websocket';
    this.#factory = this.#transport === 'longpoll' ? this.#longPoll()
      : this.#transport === 'mqtt' ? mqttFactory(opts.mqttUrl ?? mqttUrl(opts.url), opts.url, opts.fetch ? { fetch: opts.fetch } : {})
        : (opts.createWebSocket ?? defaultWebSocket);
    this.api = new CarelineApi({
      url: opts.url,
      token: () => this.#token,
      fetch: opts.fetch,
      requestTimeoutMs: opts.requestTimeoutMs,
    });
    this.notifications = new NotificationsApi(this.api);
    this.topics = new TopicsApi(this.api);
    this.files = new FilesApi({
      api: this.api, url: opts.url, token: () => this.#token, ...(opts.fetch ? { fetch: opts.fetch } : {}),
      send: (conversationId, message, o) => this.send(conversationId, message, o),
    });
    const storage = opts.storage ?? new MemoryStorage();
    const prefix = opts.storageKey ?? 'careline';
    this.devices = new DevicesApi(this.api, storage);
    this.calls = new CallsApi(this.api, {
      connectionId: () => this.#hello?.connection_id ?? null,
      send: (frame) => this.#sendFrame(frame),
    }, () => this.#user?.id ?? null);
    const onStorageError = (err: unknown) => this.emit('error', toCarelineError(err, 'client.storage'));
    this.#outbox = new Outbox(storage, `${prefix}:outbox`, onStorageError);
    this.#cursors = new CursorStore(storage, `${prefix}:sync`, onStorageError);
    this.#seq = this.#newSequencer();
    this.#ready = Promise.all([this.#outbox.load(), this.#cursors.load()]).then(() => undefined);
  }

  // ---- Public state ------------------------------------------------------------------------

  /** The connection state (see `ConnectionState`). */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The connected user, from the server's `hello` (null before the first connection). */
  get user(): User | null {
    return this.#user;
  }

  /** The id of the newest notification delivered (the catch-up cursor); `null` before any. */
  get notificationCursor(): string | null {
    return this.#cursors.notifications;
  }

  /** The last seq delivered (or sent) in a conversation; `undefined` if the client has none. */
  cursor(conversationId: string): number | undefined {
    return this.#cursors.get(conversationId);
  }

  /** Messages sent but not yet acknowledged by the server, oldest first. */
  pendingSends(): OutboxEntry[] {
    return this.#outbox.list().map((e) => ({ ...e }));
  }

  /** Resolves once the persisted outbox and cursors are loaded. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Replaces the token: for REST calls at once, for the next connection, and for the open
   * connection too (a `refresh` frame: it goes on, with the new token's expiry, without
   * reconnecting). The token must be the same user's; if the server refuses it for the open
   * connection, an `error` event says why and that connection keeps its token.
   */
  setToken(token: string): void {
    this.#token = token;
    if (this.#hello) {
      const id = this.#nextId('t');
      if (this.#sendFrame({ type: 'refresh', id, token })) this.#refreshes.add(id);
    }
  }

  // ---- Connection --------------------------------------------------------------------------

  /**
   * Connects, and keeps reconnecting until `close()` or a terminal close. Resolves once the
   * client is connected and caught up (state `open`); rejects if the server ends the session
   * for good (e.g. `auth.token_revoked`) or `close()` is called first.
   */
  connect(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    const opened = new Promise<void>((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
    if (!this.#wanted) {
      this.#wanted = true;
      this.#everOpened = false;
      this.#attempt = 0;
      this.#setState('connecting');
      void this.#ready.then(() => {
        if (this.#wanted && !this.#ws && !this.#reconnectTimer) this.#open();
      });
    }
    return opened;
  }

  /**
   * Disconnects and stops reconnecting. Pending `send` promises reject with `client.closed`,
   * but their messages stay in the outbox (and its storage): the next `connect()` — or a new
   * client on the same storage — sends them, reporting each through the `ack` event.
   */
  async close(): Promise<void> {
    this.#wanted = false;
    this.calls.stop();
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const ws = this.#ws;
    let closed: Promise<void> = Promise.resolve();
    this.#teardown();
    if (ws && ws.readyState <= OPEN) {
      // Wait (briefly) for the close handshake, so a Node process can exit right after.
      closed = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        ws.onclose = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      try {
        ws.close(1000, 'client closed');
      } catch {
        // Already closing.
      }
    }
    this.#setState('closed');
    const err = new CarelineError('client.closed', 'The client was closed.');
    this.#rejectOpenWaiters(err);
    const deferreds = [...this.#deferreds.values()].flat();
    this.#deferreds.clear();
    for (const d of deferreds) d.reject(err);
    await Promise.all([closed, this.#cursors.flush(), this.#outbox.flush()]);
  }

  /** Closes the connection, then revokes the token on the server. */
  async logout(): Promise<void> {
    await this.close();
    await this.api.logout();
  }

  /**
   * Searches the messages of the user's conversations (REST, no connection needed): those
   * containing every word of `q`, Chinese or English, newest first, with the matches
   * highlighted. Follow `next_cursor` for more. Bad input rejects with a `search.*` code.
   */
  search(query: SearchQuery): Promise<SearchPage> {
    return searchMessages(this.api, query);
  }

  // ---- Sending -----------------------------------------------------------------------------

  /**
   * Sends a message. Resolves with the server's durable acknowledgement (its id and seq).
   * While disconnected the message waits in the outbox and goes out, in order, on the next
   * connection; a dropped connection never rejects (the message is sent again with the same
   * `client_id`, and the server stores it once). Rejects with the server's error when it
   * refuses the message (e.g. `message.content_invalid`), or with `client.closed`.
   */
  send(conversationId: string, message: OutgoingContent, options: SendOptions = {}): Promise<SendAck> {
    if (typeof conversationId !== 'string' || conversationId === '') {
      return Promise.reject(new CarelineError('request.invalid', 'conversationId must be a non-empty string.'));
    }
    if (!Number.isInteger(message?.type) || !message.content || typeof message.content !== 'object' || Array.isArray(message.content)) {
      return Promise.reject(new CarelineError('request.invalid', 'A message needs an integer `type` and an object `content`.'));
    }
    const clientId = options.clientId ?? uuidv7();
    const promise = new Promise<SendAck>((resolve, reject) => {
      const list = this.#deferreds.get(clientId) ?? [];
      list.push({ resolve, reject });
      this.#deferreds.set(clientId, list);
    });
    if (!this.#outbox.has(clientId)) {
      const entry: OutboxEntry = {
        client_id: clientId,
        conversation_id: conversationId,
        type: message.type,
        content: message.content,
        queued_at: Date.now(),
        user_id: this.#user?.id ?? null,
      };
      this.#outbox.add(entry);
      if (this.#hello) this.#transmit(entry);
    }
    return promise;
  }

  /** Marks a conversation read up to `seq` (default: the newest message the client has). */
  markRead(conversationId: string, seq?: number): void {
    const upTo = seq ?? this.#cursors.get(conversationId);
    if (upTo === undefined) {
      this.api.markReadRest(conversationId).catch((err: unknown) => this.emit('error', toCarelineError(err)));
      return;
    }
    if (!this.#sendFrame({ type: 'read', id: this.#nextId('r'), conversation_id: conversationId, seq: upTo })) {
      this.#reads.set(conversationId, Math.max(upTo, this.#reads.get(conversationId) ?? 0));
    }
  }

  /** Tells the other participants the user is typing (or stopped). Returns false when offline (nothing is queued). */
  typing(conversationId: string, state: 'typing' | 'stopped' = 'typing'): boolean {
    return this.#sendFrame({ type: 'typing', conversation_id: conversationId, state });
  }

  /** Follows the online status of users (`presence` events); kept across reconnects. */
  subscribePresence(userIds: string[]): void {
    const added = userIds.filter((id) => !this.#presence.has(id));
    for (const id of added) this.#presence.add(id);
    if (this.#hello) this.#sendPresence('subscribe', added);
  }

  /** Stops following the online status of users. */
  unsubscribePresence(userIds: string[]): void {
    const removed = userIds.filter((id) => this.#presence.delete(id));
    if (this.#hello) this.#sendPresence('unsubscribe', removed);
  }

  // ---- REST shortcuts (see `api` for the rest) ---------------------------------------------

  /** One page of history, ascending by seq; see `CarelineApi.history`. */
  history(conversationId: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.api.history(conversationId, query);
  }

  /** Every message from the newest backwards, newest first; see `CarelineApi.historyBackwards`. */
  historyBackwards(conversationId: string, opts: { before?: number; pageSize?: number } = {}): AsyncGenerator<Message, void, undefined> {
    return this.api.historyBackwards(conversationId, opts);
  }

  /** Unread counts over every conversation (`GET /sessions/unread_message_count`). */
  unreadCounts(): Promise<UnreadCounts> {
    return this.api.unreadCounts();
  }

  /** One page of the user's conversations. */
  conversations(opts: { limit?: number; cursor?: string } = {}): Promise<ConversationPage> {
    return this.api.conversations(opts);
  }

  /** The application badge number. */
  badge(): Promise<number> {
    return this.api.badge();
  }

  /** Recalls one of the user's messages; returns its tombstone. */
  recall(conversationId: string, messageId: string): Promise<Message> {
    return this.api.recall(conversationId, messageId);
  }

  /** Forwards a message to other conversations; returns the new messages. */
  forward(conversationId: string, messageId: string, to: string[]): Promise<Message[]> {
    return this.api.forward(conversationId, messageId, to);
  }

  /** The transport in use: `'longpoll'` or `'mqtt'` when asked for; `'longpoll'` also after falling back from a WebSocket that could not connect. */
  get transport(): 'websocket' | 'longpoll' | 'mqtt' {
    return this.#transport;
  }

  // ---- Connection internals ----------------------------------------------------------------

  /** Switches to long-polling, if this client may (WebSocket transport, never opened, fallback not turned off). */
  #fallBack(): void {
    if (this.#transport !== 'websocket' || this.#everOpened || this.#opts.longPollFallback === false) return;
    this.#transport = 'longpoll';
    this.#factory = this.#longPoll();
    this.#attempt = 0;
  }

  #longPoll(): WebSocketFactory {
    return longPollFactory(this.#opts.url, { ...(this.#opts.fetch ? { fetch: this.#opts.fetch } : {}), ...(this.#opts.longPoll?.postsInFlight !== undefined ? { postsInFlight: this.#opts.longPoll.postsInFlight } : {}) });
  }

  #open(): void {
    const base = this.#opts.wsUrl ?? webSocketUrl(this.#opts.url);
    const url = new URL(base);
    url.searchParams.set('token', this.#token);
    url.searchParams.set('sync', '1');
    let ws: WebSocketLike;
    try {
      ws = this.#factory(url.toString());
    } catch (err) {
      this.emit('error', toCarelineError(err, 'client.network_error'));
      // No WebSocket here at all: long-polling.
      this.#fallBack();
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    this.#preHelloError = null;
    ws.onmessage = (ev) => {
      if (this.#ws === ws) this.#onData(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.#ws === ws) this.#onClose(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // A close event follows.
    };
    this.#connectTimer = setTimeout(() => this.#abandon(ws), this.#opts.connectTimeoutMs ?? 15_000);
  }

  /** Gives up on a socket that went silent: drop it without waiting for a close handshake. */
  #abandon(ws: WebSocketLike): void {
    if (this.#ws !== ws) return;
    this.#detach(ws);
    try {
      ws.close(4000, 'silent');
    } catch {
      // Ignore: it is being dropped.
    }
    this.#onClose(1006, 'timeout');
  }

  #detach(ws: WebSocketLike): void {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
  }

  #onClose(code: number, reason: string): void {
    const hadHello = this.#hello !== null;
    const early = this.#preHelloError;
    this.#preHelloError = null;
    this.#teardown();
    if (!this.#wanted) {
      this.#setState('closed');
      return;
    }
    if (code === CloseCodes.TOKEN_EXPIRED && this.#opts.tokenProvider) {
      // Not the end: get a new token, then reconnect with it.
      this.#setState(this.#everOpened ? 'reconnecting' : 'connecting');
      const err = early ? new CarelineError(early.code, early.message, { closeCode: code, details: early.details }) : closeError(code, reason);
      void this.#renew().then((token) => {
        if (!this.#wanted || this.#ws) return;
        if (token === null) return this.#terminate(err);
        this.#token = token;
        this.#scheduleReconnect();
      });
      return;
    }
    if (!shouldReconnect(code)) {
      const err = closeError(code, reason);
      this.#terminate(early ? new CarelineError(early.code, early.message, { closeCode: code, details: early.details }) : err);
      return;
    }
    if (early) this.emit('error', early);
    this.#setState(this.#everOpened ? 'reconnecting' : 'connecting');
    if (!hadHello && (code < 4000 || code > 4999)) this.#probeAuth();
    else this.#scheduleReconnect();
  }

  /**
   * A connection that failed before `hello` may have been refused for its token (an HTTP 401
   * at the upgrade looks like any network error to a WebSocket). Ask the REST API.
   */
  #probeAuth(): void {
    this.api.badge().then(
      () => {
        // HTTP works and the (runtime's own) WebSocket never did: go on over long-polling.
        if (this.#opts.createWebSocket === undefined) this.#fallBack();
        this.#scheduleReconnect();
      },
      (err: unknown) => {
        if (err instanceof CarelineError && err.status === 401 && this.#wanted && !this.#ws) this.#terminate(err);
        else this.#scheduleReconnect();
      },
    );
  }

  /**
   * Asks `tokenProvider` for a new token: the token, or `null` when it gave up. A provider that
   * fails is reported (`client.token_provider`) and asked again after a backoff delay.
   */
  #renew(): Promise<string | null> {
    const provider = this.#opts.tokenProvider;
    if (!provider) return Promise.resolve(null);
    this.#renewing ??= (async () => {
      for (;;) {
        try {
          const token = await provider();
          return typeof token === 'string' && token !== '' ? token : null;
        } catch (err) {
          this.emit('error', toCarelineError(err, 'client.token_provider'));
          if (!this.#wanted) return null;
          await new Promise((resolve) => setTimeout(resolve, backoffDelay(this.#attempt++, this.#opts.reconnect)));
          if (!this.#wanted) return null;
        }
      }
    })().finally(() => {
      this.#renewing = null;
    });
    return this.#renewing;
  }

  /**
   * Plans the next `tokenProvider` call for a token that expires at `expiresAt` (server clock,
   * read at `serverTime`): when a fifth of its remaining life is left, at most a minute before.
   */
  #planRefresh(expiresAt: number | undefined, serverTime: number): void {
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    if (!this.#opts.tokenProvider || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return;
    const remaining = expiresAt - serverTime;
    this.#refreshAt = Date.now() + remaining - Math.min(60_000, remaining / 5);
    this.#armRefresh();
  }

  #armRefresh(): void {
    // setTimeout holds at most 2^31-1 ms (~24.8 days); a longer wait is done in steps.
    const delay = Math.min(2 ** 31 - 1, Math.max(0, this.#refreshAt - Date.now()));
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      if (Date.now() < this.#refreshAt) return this.#armRefresh();
      // Swapped into the open connection, or kept for the next one.
      void this.#renew().then((token) => {
        if (token !== null && this.#wanted) this.setToken(token);
      });
    }, delay);
  }

  #onRefreshed(frame: RefreshedFrame): void {
    if (!this.#refreshes.delete(frame.id)) return;
    this.#user = frame.user;
    this.#planRefresh(frame.token_expires_at, frame.server_time);
  }

  #scheduleReconnect(): void {
    if (!this.#wanted || this.#ws || this.#reconnectTimer) return;
    const delay = backoffDelay(this.#attempt++, this.#opts.reconnect);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#wanted && !this.#ws) this.#open();
    }, delay);
  }

  #terminate(err: CarelineError): void {
    this.#wanted = false;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.emit('error', err);
    this.#setState('closed', err);
    this.#rejectOpenWaiters(err);
  }

  /** Forgets the current connection and everything scoped to it. */
  #teardown(): void {
    for (const t of [this.#connectTimer, this.#idleTimer, this.#refreshTimer]) if (t) clearTimeout(t);
    this.#refreshTimer = null;
    this.#refreshes.clear();
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    for (const t of this.#retryTimers) clearTimeout(t);
    this.#retryTimers.clear();
    this.#fillWaiting.clear();
    this.#connectTimer = this.#idleTimer = this.#pingTimer = null;
    if (this.#ws) this.#detach(this.#ws);
    this.#ws = null;
    this.#hello = null;
    this.#inflight.clear();
    this.#syncs.clear();
    this.#fullPending = 0;
  }

  #setState(state: ConnectionState, error?: CarelineError): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.emit('state', error ? { state, previous, error } : { state, previous });
  }

  #rejectOpenWaiters(err: CarelineError): void {
    const waiters = this.#openWaiters;
    this.#openWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  #opened(): void {
    this.#attempt = 0;
    this.#everOpened = true;
    this.#setState('open');
    const waiters = this.#openWaiters;
    this.#openWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #nextId(prefix: string): string {
    return `${prefix}${(++this.#counter).toString(36)}`;
  }

  #sendFrame(frame: ClientFrame): boolean {
    const ws = this.#ws;
    if (!ws || !this.#hello || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  // ---- Incoming frames ---------------------------------------------------------------------

  #onData(data: unknown): void {
    if (typeof data !== 'string') return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      this.emit('error', new CarelineError('client.invalid_response', 'The server sent a frame that is not JSON.'));
      return;
    }
    this.#touch();
    switch (frame.type) {
      case 'hello':
        return this.#onHello(frame);
      case 'message':
        return this.#onMessage(frame.message);
      case 'ack': {
        const clientId = this.#inflight.get(frame.id);
        if (clientId === undefined) return;
        this.#inflight.delete(frame.id);
        const { conversation_id, message_id, seq, created_at, duplicate } = frame;
        return this.#settle(clientId, { conversation_id, client_id: clientId, message_id, seq, created_at, duplicate });
      }
      case 'sync_done':
        return this.#onSyncDone(frame);
      case 'refreshed':
        return this.#onRefreshed(frame);
      case 'error':
        return this.#onErrorFrame(frame);
      case 'read':
        return this.emit('read', { conversation_id: frame.conversation_id, user_id: frame.user_id, seq: frame.seq });
      case 'typing':
        return this.emit('typing', { conversation_id: frame.conversation_id, user_id: frame.user_id, state: frame.state });
      case 'presence':
        return this.emit('presence', { user_id: frame.user_id, online: frame.online, last_seen: frame.last_seen });
      case 'conversation':
        // A new conversation starts at seq 0: nothing of it is history to skip.
        if (frame.event === 'created' && this.#cursors.get(frame.conversation_id) === undefined) this.#cursors.set(frame.conversation_id, 0);
        if (frame.event === 'removed') this.#seq.forget(frame.conversation_id);
        return this.emit('conversation', { event: frame.event, conversation_id: frame.conversation_id });
      case 'notification': {
        // Frames come in id order; one at or before the cursor was delivered already.
        const cursor = this.#cursors.notifications;
        if (cursor !== null && frame.notification.id <= cursor) return;
        this.#cursors.advanceNotifications(frame.notification.id);
        return this.emit('notification', frame.notification);
      }
      case 'call':
        return this.calls.onFrame(frame);
      case 'rtc':
        return this.calls.onRtc(frame);
      case 'rtc_sent':
        return;
      case 'event':
        if (frame.kind === 'S2C_DIFFERENT_CONNECTION') return this.emit('event', { kind: frame.kind, platform_class: frame.platform_class });
        if ('call' in frame) return this.emit('event', { kind: frame.kind, conversation_id: frame.conversation_id, call: frame.call, content: frame.content });
        return this.emit('event', { kind: frame.kind, conversation_id: frame.conversation_id, user_ids: frame.user_ids });
      case 'pong':
        return;
      case 'desk':
        return this.emit('desk', frame.event);
    }
  }

  /** Any frame proves the connection alive: re-arm the 2× heartbeat watchdog. */
  #touch(): void {
    const hello = this.#hello;
    const ws = this.#ws;
    if (!hello || !ws) return;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#abandon(ws), 2 * hello.heartbeat_ms);
  }

  #onHello(hello: HelloFrame): void {
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#hello = hello;
    this.#user = hello.user;
    if (this.#cursors.bindUser(hello.user.id)) this.#seq = this.#newSequencer();
    this.#outbox.claim(hello.user.id);
    this.#pingTimer = setInterval(() => this.#sendFrame({ type: 'ping' }), hello.heartbeat_ms);
    this.#planRefresh(hello.token_expires_at, hello.server_time);
    this.#touch();
    this.#fillFailures.clear();
    this.#fillRetries = 0;
    this.#startFullSync();
    this.#sendPresence('subscribe', [...this.#presence]);
    for (const [conversationId, seq] of this.#reads) {
      this.#sendFrame({ type: 'read', id: this.#nextId('r'), conversation_id: conversationId, seq });
    }
    this.#reads.clear();
    for (const entry of this.#outbox.list()) if (entry.user_id === hello.user.id) this.#transmit(entry);
  }

  /** Sends the catch-up `sync`: every cursor, and `since` from the previous full sync. */
  #startFullSync(): void {
    const since = this.#cursors.since;
    const budget = (this.#hello?.max_frame_bytes ?? 64 * 1024) - 256;
    const chunks: Record<string, number>[] = [{}];
    let size = 0;
    for (const [id, seq] of Object.entries(this.#cursors.all())) {
      const bytes = encoder.encode(JSON.stringify(id)).length + String(seq).length + 2;
      if (size + bytes > budget && size > 0) {
        chunks.push({});
        size = 0;
      }
      chunks[chunks.length - 1]![id] = seq;
      size += bytes;
    }
    this.#fullTime = Infinity;
    this.#fullSent = 0;
    this.#fullNotifications = undefined;
    // The first chunk also asks for the notifications after the cursor ("": the unread ones).
    let notificationsAfter: string | undefined = this.#cursors.notifications ?? '';
    for (const cursors of chunks) {
      const id = this.#nextId('s');
      this.#syncs.set(id, { kind: 'full' });
      this.#fullPending += 1;
      const frame: ClientFrame = since === null ? { type: 'sync', id, cursors } : { type: 'sync', id, cursors, since };
      if (notificationsAfter !== undefined) frame.notifications_after = notificationsAfter;
      notificationsAfter = undefined;
      this.#sendFrame(frame);
    }
  }

  #onSyncDone(frame: SyncDoneFrame): void {
    let key = frame.id !== undefined && this.#syncs.has(frame.id) ? frame.id : undefined;
    if (key === undefined && frame.id === undefined) key = this.#syncs.keys().next().value;
    const req = key === undefined ? undefined : this.#syncs.get(key);
    if (key === undefined || !req) return;
    this.#syncs.delete(key);
    if (req.kind === 'fill') {
      this.#fillDone(req.cursors);
      return;
    }
    this.#adoptHeads(frame.conversations);
    this.#fullPending -= 1;
    this.#fullTime = Math.min(this.#fullTime, frame.server_time);
    this.#fullSent += frame.sent;
    if (frame.notifications) {
      // Everything up to the inbox head is delivered or superseded; newer ones come live.
      this.#cursors.advanceNotifications(frame.notifications.last_id);
      this.#fullNotifications = { sent: frame.notifications.sent, unread: frame.notifications.unread };
    }
    if (this.#fullPending > 0) return;
    this.#cursors.since = this.#fullTime;
    const synced: SyncedEvent = { server_time: this.#fullTime, conversations: frame.conversations, sent: this.#fullSent };
    if (this.#fullNotifications) synced.notifications = this.#fullNotifications;
    this.emit('synced', synced);
    this.#opened();
    this.#queueGapCheck();
  }

  /**
   * Conversations the client has no cursor for after a full sync (and that the server did not
   * stream) start at their newest seq: their past is history, paged through REST on demand.
   */
  #adoptHeads(heads: ConversationHead[]): void {
    for (const head of heads) {
      if (this.#cursors.get(head.id) === undefined) this.#cursors.set(head.id, head.last_seq);
      this.#seq.expect(head.id, head.last_seq);
    }
  }

  #onErrorFrame(frame: ErrorFrame): void {
    const err = new CarelineError(frame.code, frame.message, { details: frame.details });
    if (frame.id === undefined && (!this.#hello || frame.code === 'auth.token_expired' || frame.code === 'user.disabled')) {
      // Refused at connect (bad token…), or the token expired or the user was disabled: the
      // close that follows says what to do; report once.
      this.#preHelloError = err;
      return;
    }
    if (frame.id !== undefined && this.#refreshes.delete(frame.id)) {
      // The server kept the connection on its old token; it closes at that token's expiry.
      this.emit('error', err);
      return;
    }
    if (frame.id !== undefined) {
      const clientId = this.#inflight.get(frame.id);
      if (clientId !== undefined) {
        this.#inflight.delete(frame.id);
        this.#sendFailed(clientId, frame);
        return;
      }
      const req = this.#syncs.get(frame.id);
      if (req) {
        this.#syncs.delete(frame.id);
        if (req.kind === 'fill') {
          // A server that cannot answer now has not said the messages are gone: ask again later.
          if (err.retryable) this.#retryFill(Object.keys(req.cursors));
          else this.#fillDone(req.cursors);
        } else if (--this.#fullPending === 0) this.#opened();
      }
    }
    this.emit('error', err);
  }

  // ---- Messages and acks -------------------------------------------------------------------

  #newSequencer(): Sequencer {
    return new Sequencer(this.#cursors, (m) => this.emit('message', m));
  }

  #onMessage(message: Message): void {
    const clientId = message.client_id;
    if (clientId !== null && message.sender_id === this.#user?.id && this.#outbox.has(clientId)) {
      // One of our unacknowledged sends, stored by an earlier attempt: that is its ack.
      this.#settle(clientId, {
        conversation_id: message.conversation_id,
        client_id: clientId,
        message_id: message.id,
        seq: message.seq,
        created_at: message.created_at,
        duplicate: true,
      });
      return;
    }
    this.#seq.message(message);
    if (this.#seq.hasGap(message.conversation_id)) this.#queueGapCheck();
  }

  /** A send is durably stored: resolve it, drop it from the outbox, move the cursor. */
  #settle(clientId: string, ack: SendAck): void {
    const entry = this.#outbox.remove(clientId);
    this.#seq.own(ack.conversation_id, ack.seq);
    if (this.#seq.hasGap(ack.conversation_id)) this.#queueGapCheck();
    if (!entry) return;
    const deferreds = this.#deferreds.get(clientId) ?? [];
    this.#deferreds.delete(clientId);
    for (const d of deferreds) d.resolve(ack);
    this.emit('ack', ack);
  }

  #transmit(entry: OutboxEntry): void {
    const id = this.#nextId('m');
    const frame: ClientFrame = {
      type: 'send',
      id,
      conversation_id: entry.conversation_id,
      message: { client_id: entry.client_id, type: entry.type, content: entry.content },
    };
    const json = JSON.stringify(frame);
    const max = this.#hello?.max_frame_bytes;
    if (max !== undefined && encoder.encode(json).length > max) {
      // Sending it would only get the connection closed (1009), again and again.
      this.#fail(entry.client_id, new CarelineError('message.content_too_large', `The message is larger than the server's frame limit (${max} bytes).`));
      return;
    }
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN) return;
    try {
      ws.send(json);
      this.#inflight.set(id, entry.client_id);
    } catch {
      // The socket is closing; the entry stays in the outbox for the next connection.
    }
  }

  #sendFailed(clientId: string, frame: ErrorFrame): void {
    const entry = this.#outbox.get(clientId);
    if (!entry) return;
    const err = new CarelineError(frame.code, frame.message, {
      details: frame.details,
      clientId,
      conversationId: entry.conversation_id,
    });
    if (!err.retryable) {
      this.#fail(clientId, err);
      return;
    }
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (this.#outbox.has(clientId) && this.#hello) this.#transmit(entry);
    }, this.#opts.sendRetryMs ?? 2000);
    this.#retryTimers.add(timer);
  }

  /** A send the server refused for good: drop it and reject it (or report it, if restored from storage). */
  #fail(clientId: string, err: CarelineError): void {
    this.#outbox.remove(clientId);
    const deferreds = this.#deferreds.get(clientId) ?? [];
    this.#deferreds.delete(clientId);
    if (deferreds.length === 0) this.emit('error', err);
    for (const d of deferreds) d.reject(err);
  }

  #sendPresence(op: 'subscribe' | 'unsubscribe', ids: string[]): void {
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      this.#sendFrame(op === 'subscribe' ? { type: 'presence', id: this.#nextId('p'), subscribe: chunk } : { type: 'presence', id: this.#nextId('p'), unsubscribe: chunk });
    }
  }

  // ---- Gaps --------------------------------------------------------------------------------

  #queueGapCheck(): void {
    if (this.#gapCheckQueued) return;
    this.#gapCheckQueued = true;
    queueMicrotask(() => {
      this.#gapCheckQueued = false;
      this.#checkGaps();
    });
  }

  /**
   * Fetches what is missing before held messages: first by a `sync` frame with the
   * conversation's cursor; if that brings nothing, through REST history; if that brings
   * nothing either, the gap is skipped and reported (`client.gap_skipped`) so delivery goes on.
   * Only an answer counts: a fill the server could not serve (`server.unavailable`, rate
   * limited, network) is tried again after a growing delay, never skipped for it.
   */
  #checkGaps(): void {
    if (!this.#hello || this.#fullPending > 0) return;
    const busy = new Set([...this.#restFilling, ...this.#fillWaiting]);
    for (const req of this.#syncs.values()) if (req.kind === 'fill') for (const id of Object.keys(req.cursors)) busy.add(id);
    const cursors: Record<string, number> = {};
    for (const id of this.#seq.gaps()) {
      if (busy.has(id)) continue;
      const failures = this.#fillFailures.get(id) ?? 0;
      if (failures === 0) cursors[id] = this.#cursors.get(id) ?? 0;
      else if (failures === 1) void this.#restFill(id);
      else this.#skipGap(id);
    }
    if (Object.keys(cursors).length === 0) return;
    const id = this.#nextId('f');
    this.#syncs.set(id, { kind: 'fill', cursors });
    if (!this.#sendFrame({ type: 'sync', id, cursors })) this.#syncs.delete(id);
  }

  #fillDone(before: Record<string, number>): void {
    for (const [id, cursor] of Object.entries(before)) this.#afterFill(id, cursor);
    this.#queueGapCheck();
  }

  #afterFill(conversationId: string, before: number): void {
    const progressed = (this.#cursors.get(conversationId) ?? 0) > before;
    if (progressed) this.#fillRetries = 0;
    if (!this.#seq.hasGap(conversationId)) {
      this.#fillFailures.delete(conversationId);
      return;
    }
    this.#fillFailures.set(conversationId, progressed ? 0 : (this.#fillFailures.get(conversationId) ?? 0) + 1);
  }

  async #restFill(conversationId: string): Promise<void> {
    this.#restFilling.add(conversationId);
    const before = this.#cursors.get(conversationId) ?? 0;
    let retry = false;
    try {
      const target = this.#seq.target(conversationId);
      let after = before;
      while (after < target) {
        const page = await this.api.history(conversationId, { after, limit: Math.min(200, target - after) });
        for (const m of [...page.messages].sort((a, b) => a.seq - b.seq)) this.#onMessage(m);
        const last = page.messages.reduce((max, m) => Math.max(max, m.seq), after);
        if (!page.has_more || last <= after) break;
        after = last;
      }
    } catch (err) {
      const e = toCarelineError(err);
      retry = e.retryable;
      this.emit('error', e);
    } finally {
      this.#restFilling.delete(conversationId);
      if (retry) this.#retryFill([conversationId]);
      else {
        this.#afterFill(conversationId, before);
        this.#queueGapCheck();
      }
    }
  }

  /** Tries the fills of these conversations again after a delay (backoff with jitter, as reconnects). */
  #retryFill(conversationIds: string[]): void {
    for (const id of conversationIds) this.#fillWaiting.add(id);
    const delay = 250 + backoffDelay(this.#fillRetries++, this.#opts.reconnect);
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      for (const id of conversationIds) this.#fillWaiting.delete(id);
      this.#queueGapCheck();
    }, delay);
    this.#retryTimers.add(timer);
  }

  #skipGap(conversationId: string): void {
    this.#fillFailures.delete(conversationId);
    const range = this.#seq.skip(conversationId);
    if (!range || range.to < range.from) return;
    this.emit(
      'error',
      new CarelineError('client.gap_skipped', `Messages ${range.from}–${range.to} of conversation ${conversationId} could not be fetched and were skipped.`, {
        details: { conversation_id: conversationId, ...range },
        conversationId,
      }),
    );
  }
}
