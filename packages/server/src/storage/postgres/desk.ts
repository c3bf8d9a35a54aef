/**
 * The front desk in PostgreSQL (`DeskStore`, migration 012), for several nodes on one
 * database. A claim, a transfer and a close are single conditional UPDATEs (… AND state =
 * 'request' RETURNING), so of two nodes claiming a chat at once exactly one gets the row back;
 * a visitor's one open chat is the unique index `desk_chats_open`.
 */
import type { Ack, Chat, ChatChange, DeskEventRecord, DeskStaff, DeskStore, Sla, Visit, Visitor, WidgetKey } from '../../desk/types.ts';
import { isUniqueViolation, type PgDb } from './db.ts';

const CHAT = 'tenant_id, id, visitor_id, team_id, state, staff_id, created_at, queued_at, queue_round, claimed_at, first_response_at, closed_at, outcome, note, escalated_at, session_id, topic_id';
const VISITOR = 'tenant_id, id, fp, created_at, seen_at, track_id, url, title, referer, os, browser, patient_id';
const KEY = 'tenant_id, id, key_hash, name, origins, created_at, revoked_at';

type KeyRow = Omit<WidgetKey, 'origins'> & { origins: string };
const keyOf = (r: KeyRow): WidgetKey => ({ ...r, origins: JSON.parse(r.origins) as string[] });

