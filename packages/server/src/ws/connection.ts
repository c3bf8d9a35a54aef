/**
 * One client connection: parses and validates frames, calls the core, writes frames back.
 * Knows nothing of HTTP; the WebSocket server hands it a `Transport`.
 *
 * Ordering: a connection's sends are checked and queued for commit in the order they
 * arrived. While a catch-up (`sync`) runs, live frames are held and released after it,
 * minus the messages the catch-up already sent, so each message reaches the client once and
 * in order. The same holds for notifications when the sync asks for them (`notifications_after`).
 *
 * A catch-up can also read a commit of the writer thread whose live frame is not out yet:
 * until the live frames of a conversation pass what a catch-up sent, those it already sent
 * are dropped. And a catch-up skips what this connection already sent live (a sync that
 * arrives after live frames started to flow: without `sync=1`, or after the hold gave up
 * waiting for it — a slow client, or a server too loaded to read the sync in time).
 */
import { ClientFrames, CloseCodes, type ClientFrame, type ErrorCode, type ServerFrame } from '@careline/protocol';
import { Compile } from 'typebox/compile';
import type { Core } from '../core.ts';
import type { Principal } from '../domain/types.ts';
import { isAppError, fail, type AppError } from '../domain/errors.ts';
import { planSync, readRange } from '../domain/sync.ts';
import { readInboxAfter } from '../domain/notifications.ts';
import type { Metrics } from '../ops/metrics.ts';
import { messageFrame } from './frames.ts';

export interface Transport {
  /** Queues a text frame. */
  write(data: string): void;
  /** Bytes queued and not yet sent. */
  buffered(): number;
  /** Resolves when the output buffer has drained below `bytes` (or the transport closed). */
  drained(bytes: number): Promise<void>;
  /** Bytes handed to the network so far: the heartbeat compares them between beats to see output stall. */
  sent(): number;
  close(code: number, reason: string): void;
  /** Sends a protocol-level ping (the client's pong counts as a sign of life). */
  ping(): void;
  /** Bytes received so far, of any kind (frames, pongs): the heartbeat compares them between beats. */
  received(): number;
  /** Drops the connection at once, with no close handshake. */
  terminate(): void;
}

const validators = Object.fromEntries(Object.entries(ClientFrames).map(([k, s]) => [k, Compile(s)])) as Record<string, ReturnType<typeof Compile>>;

interface Held {
  data: string;
  conversation?: string;
  seq?: number;
  /** A notification frame: its id. */
  notification?: string;
}

/** What every connection of an endpoint shares: one object per endpoint, not per connection. */
export interface ConnectionContext {
  core: Core;
  metrics: Metrics;
  maxBufferedBytes: number;
  syncBufferFrames: number;
  syncPageSize: number;
  /** Largest message content (bytes): sizes the first page of a catch-up. */
  maxContentBytes: number;
  /** Most users one connection may watch the presence of. */
  maxPresenceWatches: number;
  /** How long `sync=1` holds live frames for a client that has not sent its first sync. */
  syncHoldMs: number;
  onPresenceSubscribe: (conn: Connection, userIds: string[], on: boolean) => void;
  log: (obj: object, msg: string) => void;
  /** The connection took a new token (`refresh`): its `expiresAt` changed. */
  onRefreshed?: (conn: Connection) => void;
}

/** What is particular to one connection. */
export interface ConnectionInit {
  id: string;
  principal: Principal & { kind: 'user' };
  transport: Transport;
  /** Hold live frames until the first `sync` (the client connected with `sync=1`). */
  holdUntilSync: boolean;
  /** The class of the login session's platform (mobile, web, desktop, …), for the "connected elsewhere" policy. */
  platformClass?: string;
  /** When the token expires (ms); the endpoint closes the connection then (4501). Default: never. */
  expiresAt?: number;
}

const settled: Promise<unknown> = Promise.resolve();

/**
 * Most catch-ups queued or running on one connection. They run one at a time (each holds a
 * page of messages while it waits for the socket); the SDK sends one per ~1,600 cursors, plus
 * gap fills.
 */
export const MAX_PENDING_SYNCS = 32;

