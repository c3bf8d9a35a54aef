/** Care teams and user tags in SQLite. */
import type { TeamStore } from '../../domain/ports.ts';
import type { Team } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import { StatementCache, type Db } from './db.ts';

export class SqliteTeamStore implements TeamStore {
  readonly #sql: StatementCache;
  readonly #team;
  readonly #members;
  readonly #tags;
  readonly #put: (tenantId: string, id: string, name: string, members: readonly string[], now: number) => { team: Team; created: boolean };
  readonly #delete: (tenantId: string, id: string) => boolean;
  readonly #setTags: (tenantId: string, userId: string, tags: readonly string[]) => string[];

  constructor(db: Db) {
    const sql = (this.#sql = new StatementCache(db));
    this.#team = db.prepare('SELECT id, name, created_at, updated_at FROM teams WHERE tenant_id = ? AND id = ?');
    this.#members = db.prepare('SELECT user_id FROM team_members WHERE tenant_id = ? AND team_id = ? ORDER BY user_id').pluck();
    this.#tags = db.prepare('SELECT tag FROM user_tags WHERE tenant_id = ? AND user_id = ? ORDER BY tag').pluck();
    const teamExists = db.prepare('SELECT 1 FROM teams WHERE tenant_id = ? AND id = ?');
    const upsertTeam = db.prepare(
      `INSERT INTO teams (tenant_id, id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`,
    );
    const clearMembers = db.prepare('DELETE FROM team_members WHERE tenant_id = ? AND team_id = ?');
    const addMember = db.prepare('INSERT INTO team_members (tenant_id, team_id, user_id) VALUES (?, ?, ?)');
    const deleteTeam = db.prepare('DELETE FROM teams WHERE tenant_id = ? AND id = ?');
    const userExists = db.prepare('SELECT 1 FROM users WHERE tenant_id = ? AND id = ?');
    const clearTags = db.prepare('DELETE FROM user_tags WHERE tenant_id = ? AND user_id = ?');
    const addTag = db.prepare('INSERT INTO user_tags (tenant_id, tag, user_id) VALUES (?, ?, ?)');

    this.#put = db.transaction((tenantId: string, id: string, name: string, members: readonly string[], now: number) => {
      const ids = [...new Set(members)];
      const found = new Set<string>();
      for (let i = 0; i < ids.length; i += 500) {
        const c = ids.slice(i, i + 500);
        for (const u of sql.pluck(`SELECT id FROM users WHERE tenant_id = ? AND id IN (${c.map(() => '?').join(',')})`).all(tenantId, ...c) as string[]) found.add(u);
      }
      const missing = ids.filter((u) => !found.has(u));
      if (missing.length) throw fail('user.not_found', `Unknown users: ${missing.slice(0, 20).join(', ')}`, { missing });
      const created = teamExists.get(tenantId, id) === undefined;
      upsertTeam.run(tenantId, id, name, now, now);
      clearMembers.run(tenantId, id);
      for (const u of ids) addMember.run(tenantId, id, u);
      return { team: this.#get(tenantId, id)!, created };
    });
    this.#delete = db.transaction((tenantId: string, id: string) => {
      clearMembers.run(tenantId, id);
      return deleteTeam.run(tenantId, id).changes > 0;
    });
    this.#setTags = db.transaction((tenantId: string, userId: string, tags: readonly string[]) => {
      if (userExists.get(tenantId, userId) === undefined) throw fail('user.not_found');
      clearTags.run(tenantId, userId);
      for (const tag of new Set(tags)) addTag.run(tenantId, tag, userId);
      return this.#tags.all(tenantId, userId) as string[];
    });
  }

  async putTeam(tenantId: string, id: string, name: string, members: readonly string[], now: number): Promise<{ team: Team; created: boolean }> {
    return this.#put(tenantId, id, name, members, now);
  }

  async getTeam(tenantId: string, id: string): Promise<Team | null> {
    return this.#get(tenantId, id);
  }

  #get(tenantId: string, id: string): Team | null {
    const r = this.#team.get(tenantId, id) as Omit<Team, 'members'> | undefined;
    if (!r) return null;
    const members = this.#members.all(tenantId, id) as string[];
    return { id: r.id, name: r.name, members, created_at: r.created_at, updated_at: r.updated_at };
  }

  async deleteTeam(tenantId: string, id: string): Promise<boolean> {
    return this.#delete(tenantId, id);
  }

  async setTags(tenantId: string, userId: string, tags: readonly string[], _now: number): Promise<string[]> {
    return this.#setTags(tenantId, userId, tags);
  }

  async getTags(tenantId: string, userId: string): Promise<string[]> {
    return this.#tags.all(tenantId, userId) as string[];
  }
}
