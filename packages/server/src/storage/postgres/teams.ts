/**
 * Care teams and user tags in PostgreSQL (migration 002), with the semantics of the SQLite
 * store. Replacing a team's members or a user's tags is one transaction that first locks what
 * it replaces (the team's row, by its upsert; the user's row), so two replacements at once
 * apply one after the other and the result is one of them, never a mix.
 */
import type { TeamStore } from '../../domain/ports.ts';
import type { Team } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import type { PgDb, Queryable } from './db.ts';

interface TeamRow {
  id: string;
  name: string;
  created_at: number;
  updated_at: number;
  members: string[];
}

const TEAM = `SELECT t.id, t.name, t.created_at, t.updated_at,
    ARRAY(SELECT m.user_id FROM team_members m WHERE m.tenant_id = t.tenant_id AND m.team_id = t.id ORDER BY m.user_id) AS members
  FROM teams t WHERE t.tenant_id = $1 AND t.id = $2`;

const toTeam = (r: TeamRow): Team => ({
  id: r.id, name: r.name, members: r.members, created_at: Number(r.created_at), updated_at: Number(r.updated_at),
});

async function team(q: Queryable, tenantId: string, id: string): Promise<Team | null> {
  const { rows } = await q.query<TeamRow>(TEAM, [tenantId, id]);
  return rows[0] ? toTeam(rows[0]) : null;
}

export class PgTeamStore implements TeamStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async putTeam(tenantId: string, id: string, name: string, members: readonly string[], now: number): Promise<{ team: Team; created: boolean }> {
    const ids = [...new Set(members)];
    return this.#db.tx(async (q) => {
      const { rows: found } = await q.query<{ id: string }>('SELECT id FROM users WHERE tenant_id = $1 AND id = ANY($2::text[])', [tenantId, ids]);
      const known = new Set(found.map((r) => r.id));
      const missing = ids.filter((u) => !known.has(u));
      if (missing.length) throw fail('user.not_found', `Unknown users: ${missing.slice(0, 20).join(', ')}`, { missing });
      // The upsert locks the team's row until commit; xmax = 0: the row was inserted, not updated.
      const { rows: [up] } = await q.query<{ created: boolean }>(
        `INSERT INTO teams (tenant_id, id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at
         RETURNING (xmax = 0) AS created`,
        [tenantId, id, name, now],
      );
      // Two statements: in one, the delete would not be done before the insert of a member kept.
      void q.query('DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2', [tenantId, id]);
      void q.query('INSERT INTO team_members (tenant_id, team_id, user_id) SELECT $1::text, $2::text, u FROM unnest($3::text[]) AS u', [tenantId, id, ids]);
      return { team: (await team(q, tenantId, id))!, created: up!.created };
    });
  }

  async getTeam(tenantId: string, id: string): Promise<Team | null> {
    return team(this.#db, tenantId, id);
  }

  async deleteTeam(tenantId: string, id: string): Promise<boolean> {
    // One statement: the members and the team go together.
    const { rowCount } = await this.#db.write(
      `WITH members AS (DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2)
       DELETE FROM teams WHERE tenant_id = $1 AND id = $2`,
      [tenantId, id],
    );
    return rowCount > 0;
  }

  async setTags(tenantId: string, userId: string, tags: readonly string[], _now: number): Promise<string[]> {
    return this.#db.tx(async (q) => {
      // The user's row, locked: another replacement of the same tags waits for this one.
      const { rows } = await q.query('SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE', [tenantId, userId]);
      if (!rows.length) throw fail('user.not_found');
      void q.query('DELETE FROM user_tags WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
      const { rows: out } = await q.query<{ tag: string }>(
        `WITH added AS (INSERT INTO user_tags (tenant_id, tag, user_id) SELECT $1::text, t, $2::text FROM unnest($3::text[]) AS t RETURNING tag)
         SELECT tag FROM added ORDER BY tag`,
        [tenantId, userId, [...new Set(tags)]],
      );
      return out.map((r) => r.tag);
    });
  }

  async getTags(tenantId: string, userId: string): Promise<string[]> {
    const { rows } = await this.#db.query<{ tag: string }>('SELECT tag FROM user_tags WHERE tenant_id = $1 AND user_id = $2 ORDER BY tag', [tenantId, userId]);
    return rows.map((r) => r.tag);
  }
}
