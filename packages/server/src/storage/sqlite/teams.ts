/** Care teams, user tags and per-tenant settings in SQLite. */
import type { SettingsStore, TeamStore } from '../../domain/ports.ts';
import type { ConnectionPolicy, Team, TenantSettings } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import type { Db } from './db.ts';

export class SqliteTeamStore implements TeamStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async putTeam(tenantId: string, id: string, name: string, members: readonly string[], now: number): Promise<{ team: Team; created: boolean }> {
    const db = this.#db;
    return db.transaction(() => {
      const ids = [...new Set(members)];
      const found = new Set<string>();
      for (let i = 0; i < ids.length; i += 500) {
        const c = ids.slice(i, i + 500);
        for (const u of db.prepare(`SELECT id FROM users WHERE tenant_id = ? AND id IN (${c.map(() => '?').join(',')})`).pluck().all(tenantId, ...c) as string[]) found.add(u);
      }
      const missing = ids.filter((u) => !found.has(u));
      if (missing.length) throw fail('user.not_found', `Unknown users: ${missing.slice(0, 20).join(', ')}`, { missing });
      const created = db.prepare('SELECT 1 FROM teams WHERE tenant_id = ? AND id = ?').get(tenantId, id) === undefined;
      db.prepare(
        `INSERT INTO teams (tenant_id, id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`,
      ).run(tenantId, id, name, now, now);
      db.prepare('DELETE FROM team_members WHERE tenant_id = ? AND team_id = ?').run(tenantId, id);
      const ins = db.prepare('INSERT INTO team_members (tenant_id, team_id, user_id) VALUES (?, ?, ?)');
      for (const u of ids) ins.run(tenantId, id, u);
      return { team: this.#get(tenantId, id)!, created };
    })();
  }

  async getTeam(tenantId: string, id: string): Promise<Team | null> {
    return this.#get(tenantId, id);
  }

  #get(tenantId: string, id: string): Team | null {
    const r = this.#db.prepare('SELECT id, name, created_at, updated_at FROM teams WHERE tenant_id = ? AND id = ?').get(tenantId, id) as Omit<Team, 'members'> | undefined;
    if (!r) return null;
    const members = this.#db.prepare('SELECT user_id FROM team_members WHERE tenant_id = ? AND team_id = ? ORDER BY user_id').pluck().all(tenantId, id) as string[];
    return { id: r.id, name: r.name, members, created_at: r.created_at, updated_at: r.updated_at };
  }

  async deleteTeam(tenantId: string, id: string): Promise<boolean> {
    return this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM team_members WHERE tenant_id = ? AND team_id = ?').run(tenantId, id);
      return this.#db.prepare('DELETE FROM teams WHERE tenant_id = ? AND id = ?').run(tenantId, id).changes > 0;
    })();
  }

  async setTags(tenantId: string, userId: string, tags: readonly string[], _now: number): Promise<string[]> {
    const db = this.#db;
    return db.transaction(() => {
      if (db.prepare('SELECT 1 FROM users WHERE tenant_id = ? AND id = ?').get(tenantId, userId) === undefined) throw fail('user.not_found');
      db.prepare('DELETE FROM user_tags WHERE tenant_id = ? AND user_id = ?').run(tenantId, userId);
      const ins = db.prepare('INSERT INTO user_tags (tenant_id, tag, user_id) VALUES (?, ?, ?)');
      for (const tag of new Set(tags)) ins.run(tenantId, tag, userId);
      return this.#tags(tenantId, userId);
    })();
  }

  async getTags(tenantId: string, userId: string): Promise<string[]> {
    return this.#tags(tenantId, userId);
  }

  #tags(tenantId: string, userId: string): string[] {
    return this.#db.prepare('SELECT tag FROM user_tags WHERE tenant_id = ? AND user_id = ? ORDER BY tag').pluck().all(tenantId, userId) as string[];
  }
}

const DEFAULTS: TenantSettings = { connection_policy: 'allow_many', updated_at: null };

export class SqliteSettingsStore implements SettingsStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async get(tenantId: string): Promise<TenantSettings> {
    const r = this.#db.prepare('SELECT connection_policy, updated_at FROM tenant_settings WHERE tenant_id = ?').get(tenantId) as
      | { connection_policy: ConnectionPolicy; updated_at: number }
      | undefined;
    return r ? { connection_policy: r.connection_policy, updated_at: r.updated_at } : { ...DEFAULTS };
  }

  async update(tenantId: string, patch: Partial<Omit<TenantSettings, 'updated_at'>>, now: number): Promise<TenantSettings> {
    return this.#db.transaction(() => {
      const cur = (this.#db.prepare('SELECT connection_policy FROM tenant_settings WHERE tenant_id = ?').get(tenantId) as { connection_policy: ConnectionPolicy } | undefined)
        ?? DEFAULTS;
      const next = { connection_policy: patch.connection_policy ?? cur.connection_policy, updated_at: now };
      this.#db
        .prepare(
          `INSERT INTO tenant_settings (tenant_id, connection_policy, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (tenant_id) DO UPDATE SET connection_policy = excluded.connection_policy, updated_at = excluded.updated_at`,
        )
        .run(tenantId, next.connection_policy, now);
      return next;
    })();
  }
}
