/**
 * The connections of this node, by tenant and user, and the fan-out of bus events to them.
 * Each event is serialised once and the same string written to every connection that gets it.
 *
 * Notifications of a tenant reach its connections in the order they were committed, with none
 * left out (a client keeps the newest id it got as its catch-up cursor, so it must never get a
 * newer one before an older one, nor miss one it would then never catch up on). Events come
 * from several nodes in any order and the bus may lose one, so the Hub orders them by the
 * tenant's `seq` (1, 2, 3… in commit order): per tenant it keeps the last seq handed out; the
 * next one goes out at once, a duplicate is dropped, and one that comes before those it
 * follows waits (`reorderMs`, at most `reorderMax` of them) for them; when the wait ends, the
 * missing ones are read from storage (`since`) and go out first, so a notification whose event
 * was lost still reaches this node's connections. A tenant without connections here only
 * moves its last seq, and is forgotten `orderIdleMs` after its last event. The first event of
 * a tenant not known yet, when it has connections here, sets where its order starts; the
 * notifications just before it created since the tenant's first connection here came (their
 * events may have been lost) are read and sent first.
 *
 * A tenant broadcast is written to this node's connections of the tenant in turns of at most
 * `broadcastChunk` connections and `broadcastSliceMs` milliseconds, yielding to
 * the event loop between turns so that other traffic goes on; notifications of the tenant that
 * come meanwhile wait behind it.
 */
import { Disconnect, EventKinds, type CallStatus, type IceServer, type ServerFrame } from '@careline/protocol';
import type { DomainEvent } from '../domain/events.ts';
import type { NotificationStore } from '../domain/ports.ts';
import type { Connection } from './connection.ts';
import { messageFrame, notificationFrame } from './frames.ts';
import { callSignal } from '../calls/wire.ts';

/**
 * A user's connections on this node. An array, not a Set: almost every user has one or two,
 * and an array of one costs a third of a Set's memory (this is per idle connection).
 */
type UserMap = Map<string, Connection[]>;
type NotificationEvent = Extract<DomainEvent, { kind: 'notification.created' }>;

/** Most notifications read from storage at a time to fill a gap, or to look back at a tenant's first event. */
const READ_PAGE = 100;
/**
 * At a tenant's first event, notifications created up to this long before its first connection
 * here came are looked back at too: `created_at` is taken before the commit, on the clock of
 * the node that made it. Older ones are the catch-up's.
 */
const LOOKBACK_MARGIN_MS = 5000;

/** Where a tenant's notifications stand on this node. */
interface TenantOrder {
  /** The seq of the newest notification handed out; undefined until the first event sets it. */
  last: number | undefined;
  /** Events that came before ones they follow, by seq. */
  waiting: Map<number, NotificationEvent>;
  /** Ends the wait for the missing ones. */
  timer: NodeJS.Timeout | undefined;
  /** A read of missing ones from storage is running. */
  reading: boolean;
  /** When its last event came (a tenant without connections here is forgotten after `orderIdleMs`). */
  seenAt: number;
}

export interface HubOptions {
  /** Most connections written per turn of the event loop during a broadcast (default 1000). */
  broadcastChunk?: number;
  /**
   * Most time one turn of a broadcast may take, in ms (default 5): a turn ends after
   * `broadcastChunk` connections or this, whichever comes first. A write to a socket costs
   * 10–40 µs, so 1000 of them could keep messages waiting for tens of milliseconds.
   */
  broadcastSliceMs?: number;
  /** Reports a failure of a background fan-out, or missing notifications that could not be read. */
  onError?: (err: unknown) => void;
  /**
   * How long a tenant's notification that came before one it follows waits for it, in ms
   * (default 250); then the missing ones are read from storage.
   */
  reorderMs?: number;
  /** Most notifications of a tenant that wait (default 1000); one more ends the wait at once. */
  reorderMax?: number;
  /**
   * Reads a tenant's notifications after a seq (`NotificationStore.since`). Without it, the
   * missing ones are passed over when the wait ends.
   */
  since?: NotificationStore['since'];
  /**
   * How long the order of a tenant without connections here is kept after its last event, in
   * ms (default 10 minutes): a connection that comes meanwhile finds where it stands.
   */
  orderIdleMs?: number;
  /** A user's STUN/TURN servers, sent with a call's invite to each callee that rings (docs/calls.md, "TURN"). */
  iceServers?: (userId: string) => IceServer[];
}

