/**
 * User actions: integrators upsert their users; anyone in the tenant may look a user up.
 * An update is published (`user.changed`), so that every node closes the connections of a user
 * who is now disabled or has another role.
 */
import { UserRoles, type UserRole } from '@careline/protocol';
import type { EventBus, PresenceStore, Storage, UserListQuery } from './ports.ts';
import type { Principal, User } from './types.ts';
import { requireApp } from './access.ts';
import { fail } from './errors.ts';
import { USER_ID_RE } from './ids.ts';

export interface UpsertInput {
  role: UserRole;
  name: string;
  avatar?: string | null;
  disabled?: boolean;
}


export class UserService {
  readonly #storage: Pick<Storage, 'users'>;
  readonly #presence: PresenceStore;
  readonly #bus: EventBus;
  readonly #now: () => number;

  constructor(storage: Pick<Storage, 'users'>, presence: PresenceStore, bus: EventBus, now: () => number = Date.now) {
    this.#storage = storage;
    this.#presence = presence;
    this.#bus = bus;
    this.#now = now;
  }

  async upsert(p: Principal, id: string, input: UpsertInput): Promise<{ user: User; created: boolean }> {
    requireApp(p, 'manages users');
    if (!USER_ID_RE.test(id)) throw fail('request.invalid', 'A user id is 1–128 characters without spaces, "/", "?", "#", ":" or ",".');
    if (id === 'system' || input.role === 'system') throw fail('request.invalid', 'The system user is built in.');
    if (!UserRoles.includes(input.role)) throw fail('request.invalid', `role must be one of ${UserRoles.join(', ')}`);
    const r = await this.#storage.users.upsertUser(p.tenantId, { id, role: input.role, name: input.name, avatar: input.avatar ?? null, disabled: input.disabled ?? false }, this.#now());
    if (!r.created) this.#bus.publish({ kind: 'user.changed', tenant_id: p.tenantId, user_id: id, role: r.user.role, disabled: r.user.disabled });
    return r;
  }

  /** The tenant's users for its integrator: id order, a page after `after`; `next_after` is null on the last page. */
  async list(p: Principal, q: UserListQuery): Promise<{ users: User[]; next_after: string | null }> {
    requireApp(p, 'lists users');
    if (!Number.isInteger(q.limit) || q.limit < 1) throw fail('request.invalid', 'limit must be a positive integer.');
    // One more than asked tells whether another page follows.
    const users = await this.#storage.users.listUsers(p.tenantId, { ...q, limit: q.limit + 1 });
    const more = users.length > q.limit;
    if (more) users.length = q.limit;
    return { users, next_after: more ? users[users.length - 1]!.id : null };
  }

  async get(p: Principal, id: string): Promise<User> {
    const u = await this.#storage.users.getUser(p.tenantId, id);
    if (!u) throw fail('user.not_found');
    return u;
  }

  async status(p: Principal, id: string): Promise<{ user_id: string; online: boolean; last_seen: number | null; connections: number }> {
    await this.get(p, id);
    return { user_id: id, ...(await this.#presence.status(p.tenantId, id)) };
  }
}
