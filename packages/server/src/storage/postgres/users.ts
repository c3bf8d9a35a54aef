import type { UserListQuery, UserStore } from '../../domain/ports.ts';
import type { User, UserInput } from '../../domain/types.ts';
import type { PgDb } from './db.ts';

export const USER_COLS = 'id, role, name, avatar, disabled, created_at, updated_at';

export const toUser = (r: User): User => ({
  id: r.id, role: r.role, name: r.name, avatar: r.avatar, disabled: r.disabled, created_at: r.created_at, updated_at: r.updated_at,
});

export class PgUserStore implements UserStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async upsertUser(tenantId: string, u: UserInput, now: number): Promise<{ user: User; created: boolean }> {
    // One statement: the row as written, and whether it was inserted (xmax 0) or updated.
    const { rows } = await this.#db.write<User & { inserted: boolean }>(
        `INSERT INTO users (tenant_id, id, role, name, avatar, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (tenant_id, id) DO UPDATE SET role = excluded.role, name = excluded.name, avatar = excluded.avatar,
           disabled = excluded.disabled, updated_at = excluded.updated_at
         RETURNING ${USER_COLS}, (xmax = 0) AS inserted`,
        [tenantId, u.id, u.role, u.name, u.avatar, u.disabled, now],
      );
    const r = rows[0]!;
    return { user: toUser(r), created: r.inserted };
  }

  async getUser(tenantId: string, id: string): Promise<User | null> {
    const { rows } = await this.#db.query<User>(`SELECT ${USER_COLS} FROM users WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async getUsers(tenantId: string, ids: readonly string[]): Promise<User[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.#db.query<User>(`SELECT ${USER_COLS} FROM users WHERE tenant_id = $1 AND id = ANY($2::text[])`, [tenantId, ids]);
    return rows.map(toUser);
  }

  async listUsers(tenantId: string, q: UserListQuery): Promise<User[]> {
    // The primary key (tenant_id, id) gives the order (bytes: COLLATE "C") and the page start.
    // NULL parameters switch a filter off, so the statement text is one.
    const { rows } = await this.#db.query<User>(
      `SELECT ${USER_COLS} FROM users
       WHERE tenant_id = $1 AND role <> 'system' AND id > COALESCE($2::text, '') AND ($3::text IS NULL OR role = $3)
         AND ($4::boolean IS NULL OR disabled = $4)
       ORDER BY id LIMIT $5`,
      [tenantId, q.after ?? null, q.role ?? null, q.disabled ?? null, q.limit],
    );
    return rows.map(toUser);
  }
}