export class Hub {
  readonly #byTenant = new Map<string, UserMap>();
  readonly #byId = new Map<string, Connection>();
  readonly #watchers = new Map<string, Map<string, Set<Connection>>>();
  /** Per tenant: notifications waiting behind a broadcast in progress (the key exists while one runs). */
  readonly #pending = new Map<string, NotificationEvent[]>();
  readonly #chunk: number;
  readonly #sliceMs: number;
  readonly #onError: (err: unknown) => void;
  /** Per tenant with connections here, or with events lately: the order of its notifications. */
  readonly #orders = new Map<string, TenantOrder>();
  readonly #orderIdleMs: number;
  #nextSweep = 0;
  /** Per tenant with connections here: when the first of them came. */
  readonly #connectedAt = new Map<string, number>();
  readonly #reorderMs: number;
  readonly #reorderMax: number;
  readonly #since: NotificationStore['since'] | undefined;
  readonly #iceServers: ((userId: string) => IceServer[]) | undefined;
  #idle: (() => void)[] = [];

  constructor(o: HubOptions = {}) {
    this.#chunk = Math.max(1, o.broadcastChunk ?? 1000);
    this.#sliceMs = Math.max(0, o.broadcastSliceMs ?? 5);
    this.#onError = o.onError ?? (() => {});
    this.#reorderMs = Math.max(0, o.reorderMs ?? 250);
    this.#reorderMax = Math.max(1, o.reorderMax ?? 1000);
    this.#since = o.since;
    this.#orderIdleMs = Math.max(0, o.orderIdleMs ?? 600_000);
    this.#iceServers = o.iceServers;
  }

