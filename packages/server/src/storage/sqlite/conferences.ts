/**
 * Conferences in SQLite (`ConferenceStore`, migration 019). The one writer makes every
 * transaction exclusive; `update` writes only over the version it was computed from.
 */
import type { ConferenceTransition } from '@careline/protocol';
import type { Conference, ConferenceParticipant, ConferenceStore, ConferenceWrite, NewTransition, TokenRow } from '../../conferences/store.ts';
import type { Db } from './db.ts';

type Row = Omit<Conference, 'participants'>;
type PartRow = Omit<ConferenceParticipant, 'careline_user'> & { careline_user: number };

const COLS = `tenant_id, id, status, title, starts_at, duration_seconds, ends_at, vertical, language, created_by, created_by_role, created_at,
  opened_at, started_at, ended_at, end_reason, conversation_id, topic_id, room, room_secret, room_pin, arrived_at, admitted_at, version, info_version`;
const PCOLS = 'user_id, name, role, careline_user, token_version, revoked_at, joined_at, left_at';

export class SqliteConferenceStore implements ConferenceStore {
  readonly #get: (tenantId: string, id: string) => Conference | null;
  readonly #create: (c: Conference, w: ConferenceWrite & { transition: NewTransition }) => Conference;
  readonly #update: (next: Conference, w: ConferenceWrite) => Conference | null;
  readonly #token;
  readonly #transitions;
  readonly #waiting;

  constructor(db: Db) {
    const row = db.prepare(`SELECT ${COLS} FROM conferences WHERE tenant_id = ? AND id = ?`);
    const parts = db.prepare(`SELECT ${PCOLS} FROM conference_participants WHERE tenant_id = ? AND conference_id = ? ORDER BY ord`);
    const get = (this.#get = (tenantId: string, id: string): Conference | null => {
      const r = row.get(tenantId, id) as Row | undefined;
      if (!r) return null;
      const ps = (parts.all(tenantId, id) as PartRow[]).map((p) => ({ ...p, careline_user: p.careline_user === 1 }));
      return { ...r, participants: ps };
    });
    const insert = db.prepare(`INSERT INTO conferences (${COLS}) VALUES (@tenant_id, @id, @status, @title, @starts_at, @duration_seconds, @ends_at,
      @vertical, @language, @created_by, @created_by_role, @created_at, @opened_at, @started_at, @ended_at, @end_reason, @conversation_id, @topic_id,
      @room, @room_secret, @room_pin, @arrived_at, @admitted_at, 1, @info_version)`);
    const insertPart = db.prepare(`INSERT INTO conference_participants (tenant_id, conference_id, ${PCOLS}, ord) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insertToken = db.prepare('INSERT INTO conference_tokens (token_hash, tenant_id, conference_id, user_id, version, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)');
    const revokeTokens = db.prepare('UPDATE conference_tokens SET revoked_at = ? WHERE tenant_id = ? AND conference_id = ? AND user_id = ? AND revoked_at IS NULL');
    const lastSeq = db.prepare('SELECT COALESCE(MAX(seq), 0) FROM conference_transitions WHERE tenant_id = ? AND conference_id = ?').pluck();
    const insertTransition = db.prepare(`INSERT INTO conference_transitions (tenant_id, conference_id, seq, from_status, to_status, action, by_id, reason, at, node)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const extras = (c: Conference, w: ConferenceWrite) => {
      for (const u of w.revokeTokensOf ?? []) revokeTokens.run(w.at ?? Date.now(), c.tenant_id, c.id, u);
      for (const t of w.issue ?? []) insertToken.run(t.hash, c.tenant_id, c.id, t.user_id, t.version);
      if (w.transition) {
        const t = w.transition;
        const seq = (lastSeq.get(c.tenant_id, c.id) as number) + 1;
        insertTransition.run(c.tenant_id, c.id, seq, t.from, t.to, t.action, t.by, t.reason, t.at, t.node);
      }
    };
    this.#create = db.transaction((c: Conference, w: ConferenceWrite & { transition: NewTransition }): Conference => {
      const { participants, ...r } = c;
      insert.run(r);
      for (const [i, p] of participants.entries()) {
        insertPart.run(c.tenant_id, c.id, p.user_id, p.name, p.role, p.careline_user ? 1 : 0, p.token_version, p.revoked_at, p.joined_at, p.left_at, i);
      }
      extras(c, w);
      return get(c.tenant_id, c.id)!;
    });
    const change = db.prepare(`UPDATE conferences SET status = @status, title = @title, starts_at = @starts_at, duration_seconds = @duration_seconds,
      ends_at = @ends_at, vertical = @vertical, language = @language, opened_at = @opened_at, started_at = @started_at, ended_at = @ended_at,
      end_reason = @end_reason, arrived_at = @arrived_at, admitted_at = @admitted_at, info_version = @info_version, version = version + 1
      WHERE tenant_id = @tenant_id AND id = @id AND version = @version`);
    const changePart = db.prepare(`UPDATE conference_participants SET token_version = ?, revoked_at = ?, joined_at = ?, left_at = ?
      WHERE tenant_id = ? AND conference_id = ? AND user_id = ?`);
    this.#update = db.transaction((next: Conference, w: ConferenceWrite): Conference | null => {
      const { participants, ...r } = next;
      if (change.run(r).changes === 0) return null;
      for (const p of participants) changePart.run(p.token_version, p.revoked_at, p.joined_at, p.left_at, next.tenant_id, next.id, p.user_id);
      extras(next, w);
      return get(next.tenant_id, next.id)!;
    });
    this.#token = db.prepare('SELECT tenant_id, conference_id, user_id, version, revoked_at FROM conference_tokens WHERE token_hash = ?');
    this.#transitions = db.prepare(`SELECT seq, from_status AS "from", to_status AS "to", action, by_id AS by, reason, at, node
      FROM conference_transitions WHERE tenant_id = ? AND conference_id = ? ORDER BY seq`);
    this.#waiting = db.prepare(`SELECT id FROM conferences WHERE tenant_id = ? AND conversation_id = ? AND arrived_at IS NOT NULL AND admitted_at IS NULL
      AND status IN ('scheduled', 'open') ORDER BY arrived_at, id LIMIT 1000`).pluck();
  }

  async create(c: Conference, w: ConferenceWrite & { transition: NewTransition }): Promise<Conference> {
    return this.#create(c, w);
  }

  async get(tenantId: string, id: string): Promise<Conference | null> {
    return this.#get(tenantId, id);
  }

  async update(next: Conference, w: ConferenceWrite = {}): Promise<Conference | null> {
    return this.#update(next, w);
  }

  async token(hash: string): Promise<TokenRow | null> {
    return (this.#token.get(hash) as TokenRow | undefined) ?? null;
  }

  async transitions(tenantId: string, id: string): Promise<ConferenceTransition[]> {
    return this.#transitions.all(tenantId, id) as ConferenceTransition[];
  }

  async waiting(tenantId: string, conversationId: string): Promise<Conference[]> {
    return (this.#waiting.all(tenantId, conversationId) as string[]).map((id) => this.#get(tenantId, id)).filter((c): c is Conference => c !== null);
  }
}
