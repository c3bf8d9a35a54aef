/**
 * One client connection, on any transport: parses and validates frames, hands each to its
 * handler (`handlers.ts`), writes frames back, holds and releases live frames around catch-up.
 * Knows no socket: the transport (`ws/transport.ts` for the WebSocket) is a `Transport`.
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
import { ClientFrames, Disconnect, ErrorCodes, type ClientFrame, type ClientFrameType, type DisconnectReason, type ErrorCode, type ServerFrame } from '@careline/protocol';
import { Compile } from 'typebox/compile';
import type { Core } from '../core.ts';
import type { Principal } from '../domain/types.ts';
import { isAppError, fail, type AppError } from '../domain/errors.ts';
import { planSync, readRange } from '../domain/sync.ts';
import { readInboxAfter } from '../domain/notifications.ts';
import type { Metrics } from '../ops/metrics.ts';
import { messageTextFrame, notificationFrame } from './frames.ts';
import type { Transport } from './transport.ts';

const validators = Object.fromEntries(Object.entries(ClientFrames).map(([k, s]) => [k, Compile(s)])) as Record<string, ReturnType<typeof Compile>>;

interface Held {
  data: string;
  conversation?: string;
  seq?: number;
  /** A notification frame: its id. */
  notification?: string;
}

/** What every connection shares: one object per node (`Realtime`), not per connection. */
export interface ConnectionContext {
  /**
   * Runs a checked frame's handler (the table of `handlers.ts`, given by the layer: the
   * handlers see `Connection`, so this file does not import them).
   */
  dispatch: (conn: Connection, frame: ClientFrame) => Promise<void>;
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
  /** The transport closed (`Connection.onClose`): the connection leaves the hub and presence. */
  onClosed?: (conn: Connection) => void;
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
  /** When the token expires (ms); the real-time layer closes the connection then (4501). Default: never. */
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
  /** When the connection's token expires (ms): the real-time layer closes it then with 4501, unless a `refresh` moved it. */
  expiresAt: number;
  /** The users whose presence this connection watches (made on the first subscription). */
  presence: Set<string> | undefined;
  /** What every connection shares (the core, the limits, the layer's callbacks): read by the frame handlers. */
  readonly ctx: ConnectionContext;
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
    this.ctx = ctx;
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

  /**
   * Ends a `holdUntilSync` hold before its sync: the client will not sync first (an MQTT client
   * of seed 003's account topic), so its live frames flow from now on, counted as sent. A hold
   * a sync already took ends with that sync, as usual.
   */
  endHold(): void {
    if (this.#syncing > 0 || this.#held === null || this.#closed) return;
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
    if (this.#transport.buffered() > this.ctx.maxBufferedBytes) {
      this.close(Disconnect.SLOW_CONSUMER);
      return;
    }
    this.#transport.write(data);
    this.ctx.metrics.framesOut++;
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
    if (this.#held!.length < this.ctx.syncBufferFrames && this.#heldBytes <= this.ctx.maxBufferedBytes) return false;
    this.close(Disconnect.SYNC_OVERFLOW);
    return true;
  }

  #wroteLive(conversation: string, seq: number): void {
    if (!this.#trackLive) return;
    const live = (this.#live ??= new Map());
    const run = live.get(conversation);
    // A run of consecutive seqs, grown at either end: live frames from several nodes can come
    // a little out of order (11, then 10).
    if (run && seq >= run[0] && seq <= run[1]) return;
    if (run && seq === run[1] + 1) run[1] = seq;
    else if (run && seq === run[0] - 1) run[0] = seq;
    else live.set(conversation, [seq, seq]);
  }

  #sentLive(conversation: string, seq: number): boolean {
    const run = this.#live?.get(conversation);
    return run !== undefined && seq >= run[0] && seq <= run[1];
  }

  /**
   * Whether a catch-up already sent message `seq` of `conversation`. Kept for the
   * connection's life (one number per conversation caught up), not dropped when a newer live
   * frame passes: with several nodes, live frames of one conversation come from the nodes that
   * committed them and can arrive out of seq order (11 from one node before 10 from another),
   * so a frame the catch-up sent can still come after a newer one.
   */
  #caughtUp(conversation: string, seq: number): boolean {
    const upTo = this.#covered?.get(conversation);
    return upTo !== undefined && seq <= upTo;
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

  /** Ends the connection for `why` (with `why.reason` as the text, unless another is given). */
  close(why: DisconnectReason, reason: string = why.reason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopHoldTimer();
    this.#held = null;
    this.#heldBytes = 0;
    this.ctx.metrics.wsClosed.inc({ code: String(why.code) });
    this.#transport.close(why, reason);
  }

  /** Closes for a reason the client must act on: an `error` frame first, then the close with the error code as its reason. */
  closeWithError(code: ErrorCode, why: DisconnectReason): void {
    this.send({ type: 'error', code, message: ErrorCodes[code].message });
    this.close(why, code);
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

  /** The transport closed (on its own, or after `close`): the connection is gone, and the layer forgets it. */
  onClose(): void {
    this.dispose();
    this.ctx.onClosed?.(this);
  }

  /** Marks the connection gone. */
  dispose(): void {
    this.#closed = true;
    this.#stopHoldTimer();
    this.#held = null;
    this.#heldBytes = 0;
  }

  #error(id: string | undefined, e: AppError): void {
    this.ctx.metrics.errors.inc({ code: e.code });
    const body = e.toBody();
    this.send({ type: 'error', ...(id !== undefined ? { id } : {}), ...body });
  }

  #fail(id: string | undefined, code: ErrorCode, message?: string, details?: unknown): void {
    this.#error(id, fail(code, message, details));
  }

  /** A frame the protocol does not read (a binary one, on the WebSocket): answered with an error. */
  onBinaryFrame(): void {
    this.#fail(undefined, 'frame.binary_unsupported');
  }

  /** Entry point for every incoming text frame. Never throws. */
  onFrame(text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return this.#fail(undefined, 'frame.invalid_json');
    }
    this.onFrameValue(frame);
  }

