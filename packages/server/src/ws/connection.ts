/**
 * One client connection: parses and validates frames, calls the core, writes frames back.
 * Knows nothing of HTTP; the WebSocket server hands it a `Transport`.
 *
 * Ordering: a connection's sends are checked and queued for commit in the order they
 * arrived. While a catch-up (`sync`) runs, live frames are held and released after it,
 * minus the messages the catch-up already sent, so each message reaches the client once and
 * in order. The same holds for notifications when the sync asks for them (`notifications_after`).
 */
import { ClientFrames, CloseCodes, type ClientFrame, type ErrorCode, type ServerFrame } from '@careline/protocol';
import { Compile } from 'typebox/compile';
import type { Core } from '../core.ts';
import type { Principal } from '../domain/types.ts';
import { isAppError, fail, type AppError } from '../domain/errors.ts';
import { planSync, readRange, type SyncPlanItem } from '../domain/sync.ts';
import { readInboxAfter } from '../domain/notifications.ts';
import type { Metrics } from '../ops/metrics.ts';

export interface Transport {
  /** Queues a text frame. */
  write(data: string): void;
  /** Bytes queued and not yet sent. */
  buffered(): number;
  /** Resolves when the output buffer has drained below `bytes` (or the transport closed). */
  drained(bytes: number): Promise<void>;
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
  /** How long `sync=1` holds live frames for a client that has not sent its first sync. */
  syncHoldMs: number;
  onPresenceSubscribe: (conn: Connection, userIds: string[], on: boolean) => void;
  log: (obj: object, msg: string) => void;
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
}

const settled: Promise<unknown> = Promise.resolve();

/**
 * What a connection delivered live after its hold ran out and before the late first sync:
 * per conversation the first and last seq (live frames of a conversation come in seq order,
 * with no gap), and the first and last notification id (they come in id order).
 */
interface DeliveredEarly {
  messages: Map<string, [number, number]>;
  notifications: [string, string] | null;
}

/** The catch-up plan minus, per conversation, the seqs that went out live after the hold ran out. */
function withoutDelivered(plan: SyncPlanItem[], early: DeliveredEarly): SyncPlanItem[] {
  const out: SyncPlanItem[] = [];
  for (const item of plan) {
    const d = early.messages.get(item.conversation_id);
    if (!d) {
      out.push(item);
      continue;
    }
    const [first, last] = d;
    if (item.from < Math.min(item.to, first - 1)) out.push({ ...item, to: Math.min(item.to, first - 1) });
    if (Math.max(item.from, last) < item.to) out.push({ ...item, from: Math.max(item.from, last) });
  }
  return out;
}

export class Connection {
  readonly id: string;
  readonly principal: Principal & { kind: 'user' };
  readonly platformClass: string;
  /** The users whose presence this connection watches (made on the first subscription). */
  presence: Set<string> | undefined;
  readonly #o: ConnectionContext;
  readonly #transport: Transport;
  #held: Held[] | null;
  #syncing = 0;
  /** Per conversation, the newest seq a catch-up covered (made by the first sync). */
  #covered: Map<string, number> | undefined;
  /** The newest notification id a catch-up read (held notification frames up to it are dropped). */
  #notificationsCovered: string | undefined;
  #sendChain: Promise<unknown> = settled;
  #closed = false;
  #holdTimer: NodeJS.Timeout | undefined;
  /** Set when the hold ran out with no sync: what goes out live until the first sync comes. */
  #early: DeliveredEarly | undefined;
  /** Bytes received at the previous heartbeat, and the heartbeats since anything came in. */
  #receivedAtBeat = 0;
  #silentBeats = 0;

  constructor(ctx: ConnectionContext, init: ConnectionInit) {
    this.#o = ctx;
    this.#transport = init.transport;
    this.id = init.id;
    this.principal = init.principal;
    this.platformClass = init.platformClass ?? 'unknown';
    this.#held = init.holdUntilSync ? [] : null;
    if (init.holdUntilSync) {
      // A client that promised a sync and never sends one still gets its live frames.
      this.#holdTimer = setTimeout(() => this.#holdRanOut(), ctx.syncHoldMs);
      this.#holdTimer.unref();
    }
  }

  /**
   * The client promised a sync (`sync=1`) and has not sent it: its live frames flow from now
   * on, and what goes out is noted so that the sync, when it comes late (a slow client, or a
   * server too loaded to read it in time), does not send it again.
   */
  #holdRanOut(): void {
    this.#holdTimer = undefined;
    if (this.#syncing > 0 || this.#held === null) return;
    this.#early = { messages: new Map(), notifications: null };
    this.#release();
  }