export class Connection {
  readonly id: string;
  /** Who the connection acts for; replaced (same tenant and user) when a `refresh` frame brings a new token. */
  principal: Principal & { kind: 'user' };
  readonly platformClass: string;
  /** When the connection's token expires (ms): the endpoint closes it then with 4501, unless a `refresh` moved it. */
  expiresAt: number;
  /** The users whose presence this connection watches (made on the first subscription). */
  presence: Set<string> | undefined;
  readonly #o: ConnectionContext;
  readonly #transport: Transport;
  #held: Held[] | null;
  /** Characters of the held frames: with the output buffer, what the connection keeps for the client. */
  #heldBytes = 0;
  /** Catch-ups queued or running. */
  #syncing = 0;
  /** Catch-ups run one after another, in the order asked. */
  #syncChain: Promise<unknown> = settled;
  /** Per conversation, the newest seq the client has from a catch-up: live frames up to it are dropped (made by the first sync). */
  #covered: Map<string, number> | undefined;
  /** Per conversation, the seqs [first, last] written live, in a row, before the first catch-up: it does not send them again. */
  #live: Map<string, [number, number]> | undefined;
  /** Live frames are tracked until the first catch-up ends; after it the client's cursors say what it has, and a sync sends what it asks for. */
  #trackLive = true;
  /** The newest notification id a catch-up read (live notification frames up to it are dropped). */
  #notificationsCovered: string | undefined;
  /** The first and last notification ids written live (they come in id order): a catch-up does not send them again. */
  #liveNotifications: [string, string] | undefined;
  #sendChain: Promise<unknown> = settled;
  #closed = false;
  #holdTimer: NodeJS.Timeout | undefined;
  /** Bytes received at the previous heartbeat, and the heartbeats since anything came in. */
  #receivedAtBeat = 0;
  #silentBeats = 0;
  /** Bytes sent at the last heartbeat that saw output go out (or none waiting), and when that was. */
  #sentAtBeat = 0;
  #flowingAt = Date.now();

  constructor(ctx: ConnectionContext, init: ConnectionInit) {
    this.#o = ctx;
    this.#transport = init.transport;
    this.id = init.id;
    this.principal = init.principal;
    this.platformClass = init.platformClass ?? 'unknown';
    this.expiresAt = init.expiresAt ?? Infinity;
    this.#held = init.holdUntilSync ? [] : null;
    if (init.holdUntilSync) {
      // A client that promised a sync and never sends one still gets its live frames.
      this.#holdTimer = setTimeout(() => this.#holdRanOut(), ctx.syncHoldMs);
      this.#holdTimer.unref();
    }
  }

  /** The client promised a sync (`sync=1`) and has not sent it: its live frames flow from now on (the late sync leaves out what went out meanwhile). */
  #holdRanOut(): void {
    this.#holdTimer = undefined;
    if (this.#syncing > 0 || this.#held === null) return;
    this.#release();
  }

