/**
 * The front desk in SQLite (`DeskStore`, migration 020). The one writer makes each transaction
 * exclusive; a claim, a transfer and a close are conditional updates of the chat's row, and a
 * visitor's one open chat is a unique index.
 */
import type { Ack, Chat, ChatChange, DeskEventRecord, DeskStaff, DeskStore, Sla, Visit, Visitor, WidgetKey } from '../../desk/types.ts';
import { StatementCache, type Db } from './db.ts';

const CHAT = 'tenant_id, id, visitor_id, team_id, state, staff_id, created_at, queued_at, queue_round, claimed_at, first_response_at, closed_at, outcome, note, escalated_at, session_id, topic_id';
const VISITOR = 'tenant_id, id, fp, created_at, seen_at, track_id, url, title, referer, os, browser, patient_id';

type KeyRow = Omit<WidgetKey, 'origins'> & { origins: string };

const keyOf = (r: KeyRow): WidgetKey => ({ ...r, origins: JSON.parse(r.origins) as string[] });

function isUnique(err: unknown, what: string): boolean {
  const e = err as { code?: string; message?: string } | null;
  return e !== null && typeof e === 'object' && typeof e.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT') && (e.message ?? '').includes(what);
}

export class SqliteDeskStore implements DeskStore {
  readonly #sql: StatementCache;
  readonly #openChat: (chat: Chat) => { chat: Chat; created: boolean };
  readonly #track: (tenantId: string, visitorId: string, trackId: string, visit: Visit, now: number) => boolean;
  readonly #ensureStaff: (tenantId: string, userId: string, sid: string, now: number) => DeskStaff;
  readonly #ack: (tenantId: string, chatId: string, userId: string, now: number) => Ack;
  readonly #change: (sql: string, args: unknown[], tenantId: string, id: string) => ChatChange;