  #noteEarly(early: DeliveredEarly, conversation: string | undefined, seq: number | undefined, notification: string | undefined): void {
    if (conversation !== undefined && seq !== undefined) {
      const r = early.messages.get(conversation);
      if (r) r[1] = seq;
      else early.messages.set(conversation, [seq, seq]);
    } else if (notification !== undefined) {
      if (early.notifications) early.notifications[1] = notification;
      else early.notifications = [notification, notification];
    }
  }

  #stopHoldTimer(): void {
    if (this.#holdTimer === undefined) return;
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
  }

  get closed(): boolean {
    return this.#closed;
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
    if (this.#held) {
      if (this.#held.length >= this.#o.syncBufferFrames) {
        this.close(CloseCodes.SYNC_OVERFLOW, 'too much traffic during catch-up; reconnect');
        return;
      }
      this.#held.push({ data, conversation, seq });
      return;
    }
    if (this.#early) this.#noteEarly(this.#early, conversation, seq, undefined);
    this.write(data);
  }

  /** A live notification frame: held during catch-up (and dropped on release if the catch-up sent it), written otherwise. */
  deliverNotification(data: string, id: string): void {
    if (this.#held) {
      if (this.#held.length >= this.#o.syncBufferFrames) {
        this.close(CloseCodes.SYNC_OVERFLOW, 'too much traffic during catch-up; reconnect');
        return;
      }
      this.#held.push({ data, notification: id });
      return;
    }
    if (this.#early) this.#noteEarly(this.#early, undefined, undefined, id);
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
        await core.messages.markRead(this.principal, f.conversation_id, f.seq);
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
          this.#o.onPresenceSubscribe(this, f.subscribe, true);
          for (const userId of f.subscribe) {
            const s = await core.presence.status(this.principal.tenantId, userId);
            this.send({ type: 'presence', ...(f.id !== undefined ? { id: f.id } : {}), user_id: userId, online: s.online, last_seen: s.last_seen });
          }
        }
        return;
      case 'sync':
        await this.#sync(f);
        return;
    }
  }

  async #sync(f: Extract<ClientFrame, { type: 'sync' }>): Promise<void> {
    const core = this.#o.core;
    const p = this.principal;
    this.#syncing++;
    this.#held ??= [];
    this.#stopHoldTimer();
    // The first sync after the hold ran out: what went out live meanwhile is not sent again.
    const early = this.#early;
    this.#early = undefined;
    try {
      const serverTime = Date.now();
      const memberships = await core.storage.conversations.memberships(p.tenantId, p.userId);
      const covered = (this.#covered ??= new Map());
      for (const m of memberships) {
        const cursor = Object.hasOwn(f.cursors, m.id) ? f.cursors[m.id]! : undefined;
        if (cursor !== undefined) covered.set(m.id, Math.max(covered.get(m.id) ?? 0, cursor, m.last_seq));
      }
      const plan = planSync(memberships, f.cursors, f.since);
      let sent = 0;
      for (const item of early ? withoutDelivered(plan, early) : plan) {
        covered.set(item.conversation_id, Math.max(covered.get(item.conversation_id) ?? 0, item.to));
        for await (const page of readRange(core.storage, p.tenantId, item, this.#o.syncPageSize)) {
          if (this.#closed) return;
          for (const message of page) this.write(JSON.stringify({ type: 'message', message }));
          sent += page.length;
          // Stream at the pace the client reads: wait for the socket rather than buffer without bound.
          if (this.#transport.buffered() > this.#o.maxBufferedBytes / 2) await this.#transport.drained(this.#o.maxBufferedBytes / 4);
        }
      }
      const notifications = f.notifications_after !== undefined ? await this.#syncNotifications(f.notifications_after, early?.notifications ?? null) : undefined;
      if (this.#closed) return;
      this.send({
        type: 'sync_done', ...(f.id !== undefined ? { id: f.id } : {}), server_time: serverTime, sent,
        conversations: memberships.map((m) => ({ id: m.id, last_seq: m.last_seq, read_seq: m.read_seq })),
        ...(notifications ? { notifications } : {}),
      });
    } finally {
      this.#syncing--;
      if (this.#syncing === 0) this.#release();
    }
  }

  /**
   * Streams the inbox after the client's notification cursor (the unread items for ""),
   * oldest first. The inbox head is read first: anything stored later is either read by
   * these pages or held and released after `sync_done`, so a client that keeps the larger of
   * `last_id` and the newest id it got misses nothing.
   */
  async #syncNotifications(
    after: string, delivered: [string, string] | null,
  ): Promise<{ last_id: string | null; sent: number; unread: { total: number; kinds: Record<string, number> } }> {
    const core = this.#o.core;
    const p = this.principal;
    const head = await core.storage.notifications.head(p.tenantId, p.userId);
    let sent = 0;
    for await (const page of readInboxAfter(core.storage, p.tenantId, p.userId, after, this.#o.syncPageSize)) {
      if (this.#closed) break;
      for (const n of page) {
        if (delivered && n.id >= delivered[0] && n.id <= delivered[1]) continue; // went out live after the hold ran out
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

  /** Ends the hold: writes the held live frames, minus messages and notifications the catch-up already sent. */
  #release(): void {
    this.#stopHoldTimer();
    const held = this.#held;
    const covered = this.#covered;
    const notificationsCovered = this.#notificationsCovered;
    this.#held = null;
    this.#covered = undefined;
    this.#notificationsCovered = undefined;
    if (!held) return;
    const early = this.#early;
    for (const h of held) {
      if (h.conversation !== undefined && h.seq !== undefined && covered !== undefined && h.seq <= (covered.get(h.conversation) ?? 0)) continue;
      if (h.notification !== undefined && notificationsCovered !== undefined && h.notification <= notificationsCovered) continue;
      if (early) this.#noteEarly(early, h.conversation, h.seq, h.notification);
      this.write(h.data);
    }
  }
}
