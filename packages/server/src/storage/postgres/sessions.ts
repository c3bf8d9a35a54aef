import type { AuthSessionStore } from '../../domain/ports.ts';
import type { AuthSession, User } from '../../domain/types.ts';
import type { PgDb } from './db.ts';
import { toUser } from './users.ts';

const COLS = 'id, tenant_id, user_id, platform, device_id, created_at, expires_at, revoked_at';

interface SessionUserRow extends AuthSession {
  u_id: string | null; u_role: User['role']; u_name: string; u_avatar: string | null; u_disabled: boolean; u_created_at: number; u_updated_at: number;
}

export class PgAuthSessionStore implements AuthSessionStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async createSession(s: AuthSession): Promise<void> {
    await this.#db.write(`INSERT INTO auth_sessions (${COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
      s.id, s.tenant_id, s.user_id, s.platform, s.device_id, s.created_at, s.expires_at, s.revoked_at,
    ]);
  }

  async getSession(id: string): Promise<AuthSession | null> {
    const { rows } = await this.#db.query<AuthSession>(`SELECT ${COLS} FROM auth_sessions WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  async getSessionWithUser(id: string): Promise<{ session: AuthSession; user: User | null } | null> {
    const { rows } = await this.#db.query<SessionUserRow>(
      `SELECT s.id, s.tenant_id, s.user_id, s.platform, s.device_id, s.created_at, s.expires_at, s.revoked_at,
              u.id AS u_id, u.role AS u_role, u.name AS u_name, u.avatar AS u_avatar, u.disabled AS u_disabled,
              u.created_at AS u_created_at, u.updated_at AS u_updated_at
       FROM auth_sessions s LEFT JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id WHERE s.id = $1`,
      [id],
    );
    const r = rows[0];
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
    const { rowCount } = await this.#db.write('UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
    return rowCount > 0;
  }

  /** One statement: the ids to delete (by either index, at most `limit`), then the delete. */
  async pruneSessions(before: number, limit: number): Promise<number> {
    const { rowCount } = await this.#db.write(
      `DELETE FROM auth_sessions WHERE id IN (
         SELECT id FROM (
           SELECT id FROM auth_sessions WHERE expires_at < $1
           UNION SELECT id FROM auth_sessions WHERE revoked_at < $1
         ) d LIMIT $2)`,
      [before, limit],
    );
    return rowCount;
  }
}
