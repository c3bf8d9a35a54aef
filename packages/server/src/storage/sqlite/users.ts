import type { UserListQuery, UserStore } from '../../domain/ports.ts';
import type { User, UserInput } from '../../domain/types.ts';
import { StatementCache, type Db } from './db.ts';

interface UserRow extends Omit<User, 'disabled'> {
  disabled: number;
}

export const toUser = (r: UserRow): User => ({
  id: r.id, role: r.role, name: r.name, avatar: r.avatar, disabled: r.disabled === 1, created_at: r.created_at, updated_at: r.updated_at,
});

const COLS = 'id, role, name, avatar, disabled, created_at, updated_at';

export class SqliteUserStore implements UserStore {
  readonly #get;
  readonly #upsert: (tenantId: string, u: UserInput, now: number) => { user: User; created: boolean };
  readonly #sql: StatementCache;

  constructor(db: Db) {
    this.#sql = new StatementCache(db);
    const get = (this.#get = db.prepare(`SELECT ${COLS} FROM users WHERE tenant_id = ? AND id = ?`));
    const upsert = db.prepare(
      `INSERT INTO users (tenant_id, id, role, name, avatar, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, id) DO UPDATE SET role = excluded.role, name = excluded.name, avatar = excluded.avatar,
         disabled = excluded.disabled, updated_at = excluded.updated_at`,
    );
    this.#upsert = db.transaction((tenantId: string, u: UserInput, now: number) => {
      const existed = get.get(tenantId, u.id) !== undefined;
      upsert.run(tenantId, u.id, u.role, u.name, u.avatar, u.disabled ? 1 : 0, now, now);
      return { user: toUser(get.get(tenantId, u.id) as UserRow), created: !existed };
    });
  }

  async upsertUser(tenantId: string, u: UserInput, now: number): Promise<{ user: User; created: boolean }> {
    return this.#upsert(tenantId, u, now);
  }

  async getUser(tenantId: string, id: string): Promise<User | null> {
    const r = this.#get.get(tenantId, id) as UserRow | undefined;
    return r ? toUser(r) : null;
  }

  async getUsers(tenantId: string, ids: readonly string[]): Promise<User[]> {
    if (ids.length === 0) return [];
    const out: User[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.#sql
        .get(`SELECT ${COLS} FROM users WHERE tenant_id = ? AND id IN (${chunk.map(() => '?').join(',')})`)
        .all(tenantId, ...chunk) as UserRow[];
      out.push(...rows.map(toUser));
    }
    return out;
  }

  async listUsers(tenantId: string, q: UserListQuery): Promise<User[]> {
    // The primary key (tenant_id, id) gives the order and the page start.
    const where = ['tenant_id = ?', "role != 'system'"];
    const args: unknown[] = [tenantId];
    if (q.after !== undefined) (where.push('id > ?'), args.push(q.after));
    if (q.role !== undefined) (where.push('role = ?'), args.push(q.role));
    if (q.disabled !== undefined) (where.push('disabled = ?'), args.push(q.disabled ? 1 : 0));
    const rows = this.#sql.get(`SELECT ${COLS} FROM users WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`).all(...args, q.limit) as UserRow[];
    return rows.map(toUser);
  }
}
