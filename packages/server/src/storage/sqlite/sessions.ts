import type { AuthSessionStore } from '../../domain/ports.ts';
import type { AuthSession, User } from '../../domain/types.ts';
import type { Db } from './db.ts';
import { toUser } from './users.ts';

interface SessionUserRow extends AuthSession {
  u_id: string | null; u_role: User['role']; u_name: string; u_avatar: string | null; u_disabled: number; u_created_at: number; u_updated_at: number;
}

export class SqliteAuthSessionStore implements AuthSessionStore {
  readonly #get;
  readonly #getWithUser;
  readonly #insert;
  readonly #revoke;
  readonly #prune;
  constructor(db: Db) {
    this.#get = db.prepare('SELECT * FROM auth_sessions WHERE id = ?');
    this.#getWithUser = db.prepare(
      `SELECT s.*, u.id AS u_id, u.role AS u_role, u.name AS u_name, u.avatar AS u_avatar, u.disabled AS u_disabled,
              u.created_at AS u_created_at, u.updated_at AS u_updated_at
       FROM auth_sessions s LEFT JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id WHERE s.id = ?`,
    );
    this.#insert = db.prepare('INSERT INTO auth_sessions (id, tenant_id, user_id, platform, device_id, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.#revoke = db.prepare('UPDATE auth_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    this.#prune = db.prepare(
      `DELETE FROM auth_sessions WHERE rowid IN (
         SELECT rowid FROM auth_sessions WHERE expires_at < @before
         UNION ALL SELECT rowid FROM auth_sessions WHERE revoked_at < @before
         LIMIT @limit)`,
    );
  }

  async createSession(s: AuthSession): Promise<void> {
    this.#insert.run(s.id, s.tenant_id, s.user_id, s.platform, s.device_id, s.created_at, s.expires_at, s.revoked_at);
  }

  async getSession(id: string): Promise<AuthSession | null> {
    return (this.#get.get(id) as AuthSession | undefined) ?? null;
  }

  async getSessionWithUser(id: string): Promise<{ session: AuthSession; user: User | null } | null> {
    const r = this.#getWithUser.get(id) as SessionUserRow | undefined;
    if (!r) return null;
    const session: AuthSession = {
      id: r.id, tenant_id: r.tenant_id, user_id: r.user_id, platform: r.platform, device_id: r.device_id,
      created_at: r.created_at, expires_at: r.expires_at, revoked_at: r.revoked_at,
    };
    const user = r.u_id === null ? null : toUser({
      id: r.u_id, role: r.u_role, name: r.u_name, avatar: r.u_avatar, disabled: r.u_disabled, created_at: r.u_created_at, updated_at: r.u_updated_at,
    });
    return { session, user };
  }

  async revokeSession(id: string, at: number): Promise<boolean> {
    return this.#revoke.run(at, id).changes > 0;
  }

  async pruneSessions(before: number, limit: number): Promise<number> {
    return this.#prune.run({ before, limit }).changes;
  }
}