  /** Resolves when no broadcast fan-out is in progress. */
  idle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Tenants whose notification order this node keeps (those with connections here that got one), and the events waiting. */
  get ordering(): { tenants: number; waiting: number } {
    let waiting = 0;
    for (const o of this.#orders.values()) waiting += o.waiting.size;
    return { tenants: this.#orders.size, waiting };
  }

  /** Presence watches held on this node, over every connection. */
  get watches(): number {
    let n = 0;
    for (const users of this.#watchers.values()) for (const set of users.values()) n += set.size;
    return n;
  }

  connections(): IterableIterator<Connection> {
    return this.#byId.values();
  }

  /** The user's connections on this node. */
  count(tenantId: string, userId: string): number {
    return this.#byTenant.get(tenantId)?.get(userId)?.length ?? 0;
  }

  /** Adds a connection; true if it is the user's first on this node. */
  add(c: Connection): boolean {
    this.#byId.set(c.id, c);
    const { tenantId, userId } = c.principal;
    let users = this.#byTenant.get(tenantId);
    if (!users) {
      this.#byTenant.set(tenantId, (users = new Map()));
      this.#connectedAt.set(tenantId, Date.now());
    }
    let set = users.get(userId);
    if (!set) users.set(userId, (set = []));
    set.push(c);
    return set.length === 1;
  }

  /** Removes a connection; true if it was registered (false if removed before). */
  remove(c: Connection): boolean {
    if (!this.#byId.delete(c.id)) return false;
    if (c.presence) for (const u of c.presence) this.watch(c, u, false);
    const { tenantId, userId } = c.principal;
    const users = this.#byTenant.get(tenantId);
    const set = users?.get(userId);
    if (set) {
      // A new array (not a splice): a fan-out iterating the old one is not disturbed.
      const rest = set.filter((x) => x !== c);
      if (rest.length > 0) {
        users!.set(userId, rest);
      } else {
        users!.delete(userId);
        if (users!.size === 0) {
          this.#byTenant.delete(tenantId);
          this.#connectedAt.delete(tenantId);
          // Nobody here to wait for: the order stays (until idle), what waited is passed.
          const order = this.#orders.get(tenantId);
          if (order) this.#unattended(order);
        }
      }
    }
    return true;
  }

  watch(c: Connection, userId: string, on: boolean): void {
    const tenantId = c.principal.tenantId;
    let t = this.#watchers.get(tenantId);
    if (on) {
      if (!t) this.#watchers.set(tenantId, (t = new Map()));
      let set = t.get(userId);
      if (!set) t.set(userId, (set = new Set()));
      set.add(c);
      (c.presence ??= new Set()).add(userId);
    } else {
      c.presence?.delete(userId);
      const set = t?.get(userId);
      set?.delete(c);
      if (set && set.size === 0) t!.delete(userId);
      if (t && t.size === 0) this.#watchers.delete(tenantId);
    }
  }

  onEvent(e: DomainEvent): void {
    switch (e.kind) {
      case 'message.created': {
        const m = e.message;
        const users = this.#byTenant.get(e.tenant_id);
        if (!users) return;
        let frame: string | undefined;
        for (const uid of e.recipients) {
          const set = users.get(uid);
          if (!set) continue;
          for (const c of set) {
            if (c.id === e.origin && e.origin_request !== undefined) {
              c.deliver(JSON.stringify({
                type: 'ack', id: e.origin_request, conversation_id: m.conversation_id, message_id: m.id, seq: m.seq, created_at: m.created_at, duplicate: false,
              } satisfies ServerFrame));
            } else {
              c.deliver((frame ??= messageFrame(m)), m.conversation_id, m.seq);
            }
          }
        }
        return;
      }
      case 'read.updated': {
        const frame = { type: 'read', conversation_id: e.conversation_id, user_id: e.user_id, seq: e.seq } as const;
        // The reader's connection that sent the `read` gets its receipt with the frame's id.
        const origin = e.origin !== undefined && e.origin_request !== undefined
          ? { connection: e.origin, data: JSON.stringify({ ...frame, id: e.origin_request } satisfies ServerFrame) }
          : undefined;
        return this.#toUsers(e.tenant_id, e.recipients, frame, undefined, origin);
      }
      case 'typing':
        return this.#toUsers(e.tenant_id, e.recipients, { type: 'typing', conversation_id: e.conversation_id, user_id: e.user_id, state: e.state }, e.user_id);
      case 'conversation.changed':
        this.#toUsers(e.tenant_id, e.recipients, { type: 'conversation', event: e.event, conversation_id: e.conversation_id });
        if (e.event === 'participants') {
          if (e.added?.length) {
            this.#toUsers(e.tenant_id, e.recipients, { type: 'event', kind: EventKinds.TEAMMEMBER_ENTER, conversation_id: e.conversation_id, user_ids: [...e.added] });
          }
          if (e.removed?.length) {
            this.#toUsers(e.tenant_id, e.recipients, { type: 'event', kind: EventKinds.TEAMMEMBER_LEAVE, conversation_id: e.conversation_id, user_ids: [...e.removed] });
          }
        }
        return;
      case 'notification.created':
        return this.#onNotification(e);
      case 'connection.replaced': {
        const set = this.#byTenant.get(e.tenant_id)?.get(e.user_id);
        if (!set) return;
        const frame = JSON.stringify({ type: 'event', kind: EventKinds.DIFFERENT_CONNECTION, platform_class: e.platform_class } satisfies ServerFrame);
        const kick = e.policy !== 'notify';
        // Only older connections are told (ids are time-sortable): two that open at once do not close each other.
        for (const c of [...set]) {
          if (c.id === e.keep || c.id > e.keep || c.platformClass !== e.platform_class) continue;
          c.write(frame);
          if (kick) c.close(Disconnect.CONNECTED_ELSEWHERE);
        }
        return;
      }
      case 'user.changed': {
        // The user as stored now decides: disabled, every connection goes; another role, they reconnect with it.
        const set = this.#byTenant.get(e.tenant_id)?.get(e.user_id);
        if (!set) return;
        for (const c of [...set]) {
          if (e.disabled) c.closeWithError('user.disabled', Disconnect.USER_DISABLED);
          else if (c.principal.role !== e.role) c.close(Disconnect.USER_CHANGED);
        }
        return;
      }
      case 'session.revoked':
        for (const c of [...this.#byId.values()]) {
          if (c.principal.tenantId === e.tenant_id && c.principal.sessionId === e.session_id) c.close(Disconnect.TOKEN_REVOKED);
        }
        return;
      case 'call.changed':
        return this.#onCall(e);
      case 'conference.changed':
        if (e.event === 'revoked') return;
        return this.#toUsers(e.tenant_id, e.careline_users, { type: 'conference', event: e.event, conference: e.conference });
      case 'conference.queue':
        return;
      case 'desk.event':
        return this.#toUsers(e.tenant_id, e.recipients, { type: 'desk', event: e.event });
      case 'call.rtc': {
        const set = this.#byTenant.get(e.tenant_id)?.get(e.to);
        if (!set) return;
        const frame = JSON.stringify({
          type: 'rtc', call_id: e.call_id, from: e.from, from_connection: e.from_connection, kind: e.signal,
          ...(e.sdp !== undefined ? { sdp: e.sdp } : {}), ...(e.candidate !== undefined ? { candidate: e.candidate } : {}),
        } satisfies ServerFrame);
        for (const c of set) if (e.to_connection === undefined || c.id === e.to_connection) c.deliver(frame);
        return;
      }
      case 'presence.changed': {
        const set = this.#watchers.get(e.tenant_id)?.get(e.user_id);
        if (!set) return;
        const frame = JSON.stringify({ type: 'presence', user_id: e.user_id, online: e.online, last_seen: e.last_seen } satisfies ServerFrame);
        for (const c of set) c.deliver(frame);
        return;
      }
    }
  }

  /**
   * A call changed: a `call` frame to every connection of its participants (but the one that
   * acted, which got its answer), `other_answer` / `other_refuse` on the actor's other
   * devices; seed 001's `S2C_VIDEOCALL_INVITE` to the callees that ring, `S2C_VIDEOCALL_END` to
   * the others when it ends.
   */
  #onCall(e: Extract<DomainEvent, { kind: 'call.changed' }>): void {
    const users = this.#byTenant.get(e.tenant_id);
    if (!users) return;
    const call = e.call;
    const frames = new Map<string, string>();
    const frame = (status: CallStatus) =>
      frames.get(status) ?? frames.set(status, JSON.stringify({ type: 'call', status, by: e.by, call, content: callSignal(call, status) } satisfies ServerFrame)).get(status)!;
    const ended = call.state === 'ended';
    for (const part of call.participants) {
      const set = users.get(part.user_id);
      if (!set) continue;
      const own = part.user_id === e.by && (e.status === 'accept' || e.status === 'refuse');
      const status = own ? (e.status === 'accept' ? 'other_answer' : 'other_refuse') : e.status;
      const ringing = e.status === 'invite' && part.state === 'ringing';
      // A callee that rings gets its own STUN/TURN credentials with the invite.
      const ice = ringing ? this.#iceServers?.(part.user_id) : undefined;
      const signal = ice?.length ? { ...callSignal(call, 'invite'), iceServers: ice } : callSignal(call, 'invite');
      const invite = ringing
        ? JSON.stringify({ type: 'event', kind: EventKinds.VIDEOCALL_INVITE, conversation_id: call.conversation_id, call, content: signal } satisfies ServerFrame)
        : undefined;
      const changed = ice?.length ? JSON.stringify({ type: 'call', status, by: e.by, call, content: signal } satisfies ServerFrame) : frame(status);
      const end = ended && part.user_id !== e.by
        ? JSON.stringify({ type: 'event', kind: EventKinds.VIDEOCALL_END, conversation_id: call.conversation_id, call, content: callSignal(call, 'end') } satisfies ServerFrame)
        : undefined;
      for (const c of set) {
        // The connection that acted got its answer (only the actor's own connection is skipped).
        if (c.id === e.origin && part.user_id === e.by) continue;
        c.deliver(changed);
        if (invite) c.deliver(invite);
        if (end) c.deliver(end);
      }
    }
  }

  /** Puts a tenant's notification in seq order: out now, dropped, or waiting for those before it. */
  #onNotification(e: NotificationEvent): void {
    const t = e.tenant_id;
    const seq = e.notification.seq;
    const now = Date.now();
    if (now >= this.#nextSweep) this.#sweep(now);
    const connected = this.#byTenant.has(t);
    let o = this.#orders.get(t);
    if (!o) {
      this.#orders.set(t, (o = { last: undefined, waiting: new Map(), timer: undefined, reading: false, seenAt: now }));
      if (connected && seq > 1 && this.#since) {
        // Where the order starts: after a look back at those just before it.
        o.waiting.set(seq, e);
        this.#fill(t, o).catch((err: unknown) => this.#onError(err));
        return;
      }
      o.last = seq - 1;
    }
    o.seenAt = now;
    if (!connected) {
      // Nobody here to deliver to: only where the order stands is kept.
      if (o.last === undefined || seq > o.last) o.last = seq;
      this.#unattended(o);
      return;
    }
    if (o.last !== undefined && seq <= o.last) return;
    if (!o.reading && seq === o.last! + 1) {
      o.last = seq;
      this.#dispatch(e);
      this.#flush(o);
      if (o.waiting.size === 0) {
        clearTimeout(o.timer);
        o.timer = undefined;
      }
      return;
    }
    if (o.waiting.has(seq)) return;
    o.waiting.set(seq, e);
    if (o.waiting.size > this.#reorderMax) {
      if (o.reading) this.#passOver(t, o, 'too many notifications waiting while the missing ones are read');
      else this.#fill(t, o).catch((err: unknown) => this.#onError(err));
      return;
    }
    if (!o.reading) this.#wait(t, o);
  }

  /** The tenant has no connection here: nothing waits (its order moves past what waited). */
  #unattended(o: TenantOrder): void {
    clearTimeout(o.timer);
    o.timer = undefined;
    for (const seq of o.waiting.keys()) if (o.last === undefined || seq > o.last) o.last = seq;
    o.waiting.clear();
  }

  /** Forgets the order of tenants without connections here and without events for `orderIdleMs`. */
  #sweep(now: number): void {
    this.#nextSweep = now + this.#orderIdleMs / 10;
    for (const [t, o] of this.#orders) {
      if (!o.reading && o.waiting.size === 0 && now - o.seenAt >= this.#orderIdleMs && !this.#byTenant.has(t)) this.#orders.delete(t);
    }
  }

  #wait(t: string, o: TenantOrder): void {
    o.timer ??= setTimeout(() => {
      o.timer = undefined;
      this.#fill(t, o).catch((err: unknown) => this.#onError(err));
    }, this.#reorderMs);
    o.timer.unref?.();
  }

  /** Drops waiting events at or before the last one handed out, then hands out those that follow it, in a row. */
  #flush(o: TenantOrder): void {
    if (o.waiting.size === 0) return;
    for (const seq of o.waiting.keys()) if (seq <= o.last!) o.waiting.delete(seq);
    for (let e = o.waiting.get(o.last! + 1); e; e = o.waiting.get(o.last! + 1)) {
      o.waiting.delete(o.last! + 1);
      o.last! += 1;
      this.#dispatch(e);
    }
  }

  /** Gives up waiting: hands out every waiting event in seq order, passing over the missing ones. */
  #passOver(t: string, o: TenantOrder, why: string): void {
    if (o.waiting.size === 0) return;
    const seqs = [...o.waiting.keys()].sort((a, b) => a - b);
    this.#onError(Object.assign(new Error(`notifications of tenant ${t} passed over: ${why}`), { tenant_id: t, after: o.last, next: seqs[0] }));
    for (const seq of seqs) {
      const e = o.waiting.get(seq)!;
      o.waiting.delete(seq);
      if (o.last !== undefined && seq <= o.last) continue;
      o.last = seq;
      this.#dispatch(e);
    }
  }

  /**
   * The wait ended (or too many wait, or the tenant's first event came): reads the missing
   * notifications from storage and hands them out in order with the waiting ones. Only the
   * gaps below the newest waiting seq at the start are read; events that come meanwhile wait
   * their own turn.
   */
  async #fill(t: string, o: TenantOrder): Promise<void> {
    if (o.reading) return;
    clearTimeout(o.timer);
    o.timer = undefined;
    const since = this.#since;
    if (!since) {
      this.#passOver(t, o, 'no storage to read them from');
      return;
    }
    o.reading = true;
    const current = () => this.#orders.get(t) === o;
    try {
      if (o.last === undefined) {
        const first = Math.min(...o.waiting.keys());
        const from = Math.max(0, first - 1 - READ_PAGE);
        const cutoff = (this.#connectedAt.get(t) ?? Date.now()) - LOOKBACK_MARGIN_MS;
        const rows = await since(t, from, first - 1 - from);
        if (!current()) return;
        // (Unless too many came meanwhile and went out without waiting: then it is too late for these.)
        if (o.last === undefined) {
          o.last = first - 1;
          for (const r of rows) {
            if (r.notification.seq < first && r.notification.created_at >= cutoff) {
              this.#dispatch({ kind: 'notification.created', tenant_id: t, notification: r.notification, recipients: r.recipients });
            }
          }
        }
        this.#flush(o);
      }
      const target = Math.max(0, ...o.waiting.keys());
      while (o.last! < target && o.waiting.size > 0) {
        const gapEnd = Math.min(...o.waiting.keys()) - 1;
        const rows = await since(t, o.last!, Math.min(READ_PAGE, gapEnd - o.last!));
        if (!current()) return;
        let moved = false;
        for (const r of rows) {
          const seq = r.notification.seq;
          if (seq <= o.last! || seq > gapEnd) continue;
          o.last = seq;
          moved = true;
          this.#dispatch({ kind: 'notification.created', tenant_id: t, notification: r.notification, recipients: r.recipients });
        }
        // Not in storage (yet) where this node reads: passed over rather than waited for forever.
        if (!moved) o.last = Math.max(o.last!, gapEnd);
        this.#flush(o);
      }
    } catch (err) {
      this.#onError(err);
      if (current()) {
        // The look back failed: the order starts at the first event, which goes out with the others.
        if (o.last === undefined && o.waiting.size > 0) o.last = Math.min(...o.waiting.keys()) - 1;
        if (o.last === undefined) this.#orders.delete(t);
        else this.#passOver(t, o, 'the missing ones could not be read');
      }
    } finally {
      o.reading = false;
    }
    if (!current()) return;
    // Events that came during the read: those in order go out, the others wait their turn.
    this.#flush(o);
    if (!this.#byTenant.has(t)) this.#unattended(o);
    else if (o.waiting.size > 0) this.#wait(t, o);
  }

  /** Hands a notification to the tenant's per-tenant queue (behind a broadcast in progress, if any). */
  #dispatch(e: NotificationEvent): void {
    const queue = this.#pending.get(e.tenant_id);
    if (queue) {
      queue.push(e);
      return;
    }
    if (e.recipients !== null) {
      this.#notifyUsers(e, e.recipients);
      return;
    }
    const q: NotificationEvent[] = [e];
    this.#pending.set(e.tenant_id, q);
    void this.#drain(e.tenant_id, q);
  }

  async #drain(tenantId: string, queue: NotificationEvent[]): Promise<void> {
    try {
      for (let e = queue.shift(); e; e = queue.shift()) {
        try {
          if (e.recipients !== null) this.#notifyUsers(e, e.recipients);
          else await this.#broadcast(e);
        } catch (err) {
          this.#onError(err);
        }
      }
    } finally {
      this.#pending.delete(tenantId);
      if (this.#pending.size === 0) {
        const waiters = this.#idle;
        this.#idle = [];
        for (const w of waiters) w();
      }
    }
  }