  constructor(db: Db) {
    const sql = (this.#sql = new StatementCache(db));
    const chat = (tenantId: string, id: string) => (sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND id = ?`).get(tenantId, id) as Chat | undefined) ?? null;
    this.#openChat = db.transaction((c: Chat) => {
      try {
        sql.get(`INSERT INTO desk_chats (${CHAT}) VALUES (@tenant_id, @id, @visitor_id, @team_id, @state, @staff_id, @created_at, @queued_at, @queue_round,
          @claimed_at, @first_response_at, @closed_at, @outcome, @note, @escalated_at, @session_id, @topic_id)`).run(c);
        return { chat: chat(c.tenant_id, c.id)!, created: true };
      } catch (err) {
        if (!isUnique(err, 'desk_chats.tenant_id, desk_chats.visitor_id')) throw err;
        const open = sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND visitor_id = ? AND state <> 'closed'`).get(c.tenant_id, c.visitor_id) as Chat;
        return { chat: open, created: false };
      }
    });
    this.#track = db.transaction((tenantId: string, visitorId: string, trackId: string, v: Visit, now: number) => {
      const r = sql.get('UPDATE desk_visitors SET seen_at = MAX(seen_at, ?), track_id = ?, url = ?, title = ?, referer = ?, os = ?, browser = ? WHERE tenant_id = ? AND id = ?')
        .run(now, trackId, v.url, v.title, v.referer, v.os, v.browser, tenantId, visitorId);
      if (r.changes === 0) return false;
      sql.get('INSERT OR IGNORE INTO desk_visits (tenant_id, id, visitor_id, url, title, referer, os, browser, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(tenantId, trackId, visitorId, v.url, v.title, v.referer, v.os, v.browser, now);
      return true;
    });
    this.#ensureStaff = db.transaction((tenantId: string, userId: string, sid: string, now: number) => {
      sql.get('INSERT OR IGNORE INTO desk_staff (tenant_id, user_id, sid, created_at) VALUES (?, ?, ?, ?)').run(tenantId, userId, sid, now);
      return sql.get('SELECT tenant_id, user_id, sid, created_at FROM desk_staff WHERE tenant_id = ? AND user_id = ?').get(tenantId, userId) as DeskStaff;
    });
    this.#ack = db.transaction((tenantId: string, chatId: string, userId: string, now: number) => {
      sql.get('INSERT OR IGNORE INTO desk_acks (tenant_id, chat_id, user_id, at) VALUES (?, ?, ?, ?)').run(tenantId, chatId, userId, now);
      return sql.get('SELECT chat_id, user_id, at FROM desk_acks WHERE tenant_id = ? AND chat_id = ? AND user_id = ?').get(tenantId, chatId, userId) as Ack;
    });
    this.#change = db.transaction((text: string, args: unknown[], tenantId: string, id: string): ChatChange => {
      const changed = sql.get(text).run(...args).changes > 0;
      const c = chat(tenantId, id);
      return changed && c ? { ok: true, chat: c } : { ok: false, chat: c };
    });
  }

  #chat(tenantId: string, id: string): Chat | null {
    return (this.#sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND id = ?`).get(tenantId, id) as Chat | undefined) ?? null;
  }

  async createKey(k: WidgetKey): Promise<void> {
    this.#sql.get('INSERT INTO desk_widget_keys (tenant_id, id, key_hash, name, origins, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(k.tenant_id, k.id, k.key_hash, k.name, JSON.stringify(k.origins), k.created_at, k.revoked_at);
  }

  async keyByHash(hash: string): Promise<WidgetKey | null> {
    const r = this.#sql.get('SELECT tenant_id, id, key_hash, name, origins, created_at, revoked_at FROM desk_widget_keys WHERE key_hash = ?').get(hash) as KeyRow | undefined;
    return r ? keyOf(r) : null;
  }

  async listKeys(tenantId: string): Promise<WidgetKey[]> {
    const rows = this.#sql.get('SELECT tenant_id, id, key_hash, name, origins, created_at, revoked_at FROM desk_widget_keys WHERE tenant_id = ? ORDER BY created_at, id').all(tenantId) as KeyRow[];
    return rows.map(keyOf);
  }

  async revokeKey(tenantId: string, id: string, now: number): Promise<boolean> {
    return this.#sql.get('UPDATE desk_widget_keys SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL').run(now, tenantId, id).changes > 0;
  }

  async createVisitor(v: Visitor): Promise<void> {
    this.#sql.get(`INSERT INTO desk_visitors (${VISITOR}) VALUES (@tenant_id, @id, @fp, @created_at, @seen_at, @track_id, @url, @title, @referer, @os, @browser, @patient_id)`).run(v);
  }

  async getVisitor(tenantId: string, id: string): Promise<Visitor | null> {
    return (this.#sql.get(`SELECT ${VISITOR} FROM desk_visitors WHERE tenant_id = ? AND id = ?`).get(tenantId, id) as Visitor | undefined) ?? null;
  }

  async getVisitors(tenantId: string, ids: readonly string[]): Promise<Visitor[]> {
    const out: Visitor[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const c = ids.slice(i, i + 500);
      out.push(...(this.#sql.get(`SELECT ${VISITOR} FROM desk_visitors WHERE tenant_id = ? AND id IN (${c.map(() => '?').join(',')})`).all(tenantId, ...c) as Visitor[]));
    }
    return out;
  }

  async track(tenantId: string, visitorId: string, trackId: string, visit: Visit, now: number): Promise<boolean> {
    return this.#track(tenantId, visitorId, trackId, visit, now);
  }

  async recentVisitors(tenantId: string, since: number, limit: number): Promise<Visitor[]> {
    return this.#sql.get(`SELECT ${VISITOR} FROM desk_visitors WHERE tenant_id = ? AND seen_at >= ? ORDER BY seen_at DESC, id LIMIT ?`).all(tenantId, since, limit) as Visitor[];
  }

  async touchVisitor(tenantId: string, visitorId: string, now: number): Promise<void> {
    this.#sql.get('UPDATE desk_visitors SET seen_at = MAX(seen_at, ?) WHERE tenant_id = ? AND id = ?').run(now, tenantId, visitorId);
  }

  async setPatient(tenantId: string, visitorId: string, patientId: string): Promise<boolean> {
    return this.#sql.get('UPDATE desk_visitors SET patient_id = ? WHERE tenant_id = ? AND id = ?').run(patientId, tenantId, visitorId).changes > 0;
  }

  async ensureStaff(tenantId: string, userId: string, sid: string, now: number): Promise<DeskStaff> {
    return this.#ensureStaff(tenantId, userId, sid, now);
  }

  async getStaff(tenantId: string, userId: string): Promise<DeskStaff | null> {
    return (this.#sql.get('SELECT tenant_id, user_id, sid, created_at FROM desk_staff WHERE tenant_id = ? AND user_id = ?').get(tenantId, userId) as DeskStaff | undefined) ?? null;
  }

  async listStaff(tenantId: string): Promise<DeskStaff[]> {
    return this.#sql.get('SELECT tenant_id, user_id, sid, created_at FROM desk_staff WHERE tenant_id = ? ORDER BY user_id').all(tenantId) as DeskStaff[];
  }

  async openChat(chat: Chat): Promise<{ chat: Chat; created: boolean }> {
    return this.#openChat(chat);
  }

  async getChat(tenantId: string, id: string): Promise<Chat | null> {
    return this.#chat(tenantId, id);
  }

  async chatsOfVisitor(tenantId: string, visitorId: string, limit: number): Promise<Chat[]> {
    return this.#sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND visitor_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`).all(tenantId, visitorId, limit) as Chat[];
  }

  async openChats(tenantId: string, limit: number): Promise<Chat[]> {
    return this.#sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND state IN ('request', 'active') ORDER BY created_at, id LIMIT ?`).all(tenantId, limit) as Chat[];
  }

  async chatsOfStaff(tenantId: string, staffId: string): Promise<Chat[]> {
    return this.#sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND staff_id = ? AND state = 'active' ORDER BY claimed_at, id`).all(tenantId, staffId) as Chat[];
  }

  async queue(tenantId: string, teamId?: string): Promise<Chat[]> {
    return teamId === undefined
      ? this.#sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND state = 'request' ORDER BY queued_at, id`).all(tenantId) as Chat[]
      : this.#sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND state = 'request' AND team_id = ? ORDER BY queued_at, id`).all(tenantId, teamId) as Chat[];
  }

  async claim(tenantId: string, id: string, staffId: string, now: number): Promise<ChatChange> {
    return this.#change(`UPDATE desk_chats SET state = 'active', staff_id = ?, claimed_at = COALESCE(claimed_at, ?) WHERE tenant_id = ? AND id = ? AND state = 'request'`,
      [staffId, now, tenantId, id], tenantId, id);
  }

  async transfer(tenantId: string, id: string, fromStaff: string, to: { staff: string } | { team: string }, note: string | null, now: number): Promise<ChatChange> {
    void now;
    return 'staff' in to
      ? this.#change(`UPDATE desk_chats SET staff_id = ?, note = ? WHERE tenant_id = ? AND id = ? AND state = 'active' AND staff_id = ?`,
        [to.staff, note, tenantId, id, fromStaff], tenantId, id)
      : this.#change(`UPDATE desk_chats SET state = 'request', staff_id = NULL, team_id = ?, note = ?, queue_round = queue_round + 1, escalated_at = NULL
          WHERE tenant_id = ? AND id = ? AND state = 'active' AND staff_id = ?`, [to.team, note, tenantId, id, fromStaff], tenantId, id);
  }

  async close(tenantId: string, id: string, outcome: string, note: string | null, now: number, holder?: string | null): Promise<ChatChange> {
    const base = `UPDATE desk_chats SET state = 'closed', outcome = ?, note = COALESCE(?, note), closed_at = ? WHERE tenant_id = ? AND id = ? AND state <> 'closed'`;
    if (holder === undefined) return this.#change(base, [outcome, note, now, tenantId, id], tenantId, id);
    if (holder === null) return this.#change(`${base} AND state = 'request'`, [outcome, note, now, tenantId, id], tenantId, id);
    return this.#change(`${base} AND staff_id = ?`, [outcome, note, now, tenantId, id, holder], tenantId, id);
  }

  async firstResponse(tenantId: string, id: string, staffId: string, now: number): Promise<boolean> {
    return this.#sql.get(`UPDATE desk_chats SET first_response_at = ? WHERE tenant_id = ? AND id = ? AND state = 'active' AND staff_id = ? AND first_response_at IS NULL`)
      .run(now, tenantId, id, staffId).changes > 0;
  }

  async escalate(tenantId: string, id: string, round: number, now: number): Promise<boolean> {
    return this.#sql.get(`UPDATE desk_chats SET escalated_at = ? WHERE tenant_id = ? AND id = ? AND state = 'request' AND queue_round = ? AND escalated_at IS NULL`)
      .run(now, tenantId, id, round).changes > 0;
  }

  async link(tenantId: string, id: string, sessionId: string, topicId: string): Promise<void> {
    this.#sql.get('UPDATE desk_chats SET session_id = ?, topic_id = ? WHERE tenant_id = ? AND id = ?').run(sessionId, topicId, tenantId, id);
  }

  async ack(tenantId: string, chatId: string, userId: string, now: number): Promise<Ack> {
    return this.#ack(tenantId, chatId, userId, now);
  }

  async acks(tenantId: string, chatIds: readonly string[]): Promise<Ack[]> {
    const out: Ack[] = [];
    for (let i = 0; i < chatIds.length; i += 500) {
      const c = chatIds.slice(i, i + 500);
      out.push(...(this.#sql.get(`SELECT chat_id, user_id, at FROM desk_acks WHERE tenant_id = ? AND chat_id IN (${c.map(() => '?').join(',')}) ORDER BY at, user_id`).all(tenantId, ...c) as Ack[]));
    }
    return out.sort((a, b) => a.at - b.at || (a.user_id < b.user_id ? -1 : 1));
  }

  async appendEvent(e: DeskEventRecord): Promise<void> {
    this.#sql.get('INSERT OR IGNORE INTO desk_events (tenant_id, mid, chat_id, type, body, at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.tenant_id, e.mid, e.chat_id, e.type, JSON.stringify(e.body), e.at);
  }

  async events(tenantId: string, chatId: string): Promise<DeskEventRecord[]> {
    const rows = this.#sql.get('SELECT tenant_id, mid, chat_id, type, body, at FROM desk_events WHERE tenant_id = ? AND chat_id = ? ORDER BY mid').all(tenantId, chatId) as (Omit<DeskEventRecord, 'body'> & { body: string })[];
    return rows.map((r) => ({ ...r, body: JSON.parse(r.body) as Record<string, unknown> }));
  }

  async eventsAfter(tenantId: string, chatIds: readonly string[] | null, after: string, limit: number): Promise<DeskEventRecord[]> {
    type Row = Omit<DeskEventRecord, 'body'> & { body: string };
    let rows: Row[];
    if (chatIds === null) {
      rows = this.#sql.get('SELECT tenant_id, mid, chat_id, type, body, at FROM desk_events WHERE tenant_id = ? AND mid > ? ORDER BY mid LIMIT ?').all(tenantId, after, limit) as Row[];
    } else {
      const c = chatIds.slice(0, 500);
      if (c.length === 0) return [];
      rows = this.#sql.get(`SELECT tenant_id, mid, chat_id, type, body, at FROM desk_events WHERE tenant_id = ? AND chat_id IN (${c.map(() => '?').join(',')}) AND mid > ? ORDER BY mid LIMIT ?`)
        .all(tenantId, ...c, after, limit) as Row[];
    }
    return rows.map((r) => ({ ...r, body: JSON.parse(r.body) as Record<string, unknown> }));
  }

  async putSla(tenantId: string, s: Sla): Promise<void> {
    this.#sql.get(`INSERT INTO desk_sla (tenant_id, team_id, sla_seconds, lead_id) VALUES (?, ?, ?, ?)
      ON CONFLICT (tenant_id, team_id) DO UPDATE SET sla_seconds = excluded.sla_seconds, lead_id = excluded.lead_id`).run(tenantId, s.team_id, s.sla_seconds, s.lead_id);
  }

  async getSla(tenantId: string, teamId: string): Promise<Sla | null> {
    return (this.#sql.get('SELECT team_id, sla_seconds, lead_id FROM desk_sla WHERE tenant_id = ? AND team_id = ?').get(tenantId, teamId) as Sla | undefined) ?? null;
  }

  async chatsCreated(tenantId: string, since: number, until: number, teamId: string | undefined, limit: number): Promise<Chat[]> {
    return teamId === undefined
      ? this.#sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id LIMIT ?`).all(tenantId, since, until, limit) as Chat[]
      : this.#sql.get(`SELECT ${CHAT} FROM desk_chats WHERE tenant_id = ? AND created_at >= ? AND created_at < ? AND team_id = ? ORDER BY created_at, id LIMIT ?`).all(tenantId, since, until, teamId, limit) as Chat[];
  }

  async openCounts(): Promise<{ request: number; active: number }> {
    const rows = this.#sql.get(`SELECT state, COUNT(*) AS n FROM desk_chats WHERE state <> 'closed' GROUP BY state`).all() as { state: string; n: number }[];
    const by = new Map(rows.map((r) => [r.state, r.n]));
    return { request: by.get('request') ?? 0, active: by.get('active') ?? 0 };
  }
}
