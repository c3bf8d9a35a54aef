/**
 * The connections of this node, by tenant and user, and the fan-out of bus events to them.
 * Each event is serialised once and the same string written to every connection that gets it.
 *
 * Notifications of a tenant reach its connections in the order they were stored (a client
 * keeps the newest id it got as its catch-up cursor, so it must never get a newer one before
 * an older one). A tenant broadcast is written to this node's connections of the tenant in
 * turns of at most `broadcastChunk` connections and `broadcastSliceMs` milliseconds, yielding to
 * the event loop between turns so that other traffic goes on; notifications of the tenant that
 * come meanwhile wait behind it.
 */
import { Disconnect, EventKinds, type ServerFrame } from '@careline/protocol';
import type { DomainEvent } from '../domain/events.ts';
import type { Connection } from './connection.ts';
import { messageFrame } from './frames.ts';

/**
 * A user's connections on this node. An array, not a Set: almost every user has one or two,
 * and an array of one costs a third of a Set's memory (this is per idle connection).
 */
type UserMap = Map<string, Connection[]>;
type NotificationEvent = Extract<DomainEvent, { kind: 'notification.created' }>;

export interface HubOptions {
  /** Most connections written per turn of the event loop during a broadcast (default 1000). */
  broadcastChunk?: number;
  /**
   * Most time one turn of a broadcast may take, in ms (default 5): a turn ends after
   * `broadcastChunk` connections or this, whichever comes first. A write to a socket costs
   * 10–40 µs, so 1000 of them could keep messages waiting for tens of milliseconds.
   */
  broadcastSliceMs?: number;
  /** Reports a failure of a background fan-out. */
  onError?: (err: unknown) => void;
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
  #idle: (() => void)[] = [];

  constructor(o: HubOptions = {}) {
    this.#chunk = Math.max(1, o.broadcastChunk ?? 1000);
    this.#sliceMs = Math.max(0, o.broadcastSliceMs ?? 5);
    this.#onError = o.onError ?? (() => {});
  }

  /** Resolves when no broadcast fan-out is in progress. */
  idle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  get size(): number {
    return this.#byId.size;
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
    if (!users) this.#byTenant.set(tenantId, (users = new Map()));
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
        if (users!.size === 0) this.#byTenant.delete(tenantId);
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
      case 'presence.changed': {
        const set = this.#watchers.get(e.tenant_id)?.get(e.user_id);
        if (!set) return;
        const frame = JSON.stringify({ type: 'presence', user_id: e.user_id, online: e.online, last_seen: e.last_seen } satisfies ServerFrame);
        for (const c of set) c.deliver(frame);
        return;
      }
    }
  }

  #onNotification(e: NotificationEvent): void {
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

  #notificationFrame(e: NotificationEvent): string {
    return JSON.stringify({ type: 'notification', kind: e.notification.kind, notification: e.notification } satisfies ServerFrame);
  }

  #notifyUsers(e: NotificationEvent, userIds: readonly string[]): void {
    const users = this.#byTenant.get(e.tenant_id);
    if (!users) return;
    let data: string | undefined;
    for (const uid of userIds) {
      const set = users.get(uid);
      if (!set) continue;
      data ??= this.#notificationFrame(e);
      for (const c of set) c.deliverNotification(data, e.notification.id);
    }
  }

  /** Every connection of the tenant on this node (as connected when the broadcast began), in turns. */
  async #broadcast(e: NotificationEvent): Promise<void> {
    const users = this.#byTenant.get(e.tenant_id);
    if (!users) return;
    const data = this.#notificationFrame(e);
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