export class PgDeskStore implements DeskStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async #change(text: string, values: unknown[], tenantId: string, id: string): Promise<ChatChange> {
    const { rows } = await this.#db.write<Chat>(`${text} RETURNING ${CHAT}`, values);
    if (rows[0]) return { ok: true, chat: rows[0] };
    return { ok: false, chat: await this.getChat(tenantId, id) };
  }

  async createKey(k: WidgetKey): Promise<void> {
    await this.#db.write(`INSERT INTO desk_widget_keys (${KEY}) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [k.tenant_id, k.id, k.key_hash, k.name, JSON.stringify(k.origins), k.created_at, k.revoked_at]);
  }

  async keyByHash(hash: string): Promise<WidgetKey | null> {
    const { rows } = await this.#db.query<KeyRow>(`SELECT ${KEY} FROM desk_widget_keys WHERE key_hash = $1`, [hash]);
    return rows[0] ? keyOf(rows[0]) : null;
  }

  async listKeys(tenantId: string): Promise<WidgetKey[]> {
    const { rows } = await this.#db.query<KeyRow>(`SELECT ${KEY} FROM desk_widget_keys WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId]);
    return rows.map(keyOf);
  }

  async revokeKey(tenantId: string, id: string, now: number): Promise<boolean> {
    const r = await this.#db.write('UPDATE desk_widget_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL', [now, tenantId, id]);
    return r.rowCount > 0;
  }

  async createVisitor(v: Visitor): Promise<void> {
    await this.#db.write(`INSERT INTO desk_visitors (${VISITOR}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [v.tenant_id, v.id, v.fp, v.created_at, v.seen_at, v.track_id, v.url, v.title, v.referer, v.os, v.browser, v.patient_id]);
  }

  async getVisitor(tenantId: string, id: string): Promise<Visitor | null> {
    const { rows } = await this.#db.query<Visitor>(`SELECT ${VISITOR} FROM desk_visitors WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return rows[0] ?? null;
  }

  async getVisitors(tenantId: string, ids: readonly string[]): Promise<Visitor[]> {
    const { rows } = await this.#db.query<Visitor>(`SELECT ${VISITOR} FROM desk_visitors WHERE tenant_id = $1 AND id = ANY($2::text[])`, [tenantId, ids]);
    return rows;
  }

  async track(tenantId: string, visitorId: string, trackId: string, v: Visit, now: number): Promise<boolean> {
    return this.#db.tx(async (q) => {
      const r = await q.query('UPDATE desk_visitors SET seen_at = GREATEST(seen_at, $1), track_id = $2, url = $3, title = $4, referer = $5, os = $6, browser = $7 WHERE tenant_id = $8 AND id = $9',
        [now, trackId, v.url, v.title, v.referer, v.os, v.browser, tenantId, visitorId]);
      if (r.rowCount === 0) return false;
      await q.query(`INSERT INTO desk_visits (tenant_id, id, visitor_id, url, title, referer, os, browser, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT DO NOTHING`, [tenantId, trackId, visitorId, v.url, v.title, v.referer, v.os, v.browser, now]);
      return true;
    });
  }

  async recentVisitors(tenantId: string, since: number, limit: number): Promise<Visitor[]> {
    const { rows } = await this.#db.query<Visitor>(`SELECT ${VISITOR} FROM desk_visitors WHERE tenant_id = $1 AND seen_at >= $2 ORDER BY seen_at DESC, id LIMIT $3`, [tenantId, since, limit]);
    return rows;
  }

  async touchVisitor(tenantId: string, visitorId: string, now: number): Promise<void> {
    await this.#db.write('UPDATE desk_visitors SET seen_at = GREATEST(seen_at, $1) WHERE tenant_id = $2 AND id = $3', [now, tenantId, visitorId]);
  }

  async setPatient(tenantId: string, visitorId: string, patientId: string): Promise<boolean> {
    return (await this.#db.write('UPDATE desk_visitors SET patient_id = $1 WHERE tenant_id = $2 AND id = $3', [patientId, tenantId, visitorId])).rowCount > 0;
  }

  async ensureStaff(tenantId: string, userId: string, sid: string, now: number): Promise<DeskStaff> {
    await this.#db.write('INSERT INTO desk_staff (tenant_id, user_id, sid, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [tenantId, userId, sid, now]);
    return (await this.getStaff(tenantId, userId))!;
  }

  async getStaff(tenantId: string, userId: string): Promise<DeskStaff | null> {
    const { rows } = await this.#db.query<DeskStaff>('SELECT tenant_id, user_id, sid, created_at FROM desk_staff WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
    return rows[0] ?? null;
  }

  async listStaff(tenantId: string): Promise<DeskStaff[]> {
    const { rows } = await this.#db.query<DeskStaff>('SELECT tenant_id, user_id, sid, created_at FROM desk_staff WHERE tenant_id = $1 ORDER BY user_id', [tenantId]);
    return rows;
  }

  async openChat(c: Chat): Promise<{ chat: Chat; created: boolean }> {
    try {
      const { rows } = await this.#db.write<Chat>(
        `INSERT INTO desk_chats (${CHAT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING ${CHAT}`,
        [c.tenant_id, c.id, c.visitor_id, c.team_id, c.state, c.staff_id, c.created_at, c.queued_at, c.queue_round, c.claimed_at, c.first_response_at,
          c.closed_at, c.outcome, c.note, c.escalated_at, c.session_id, c.topic_id],
      );
      return { chat: rows[0]!, created: true };
    } catch (err) {
      if (!isUniqueViolation(err, 'desk_chats_open')) throw err;
      const { rows } = await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND visitor_id = $2 AND state <> 'closed'`, [c.tenant_id, c.visitor_id]);
      if (!rows[0]) throw err;
      return { chat: rows[0], created: false };
    }
  }

  async getChat(tenantId: string, id: string): Promise<Chat | null> {
    const { rows } = await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return rows[0] ?? null;
  }

  async chatsOfVisitor(tenantId: string, visitorId: string, limit: number): Promise<Chat[]> {
    const { rows } = await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND visitor_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3`, [tenantId, visitorId, limit]);
    return rows;
  }

  async openChats(tenantId: string, limit: number): Promise<Chat[]> {
    const { rows } = await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND state IN ('request', 'active') ORDER BY created_at, id LIMIT $2`, [tenantId, limit]);
    return rows;
  }

  async chatsOfStaff(tenantId: string, staffId: string): Promise<Chat[]> {
    const { rows } = await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND staff_id = $2 AND state = 'active' ORDER BY claimed_at, id`, [tenantId, staffId]);
    return rows;
  }

  async queue(tenantId: string, teamId?: string): Promise<Chat[]> {
    const { rows } = teamId === undefined
      ? await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND state = 'request' ORDER BY queued_at, id`, [tenantId])
      : await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND state = 'request' AND team_id = $2 ORDER BY queued_at, id`, [tenantId, teamId]);
    return rows;
  }

  claim(tenantId: string, id: string, staffId: string, now: number): Promise<ChatChange> {
    return this.#change(`UPDATE desk_chats SET state = 'active', staff_id = $1, claimed_at = COALESCE(claimed_at, $2) WHERE tenant_id = $3 AND id = $4 AND state = 'request'`,
      [staffId, now, tenantId, id], tenantId, id);
  }

  transfer(tenantId: string, id: string, fromStaff: string, to: { staff: string } | { team: string }, note: string | null, now: number): Promise<ChatChange> {
    void now;
    return 'staff' in to
      ? this.#change(`UPDATE desk_chats SET staff_id = $1, note = $2 WHERE tenant_id = $3 AND id = $4 AND state = 'active' AND staff_id = $5`,
        [to.staff, note, tenantId, id, fromStaff], tenantId, id)
      : this.#change(`UPDATE desk_chats SET state = 'request', staff_id = NULL, team_id = $1, note = $2, queue_round = queue_round + 1, escalated_at = NULL
          WHERE tenant_id = $3 AND id = $4 AND state = 'active' AND staff_id = $5`, [to.team, note, tenantId, id, fromStaff], tenantId, id);
  }

  close(tenantId: string, id: string, outcome: string, note: string | null, now: number, holder?: string | null): Promise<ChatChange> {
    const base = `UPDATE desk_chats SET state = 'closed', outcome = $1, note = COALESCE($2, note), closed_at = $3 WHERE tenant_id = $4 AND id = $5 AND state <> 'closed'`;
    if (holder === undefined) return this.#change(base, [outcome, note, now, tenantId, id], tenantId, id);
    if (holder === null) return this.#change(`${base} AND state = 'request'`, [outcome, note, now, tenantId, id], tenantId, id);
    return this.#change(`${base} AND staff_id = $6`, [outcome, note, now, tenantId, id, holder], tenantId, id);
  }

  async firstResponse(tenantId: string, id: string, staffId: string, now: number): Promise<boolean> {
    const r = await this.#db.write(`UPDATE desk_chats SET first_response_at = $1 WHERE tenant_id = $2 AND id = $3 AND state = 'active' AND staff_id = $4 AND first_response_at IS NULL`,
      [now, tenantId, id, staffId]);
    return r.rowCount > 0;
  }

  async escalate(tenantId: string, id: string, round: number, now: number): Promise<boolean> {
    const r = await this.#db.write(`UPDATE desk_chats SET escalated_at = $1 WHERE tenant_id = $2 AND id = $3 AND state = 'request' AND queue_round = $4 AND escalated_at IS NULL`,
      [now, tenantId, id, round]);
    return r.rowCount > 0;
  }

  async link(tenantId: string, id: string, sessionId: string, topicId: string): Promise<void> {
    await this.#db.write('UPDATE desk_chats SET session_id = $1, topic_id = $2 WHERE tenant_id = $3 AND id = $4', [sessionId, topicId, tenantId, id]);
  }

  async ack(tenantId: string, chatId: string, userId: string, now: number): Promise<Ack> {
    await this.#db.write('INSERT INTO desk_acks (tenant_id, chat_id, user_id, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [tenantId, chatId, userId, now]);
    const { rows } = await this.#db.query<Ack>('SELECT chat_id, user_id, at FROM desk_acks WHERE tenant_id = $1 AND chat_id = $2 AND user_id = $3', [tenantId, chatId, userId]);
    return rows[0]!;
  }

  async acks(tenantId: string, chatIds: readonly string[]): Promise<Ack[]> {
    const { rows } = await this.#db.query<Ack>('SELECT chat_id, user_id, at FROM desk_acks WHERE tenant_id = $1 AND chat_id = ANY($2::text[]) ORDER BY at, user_id', [tenantId, chatIds]);
    return rows;
  }

  async appendEvent(e: DeskEventRecord): Promise<void> {
    await this.#db.write('INSERT INTO desk_events (tenant_id, mid, chat_id, type, body, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
      [e.tenant_id, e.mid, e.chat_id, e.type, JSON.stringify(e.body), e.at]);
  }

  async events(tenantId: string, chatId: string): Promise<DeskEventRecord[]> {
    const { rows } = await this.#db.query<Omit<DeskEventRecord, 'body'> & { body: string }>(
      'SELECT tenant_id, mid, chat_id, type, body, at FROM desk_events WHERE tenant_id = $1 AND chat_id = $2 ORDER BY mid', [tenantId, chatId]);
    return rows.map((r) => ({ ...r, body: JSON.parse(r.body) as Record<string, unknown> }));
  }

  async eventsAfter(tenantId: string, chatIds: readonly string[] | null, after: string, limit: number): Promise<DeskEventRecord[]> {
    const { rows } = chatIds === null
      ? await this.#db.query<Omit<DeskEventRecord, 'body'> & { body: string }>(
        'SELECT tenant_id, mid, chat_id, type, body, at FROM desk_events WHERE tenant_id = $1 AND mid > $2 ORDER BY mid LIMIT $3', [tenantId, after, limit])
      : await this.#db.query<Omit<DeskEventRecord, 'body'> & { body: string }>(
        'SELECT tenant_id, mid, chat_id, type, body, at FROM desk_events WHERE tenant_id = $1 AND chat_id = ANY($2::text[]) AND mid > $3 ORDER BY mid LIMIT $4', [tenantId, chatIds, after, limit]);
    return rows.map((r) => ({ ...r, body: JSON.parse(r.body) as Record<string, unknown> }));
  }

  async putSla(tenantId: string, s: Sla): Promise<void> {
    await this.#db.write(`INSERT INTO desk_sla (tenant_id, team_id, sla_seconds, lead_id) VALUES ($1, $2, $3, $4)
      ON CONFLICT (tenant_id, team_id) DO UPDATE SET sla_seconds = EXCLUDED.sla_seconds, lead_id = EXCLUDED.lead_id`, [tenantId, s.team_id, s.sla_seconds, s.lead_id]);
  }

  async getSla(tenantId: string, teamId: string): Promise<Sla | null> {
    const { rows } = await this.#db.query<Sla>('SELECT team_id, sla_seconds, lead_id FROM desk_sla WHERE tenant_id = $1 AND team_id = $2', [tenantId, teamId]);
    return rows[0] ?? null;
  }

  async chatsCreated(tenantId: string, since: number, until: number, teamId: string | undefined, limit: number): Promise<Chat[]> {
    const { rows } = teamId === undefined
      ? await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at, id LIMIT $4`, [tenantId, since, until, limit])
      : await this.#db.query<Chat>(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 AND team_id = $4 ORDER BY created_at, id LIMIT $5`,
        [tenantId, since, until, teamId, limit]);
    return rows;
  }

  async openCounts(): Promise<{ request: number; active: number }> {
    const { rows } = await this.#db.query<{ state: string; n: string }>(`SELECT state, COUNT(*) AS n FROM desk_chats WHERE state <> 'closed' GROUP BY state`);
    const by = new Map(rows.map((r) => [r.state, Number(r.n)]));
    return { request: by.get('request') ?? 0, active: by.get('active') ?? 0 };
  }
}
