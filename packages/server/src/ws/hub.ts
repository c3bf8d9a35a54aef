/**
 * The connections of this node, by tenant and user, and the fan-out of bus events to them.
 * Each event is serialised once and the same string written to every connection that gets it.
 */
import { CloseCodes, type ServerFrame } from '@careline/protocol';
import type { DomainEvent } from '../domain/events.ts';
import type { Connection } from './connection.ts';

type UserMap = Map<string, Set<Connection>>;

export class Hub {
  readonly #byTenant = new Map<string, UserMap>();
  readonly #byId = new Map<string, Connection>();
  readonly #watchers = new Map<string, Map<string, Set<Connection>>>();

  get size(): number {
    return this.#byId.size;
  }

  connections(): IterableIterator<Connection> {
    return this.#byId.values();
  }

  /** Adds a connection; true if it is the user's first on this node. */
  add(c: Connection): boolean {
    this.#byId.set(c.id, c);
    const { tenantId, userId } = c.principal;
    let users = this.#byTenant.get(tenantId);
    if (!users) this.#byTenant.set(tenantId, (users = new Map()));
    let set = users.get(userId);
    if (!set) users.set(userId, (set = new Set()));
    set.add(c);
    return set.size === 1;
  }

  /** Removes a connection; true if it was registered (false if removed before). */
  remove(c: Connection): boolean {
    if (!this.#byId.delete(c.id)) return false;
    for (const u of c.presence) this.watch(c, u, false);
    const { tenantId, userId } = c.principal;
    const users = this.#byTenant.get(tenantId);
    const set = users?.get(userId);
    if (set) {
      set.delete(c);
      if (set.size === 0) {
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
      c.presence.add(userId);
    } else {
      c.presence.delete(userId);
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
              c.deliver((frame ??= JSON.stringify({ type: 'message', message: m } satisfies ServerFrame)), m.conversation_id, m.seq);
            }
          }
        }
        return;
      }
      case 'read.updated':
        return this.#toUsers(e.tenant_id, e.recipients, { type: 'read', conversation_id: e.conversation_id, user_id: e.user_id, seq: e.seq });
      case 'typing':
        return this.#toUsers(e.tenant_id, e.recipients, { type: 'typing', conversation_id: e.conversation_id, user_id: e.user_id, state: e.state }, e.user_id);
      case 'conversation.changed':
        return this.#toUsers(e.tenant_id, e.recipients, { type: 'conversation', event: e.event, conversation_id: e.conversation_id });
      case 'session.revoked':
        for (const c of [...this.#byId.values()]) {
          if (c.principal.tenantId === e.tenant_id && c.principal.sessionId === e.session_id) c.close(CloseCodes.TOKEN_REVOKED, 'token revoked');
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

  #toUsers(tenantId: string, userIds: readonly string[], frame: ServerFrame, except?: string): void {
    const users = this.#byTenant.get(tenantId);
    if (!users) return;
    let data: string | undefined;
    for (const uid of userIds) {
      if (uid === except) continue;
      const set = users.get(uid);
      if (!set) continue;
      data ??= JSON.stringify(frame);
      for (const c of set) c.deliver(data);
    }
  }
}