  /** A frame already parsed from JSON (an HTTP body of frames is parsed once, whole). Never throws. */
  onFrameValue(frame: unknown): void {
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
    this.ctx.metrics.wsFramesIn.inc({ type: f.type });
    // The frame's handler, from the table (one per frame type: `handlers.ts`).
    this.ctx.dispatch(this, frame as ClientFrame).catch((err: unknown) => {
      if (isAppError(err)) return this.#error(id, err);
      this.ctx.log({ err, frame: f.type }, 'frame handling failed');
      this.#error(id, fail('server.internal'));
    });
  }

  /**
   * Runs `prepare` after the `prepare` of every earlier call has settled: a connection's sends
   * are checked, and queued for commit, in the order they arrived.
   */
  inOrder<T>(prepare: () => Promise<T>): Promise<T> {
    const prepared = this.#sendChain.then(prepare);
    this.#sendChain = prepared.catch(() => {});
    return prepared;
  }

  /** A `sync` frame: queued behind the catch-ups before it; live frames are held from now until every queued one has ended. */
  async sync(f: Extract<ClientFrame, { type: 'sync' }>): Promise<void> {
    if (this.#closed) return;
    if (this.#syncing >= MAX_PENDING_SYNCS) throw fail('sync.too_many_pending', undefined, { max: MAX_PENDING_SYNCS });
    this.#syncing++;
    this.#held ??= [];
    this.#stopHoldTimer();
    const run = this.#syncChain.then(() => this.#sync(f));
    this.#syncChain = run.catch(() => {});
    await run;
  }

  async #sync(f: Extract<ClientFrame, { type: 'sync' }>): Promise<void> {
    const core = this.ctx.core;
    const p = this.principal;
    try {
      if (this.#closed) return;
      const serverTime = Date.now();
      const memberships = await core.storage.conversations.memberships(p.tenantId, p.userId);
      // What the client has: its cursors, then each page as it is written (never more than was
      // sent, so a catch-up that fails half-way lets the live frames it did not send through).
      const covered = (this.#covered ??= new Map());
      const cover = (conversationId: string, seq: number) => covered.set(conversationId, Math.max(covered.get(conversationId) ?? 0, seq));
      for (const m of memberships) {
        if (Object.hasOwn(f.cursors, m.id)) cover(m.id, f.cursors[m.id]!);
      }
      const plan = planSync(memberships, f.cursors, f.since);
      let sent = 0;
      // A page is sized to about a quarter of the output bound, by the size of the messages so
      // far (the first by the largest content allowed), so that it costs bounded memory and,
      // written on top of at most half the bound (see below), keeps clear of it.
      const budget = this.ctx.maxBufferedBytes / 4;
      const fit = (bytesPerMessage: number) => Math.max(1, Math.min(this.ctx.syncPageSize, Math.floor(budget / Math.max(1, bytesPerMessage))));
      let pageSize = fit(this.ctx.maxContentBytes);
      for (const item of plan) {
        for await (const page of readRange(core.storage, p.tenantId, item, () => pageSize)) {
          if (this.#closed) return;
          let bytes = 0;
          for (const message of page) {
            if (this.#sentLive(item.conversation_id, message.seq)) continue;
            const data = messageTextFrame(message.json);
            bytes += data.length;
            this.write(data);
            sent++;
          }
          cover(item.conversation_id, page[page.length - 1]!.seq);
          pageSize = fit(bytes / page.length);
          // Stream at the pace the client reads: wait for the transport rather than buffer without
          // bound. A client that stops reading is closed by the heartbeat (ws.drainTimeoutMs).
          if (this.#transport.buffered() > this.ctx.maxBufferedBytes / 2) await this.#transport.drained(this.ctx.maxBufferedBytes / 4);
          if (this.#closed) return;
        }
        cover(item.conversation_id, item.to);
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
    const core = this.ctx.core;
    const p = this.principal;
    const head = await core.storage.notifications.head(p.tenantId, p.userId);
    let sent = 0;
    for await (const page of readInboxAfter(core.storage, p.tenantId, p.userId, after, this.ctx.syncPageSize)) {
      if (this.#closed) break;
      for (const n of page) {
        if (this.#sentLiveNotification(n.id)) continue;
        this.write(notificationFrame(n));
        sent++;
      }
      const last = page[page.length - 1]!.id;
      if (this.#notificationsCovered === undefined || last > this.#notificationsCovered) this.#notificationsCovered = last;
      if (this.#transport.buffered() > this.ctx.maxBufferedBytes / 2) await this.#transport.drained(this.ctx.maxBufferedBytes / 4);
    }
    const unread = await core.notifications.unread(p);
    return { last_id: head, sent, unread };
  }

  /**
   * Ends the hold: writes the held live frames, minus messages and notifications the
   * catch-up already sent. What it sent stays known (`#covered`, for the connection's life):
   * the catch-up may have read commits whose live frames come after the release.
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