  #stopHoldTimer(): void {
    if (this.#holdTimer === undefined) return;
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes written to this connection and not sent yet. */
  buffered(): number {
    return this.#transport.buffered();
  }

  /** Writes a frame now, or closes the connection if the client is not reading. */
  write(data: string): void {
    if (this.#closed) return;
    if (this.#transport.buffered() > this.#o.maxBufferedBytes) {
      this.close(CloseCodes.SLOW_CONSUMER, 'slow consumer');
      return;
    }
    this.#transport.write(data);
    this.#o.metrics.framesOut++;
  }

  /** A live frame from the bus: held during catch-up, written otherwise. */
  deliver(data: string, conversation?: string, seq?: number): void {
    if (this.#closed) return;
    if (this.#held) {
      if (this.#holdFull(data)) return;
      this.#held.push({ data, conversation, seq });
      return;
    }
    if (seq !== undefined) {
      if (this.#covered !== undefined && this.#caughtUp(conversation!, seq)) return;
      this.#wroteLive(conversation!, seq);
    }
    this.write(data);
  }

  /**
   * Whether holding `data` too would pass the hold's bounds (`syncBufferFrames` frames, or
   * `maxBufferedBytes` characters): then the connection is closed with 4003 and the held
   * frames dropped.
   */
  #holdFull(data: string): boolean {
    this.#heldBytes += data.length;
    if (this.#held!.length < this.#o.syncBufferFrames && this.#heldBytes <= this.#o.maxBufferedBytes) return false;
    this.close(CloseCodes.SYNC_OVERFLOW, 'too much traffic during catch-up; reconnect');
    return true;
  }

  #wroteLive(conversation: string, seq: number): void {
    if (!this.#trackLive) return;
    const live = (this.#live ??= new Map());
    const run = live.get(conversation);
    if (run && seq === run[1] + 1) run[1] = seq;
    else live.set(conversation, [seq, seq]);
  }

  #sentLive(conversation: string, seq: number): boolean {
    const run = this.#live?.get(conversation);
    return run !== undefined && seq >= run[0] && seq <= run[1];
  }

  /** Whether a catch-up already sent message `seq` of `conversation`; forgets the conversation once live frames pass it. */
  #caughtUp(conversation: string, seq: number): boolean {
    const upTo = this.#covered?.get(conversation);
    if (upTo === undefined) return false;
    if (seq <= upTo) return true;
    this.#covered!.delete(conversation);
    return false;
  }

  /** Whether a catch-up already sent notification `id`; forgets it once live frames pass it. */
  #notificationCaughtUp(id: string): boolean {
    if (this.#notificationsCovered === undefined) return false;
    if (id <= this.#notificationsCovered) return true;
    this.#notificationsCovered = undefined;
    return false;
  }

  #wroteLiveNotification(id: string): void {
    if (!this.#trackLive) return;
    if (this.#liveNotifications) this.#liveNotifications[1] = id;
    else this.#liveNotifications = [id, id];
  }

  #sentLiveNotification(id: string): boolean {
    const run = this.#liveNotifications;
    return run !== undefined && id >= run[0] && id <= run[1];
  }

  /** A live notification frame: held during catch-up (and dropped on release if the catch-up sent it), written otherwise. */
  deliverNotification(data: string, id: string): void {
    if (this.#closed) return;
    if (this.#held) {
      if (this.#holdFull(data)) return;
      this.#held.push({ data, notification: id });
      return;
    }
    if (this.#notificationCaughtUp(id)) return;
    this.#wroteLiveNotification(id);
    this.write(data);
  }

  send(frame: ServerFrame): void {
    this.write(JSON.stringify(frame));
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopHoldTimer();
    this.#held = null;
    this.#heldBytes = 0;
    this.#o.metrics.wsClosed.inc({ code: String(code) });
    this.#transport.close(code, reason);
  }

  ping(): void {
    if (!this.#closed) this.#transport.ping();
  }

  /**
   * One heartbeat: how many heartbeats in a row (this one included) found nothing received
   * from the client — no frame, no pong — since the one before. 0 when something came in.
   */
  silentBeats(): number {
    const received = this.#transport.received();
    if (received !== this.#receivedAtBeat) {
      this.#receivedAtBeat = received;
      this.#silentBeats = 0;
    } else {
      this.#silentBeats++;
    }
    return this.#silentBeats;
  }

  /**
   * One heartbeat's look at the output: for how long (ms) unsent output has waited with
   * nothing of it going out — the client stopped reading. 0 while output flows or none waits.
   */
  stalledFor(now: number): number {
    const sent = this.#transport.sent();
    if (sent !== this.#sentAtBeat || this.#transport.buffered() === 0) {
      this.#sentAtBeat = sent;
      this.#flowingAt = now;
      return 0;
    }
    return now - this.#flowingAt;
  }

  /** Cuts the connection with no close handshake (as a network failure would). */
  terminate(): void {
    this.dispose();
    this.#transport.terminate();
  }

  /** Marks the connection gone (the transport closed on its own). */
  dispose(): void {
    this.#closed = true;
    this.#stopHoldTimer();
    this.#held = null;
    this.#heldBytes = 0;
  }

  #error(id: string | undefined, e: AppError): void {
    this.#o.metrics.errors.inc({ code: e.code });
    const body = e.toBody();
    this.send({ type: 'error', ...(id !== undefined ? { id } : {}), ...body });
  }

  #fail(id: string | undefined, code: ErrorCode, message?: string, details?: unknown): void {
    this.#error(id, fail(code, message, details));
  }

  /** Entry point for every incoming frame. Never throws. */
  onFrame(raw: string | Buffer, isBinary: boolean): void {
    if (isBinary) return this.#fail(undefined, 'frame.binary_unsupported');
    let frame: unknown;
    try {
      frame = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
    } catch {
      return this.#fail(undefined, 'frame.invalid_json');
    }
    const f = frame as { type?: unknown; id?: unknown };
    const id = typeof f?.id === 'string' ? f.id : undefined;
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof f.type !== 'string') {
      return this.#fail(id, 'frame.invalid', 'A frame is a JSON object with a string "type".');
    }
    const v = validators[f.type];
    if (!v || !Object.hasOwn(ClientFrames, f.type)) return this.#fail(id, 'frame.unknown_type', `Unknown frame type "${f.type}".`, { type: f.type });
    if (!v.Check(frame)) {
      const errors = [...v.Errors(frame)].slice(0, 5).map((e) => ({ path: e.instancePath || '/', message: e.message }));
      return this.#fail(id, 'frame.invalid', `Invalid "${f.type}" frame: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, errors);
    }
    this.#o.metrics.wsFramesIn.inc({ type: f.type });
    this.#dispatch(frame as ClientFrame).catch((err: unknown) => {
      if (isAppError(err)) return this.#error(id, err);
      this.#o.log({ err, frame: f.type }, 'frame handling failed');
      this.#error(id, fail('server.internal'));
    });
  }

  async #dispatch(f: ClientFrame): Promise<void> {
    const core = this.#o.core;
    switch (f.type) {
      case 'send': {
        // Check in arrival order, queue for commit in the same order.
        const prepared = this.#sendChain.then(() =>
          core.messages.prepare(this.principal, f.conversation_id, f.message, { origin: { connection: this.id, request: f.id } }),
        );
        this.#sendChain = prepared.catch(() => {});
        const r = await core.messages.commit(await prepared);
        // A fresh message's ack travels with the fan-out (in order with this connection's
        // other frames); a duplicate has no fan-out, so it is acked here.
        if (r.duplicate) {
          this.send({
            type: 'ack', id: f.id, conversation_id: r.message.conversation_id, message_id: r.message.id, seq: r.message.seq,
            created_at: r.message.created_at, duplicate: true,
          });
        }
        return;
      }
      case 'read':
        // With an id, this connection's own receipt carries it (the answer to this frame).
        await core.messages.markRead(this.principal, f.conversation_id, f.seq, f.id !== undefined ? { origin: { connection: this.id, request: f.id } } : {});
        return;
      case 'typing':
        await core.messages.typing(this.principal, f.conversation_id, f.state ?? 'typing');
        return;
      case 'ping':
        this.send({ type: 'pong', ...(f.id !== undefined ? { id: f.id } : {}), server_time: Date.now() });
        return;
      case 'presence':
        if (f.unsubscribe?.length) this.#o.onPresenceSubscribe(this, f.unsubscribe, false);
        if (f.subscribe?.length) {
          const max = this.#o.maxPresenceWatches;
          const watching = this.presence?.size ?? 0;
          let adding = 0;
          for (const u of new Set(f.subscribe)) if (!this.presence?.has(u)) adding++;
          if (watching + adding > max) throw fail('presence.too_many_watches', `A connection may watch at most ${max} users; it watches ${watching}.`, { max, watching });
          this.#o.onPresenceSubscribe(this, f.subscribe, true);
          for (const userId of f.subscribe) {
            const s = await core.presence.status(this.principal.tenantId, userId);
            this.send({ type: 'presence', ...(f.id !== undefined ? { id: f.id } : {}), user_id: userId, online: s.online, last_seen: s.last_seen });
          }
        }
        return;
      case 'sync': {
        if (this.#closed) return;
        if (this.#syncing >= MAX_PENDING_SYNCS) throw fail('sync.too_many_pending', undefined, { max: MAX_PENDING_SYNCS });
        // Live frames are held from now until every queued catch-up has ended.
        this.#syncing++;
        this.#held ??= [];
        this.#stopHoldTimer();
        const run = this.#syncChain.then(() => this.#sync(f));
        this.#syncChain = run.catch(() => {});
        await run;
        return;
      }
      case 'refresh': {
        // A newer token of the same user: the connection goes on with it (and its expiry, session and role).
        const auth = await core.auth.authenticate(f.token);
        if (auth.principal.tenantId !== this.principal.tenantId || auth.principal.userId !== this.principal.userId) throw fail('auth.token_mismatch');
        if (this.#closed) return;
        this.principal = auth.principal;
        this.expiresAt = auth.expiresAt;
        this.#o.onRefreshed?.(this);
        this.send({ type: 'refreshed', id: f.id, token_expires_at: auth.expiresAt, server_time: Date.now(), user: auth.user });
        return;
      }
    }
  }

  async #sync(f: Extract<ClientFrame, { type: 'sync' }>): Promise<void> {
    const core = this.#o.core;
    const p = this.principal;
    try {
      if (this.#closed) return;
      const serverTime = Date.now();
      const memberships = await core.storage.conversations.memberships(p.tenantId, p.userId);
      const covered = (this.#covered ??= new Map());
      for (const m of memberships) {
        const cursor = Object.hasOwn(f.cursors, m.id) ? f.cursors[m.id]! : undefined;
        if (cursor !== undefined) covered.set(m.id, Math.max(covered.get(m.id) ?? 0, cursor, m.last_seq));
      }
      const plan = planSync(memberships, f.cursors, f.since);
      let sent = 0;
      // A page is sized to about a quarter of the output bound, by the size of the messages so
      // far (the first by the largest content allowed), so that it costs bounded memory and,
      // written on top of at most half the bound (see below), keeps clear of it.
      const budget = this.#o.maxBufferedBytes / 4;
      const fit = (bytesPerMessage: number) => Math.max(1, Math.min(this.#o.syncPageSize, Math.floor(budget / Math.max(1, bytesPerMessage))));
      let pageSize = fit(this.#o.maxContentBytes);
      for (const item of plan) {
        covered.set(item.conversation_id, Math.max(covered.get(item.conversation_id) ?? 0, item.to));
        for await (const page of readRange(core.storage, p.tenantId, item, () => pageSize)) {
          if (this.#closed) return;
          let bytes = 0;
          for (const message of page) {
            if (this.#sentLive(message.conversation_id, message.seq)) continue;
            const data = messageFrame(message);
            bytes += data.length;
            this.write(data);
            sent++;
          }
          pageSize = fit(bytes / page.length);
          // Stream at the pace the client reads: wait for the socket rather than buffer without
          // bound. A client that stops reading is closed by the heartbeat (ws.drainTimeoutMs).
          if (this.#transport.buffered() > this.#o.maxBufferedBytes / 2) await this.#transport.drained(this.#o.maxBufferedBytes / 4);
          if (this.#closed) return;
        }
      }
      const notifications = f.notifications_after !== undefined ? await this.#syncNotifications(f.notifications_after) : undefined;
      if (this.#closed) return;
      this.send({
        type: 'sync_done', ...(f.id !== undefined ? { id: f.id } : {}), server_time: serverTime, sent,
        conversations: memberships.map((m) => ({ id: m.id, last_seq: m.last_seq, read_seq: m.read_seq })),
        ...(notifications ? { notifications } : {}),
      });
    } finally {
      this.#syncing--;
      if (this.#syncing === 0 && !this.#closed) {
        this.#trackLive = false;
        this.#live = undefined;
        this.#liveNotifications = undefined;
        this.#release();
      }
    }
  }

  /**
   * Streams the inbox after the client's notification cursor (the unread items for ""),
   * oldest first. The inbox head is read first: anything stored later is either read by
   * these pages or held and released after `sync_done`, so a client that keeps the larger of
   * `last_id` and the newest id it got misses nothing.
   */
  async #syncNotifications(after: string): Promise<{ last_id: string | null; sent: number; unread: { total: number; kinds: Record<string, number> } }> {
    const core = this.#o.core;
    const p = this.principal;
    const head = await core.storage.notifications.head(p.tenantId, p.userId);
    let sent = 0;
    for await (const page of readInboxAfter(core.storage, p.tenantId, p.userId, after, this.#o.syncPageSize)) {
      if (this.#closed) break;
      for (const n of page) {
        if (this.#sentLiveNotification(n.id)) continue;
        this.write(JSON.stringify({ type: 'notification', kind: n.kind, notification: n } satisfies ServerFrame));
        sent++;
      }
      const last = page[page.length - 1]!.id;
      if (this.#notificationsCovered === undefined || last > this.#notificationsCovered) this.#notificationsCovered = last;
      if (this.#transport.buffered() > this.#o.maxBufferedBytes / 2) await this.#transport.drained(this.#o.maxBufferedBytes / 4);
    }
    const unread = await core.notifications.unread(p);
    return { last_id: head, sent, unread };
  }

  /**
   * Ends the hold: writes the held live frames, minus messages and notifications the
   * catch-up already sent. What it sent stays known (`#covered`) until the live frames pass
   * it: the catch-up may have read commits whose live frames come after the release.
   */
  #release(): void {
    this.#stopHoldTimer();
    const held = this.#held;
    this.#held = null;
    this.#heldBytes = 0;
    if (!held) return;
    for (const h of held) {
      if (h.conversation !== undefined && h.seq !== undefined) {
        if (this.#caughtUp(h.conversation, h.seq)) continue;
        this.#wroteLive(h.conversation, h.seq);
      }
      if (h.notification !== undefined) {
        if (this.#notificationCaughtUp(h.notification)) continue;
        this.#wroteLiveNotification(h.notification);
      }
      this.write(h.data);
    }
  }
}
