/**
 * Conferences in PostgreSQL (`ConferenceStore`, migration 011), for several nodes on one
 * database: `update` is a conditional write on the conference's version (of two nodes
 * changing a conference at once one wins, the other gets null and reads again), and a
 * transition's seq is taken inside that write, after the version check holds the row.
 */
import type { ConferenceTransition } from '@careline/protocol';
import type { Conference, ConferenceParticipant, ConferenceStore, ConferenceWrite, NewTransition, TokenRow } from '../../conferences/store.ts';
import type { PgDb, Queryable } from './db.ts';

type Row = Omit<Conference, 'participants'>;

const COLS = `tenant_id, id, status, title, starts_at, duration_seconds, ends_at, vertical, language, created_by, created_by_role, created_at,
  opened_at, started_at, ended_at, end_reason, conversation_id, topic_id, room, room_secret, room_pin, arrived_at, admitted_at, version, info_version`;
const PCOLS = 'user_id, name, role, careline_user, token_version, revoked_at, joined_at, left_at';

export class PgConferenceStore implements ConferenceStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async #get(q: Queryable, tenantId: string, id: string): Promise<Conference | null> {
    const [{ rows }, { rows: parts }] = await Promise.all([
      q.query<Row>(`SELECT ${COLS} FROM conferences WHERE tenant_id = $1 AND id = $2`, [tenantId, id]),
      q.query<ConferenceParticipant>(`SELECT ${PCOLS} FROM conference_participants WHERE tenant_id = $1 AND conference_id = $2 ORDER BY ord`, [tenantId, id]),
    ]);
    return rows[0] ? { ...rows[0], participants: parts } : null;
  }

  async #extras(q: Queryable, c: Conference, w: ConferenceWrite): Promise<void> {
    if (w.revokeTokensOf?.length) {
      await q.query(
        'UPDATE conference_tokens SET revoked_at = $4 WHERE tenant_id = $1 AND conference_id = $2 AND user_id = ANY($3::text[]) AND revoked_at IS NULL',
        [c.tenant_id, c.id, w.revokeTokensOf, w.at ?? Date.now()],
      );
    }
    if (w.issue?.length) {
      await q.query(
        `INSERT INTO conference_tokens (token_hash, tenant_id, conference_id, user_id, version, revoked_at)
         SELECT x.hash, $1, $2, x.user_id, x.version, NULL FROM json_to_recordset($3::json) AS x(hash text, user_id text, version bigint)`,
        [c.tenant_id, c.id, JSON.stringify(w.issue)],
      );
    }
    if (w.transition) {
      const t = w.transition;
      await q.query(
        `INSERT INTO conference_transitions (tenant_id, conference_id, seq, from_status, to_status, action, by_id, reason, at, node)
         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9 FROM conference_transitions WHERE tenant_id = $1 AND conference_id = $2`,
        [c.tenant_id, c.id, t.from, t.to, t.action, t.by, t.reason, t.at, t.node],
      );
    }
  }

  async create(c: Conference, w: ConferenceWrite & { transition: NewTransition }): Promise<Conference> {
    const { participants, ...r } = c;
    await this.#db.tx(async (q) => {
      await q.query(
        `INSERT INTO conferences (${COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, 1, $24)`,
        [r.tenant_id, r.id, r.status, r.title, r.starts_at, r.duration_seconds, r.ends_at, r.vertical, r.language, r.created_by, r.created_by_role, r.created_at,
          r.opened_at, r.started_at, r.ended_at, r.end_reason, r.conversation_id, r.topic_id, r.room, r.room_secret, r.room_pin, r.arrived_at, r.admitted_at, r.info_version],
      );
      await q.query(
        `INSERT INTO conference_participants (tenant_id, conference_id, ${PCOLS}, ord)
         SELECT $1, $2, x.user_id, x.name, x.role, x.careline_user, x.token_version, x.revoked_at, x.joined_at, x.left_at, x.ord
         FROM json_to_recordset($3::json) AS x(user_id text, name text, role text, careline_user boolean, token_version bigint, revoked_at bigint, joined_at bigint, left_at bigint, ord int)`,
        [c.tenant_id, c.id, JSON.stringify(participants.map((p, ord) => ({ ...p, ord })))],
      );
      await this.#extras(q, c, w);
    });
    return (await this.#get(this.#db, c.tenant_id, c.id))!;
  }

  get(tenantId: string, id: string): Promise<Conference | null> {
    return this.#get(this.#db, tenantId, id);
  }

  async update(next: Conference, w: ConferenceWrite = {}): Promise<Conference | null> {
    const { participants, ...r } = next;
    return this.#db.tx(async (q) => {
      const { rowCount } = await q.query(
        `UPDATE conferences SET status = $4, title = $5, starts_at = $6, duration_seconds = $7, ends_at = $8, vertical = $9, language = $10,
           opened_at = $11, started_at = $12, ended_at = $13, end_reason = $14, arrived_at = $15, admitted_at = $16, info_version = $17, version = version + 1
         WHERE tenant_id = $1 AND id = $2 AND version = $3`,
        [r.tenant_id, r.id, r.version, r.status, r.title, r.starts_at, r.duration_seconds, r.ends_at, r.vertical, r.language,
          r.opened_at, r.started_at, r.ended_at, r.end_reason, r.arrived_at, r.admitted_at, r.info_version],
      );
      if (rowCount === 0) return null;
      await q.query(
        `UPDATE conference_participants p SET token_version = x.token_version, revoked_at = x.revoked_at, joined_at = x.joined_at, left_at = x.left_at
         FROM json_to_recordset($3::json) AS x(user_id text, token_version bigint, revoked_at bigint, joined_at bigint, left_at bigint)
         WHERE p.tenant_id = $1 AND p.conference_id = $2 AND p.user_id = x.user_id`,
        [r.tenant_id, r.id, JSON.stringify(participants)],
      );
      await this.#extras(q, next, w);
      return (await this.#get(q, r.tenant_id, r.id))!;
    });
  }

  async token(hash: string): Promise<TokenRow | null> {
    const { rows } = await this.#db.query<TokenRow>('SELECT tenant_id, conference_id, user_id, version, revoked_at FROM conference_tokens WHERE token_hash = $1', [hash]);
    return rows[0] ?? null;
  }

  async transitions(tenantId: string, id: string): Promise<ConferenceTransition[]> {
    const { rows } = await this.#db.query<ConferenceTransition>(
      `SELECT seq, from_status AS "from", to_status AS "to", action, by_id AS by, reason, at, node
       FROM conference_transitions WHERE tenant_id = $1 AND conference_id = $2 ORDER BY seq`,
      [tenantId, id],
    );
    return rows;
  }

  async waiting(tenantId: string, conversationId: string): Promise<Conference[]> {
    const { rows } = await this.#db.query<{ id: string }>(
      `SELECT id FROM conferences WHERE tenant_id = $1 AND conversation_id = $2 AND arrived_at IS NOT NULL AND admitted_at IS NULL
         AND status IN ('scheduled', 'open') ORDER BY arrived_at, id LIMIT 1000`,
      [tenantId, conversationId],
    );
    const all = await Promise.all(rows.map((r) => this.#get(this.#db, tenantId, r.id)));
    return all.filter((c): c is Conference => c !== null);
  }
}