  #notifyUsers(e: NotificationEvent, userIds: readonly string[]): void {
    const users = this.#byTenant.get(e.tenant_id);
    if (!users) return;
    let data: string | undefined;
    for (const uid of userIds) {
      const set = users.get(uid);
      if (!set) continue;
      data ??= notificationFrame(e.notification);
      for (const c of set) c.deliverNotification(data, e.notification.id);
    }
  }

  /** Every connection of the tenant on this node (as connected when the broadcast began), in turns. */
  async #broadcast(e: NotificationEvent): Promise<void> {
    const users = this.#byTenant.get(e.tenant_id);
    if (!users) return;
    const data = notificationFrame(e.notification);
    const sets = [...users.values()];
    let written = 0;
    let turnStart = performance.now();
    for (const set of sets) {
      for (const c of set) {
        c.deliverNotification(data, e.notification.id);
        written++;
      }
      if (written >= this.#chunk || performance.now() - turnStart >= this.#sliceMs) {
        written = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
        turnStart = performance.now();
      }
    }
  }

  /** `frame` to every connection of `userIds` (but `except`); the `origin` connection gets its own `data` instead. */
  #toUsers(tenantId: string, userIds: readonly string[], frame: ServerFrame, except?: string, origin?: { connection: string; data: string }): void {
    const users = this.#byTenant.get(tenantId);
    if (!users) return;
    let data: string | undefined;
    for (const uid of userIds) {
      if (uid === except) continue;
      const set = users.get(uid);
      if (!set) continue;
      data ??= JSON.stringify(frame);
      for (const c of set) c.deliver(c.id === origin?.connection ? origin.data : data);
    }
  }
}
