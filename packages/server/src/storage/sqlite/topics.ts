import type { TopicStore } from '../../domain/ports.ts';
import type { Message, NewMessage, NewTopic, Topic, TopicQuery, TopicState, TopicStatsRow } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { groupTopicStats, type TopicStatInput } from '../rows.ts';
import { StatementCache, type Db } from './db.ts';
import type { SqliteMessageStore } from './messages.ts';

const STATE_SQL: Record<TopicState, string> = {
  unreplied: 't.status = 0 AND t.reply = 0',
  in_progress: 't.status = 0 AND t.reply = 1',
  replied: 't.status = 10 AND t.reply = 1',
  ended_unreplied: 't.status = 10 AND t.reply = 0',
};

/** A page's cursor: the sort key (created_at, id) of its last topic. */
const cursorOf = (t: Topic): string => encodeCursor([t.created_at, t.id]);

/** WHERE clauses for a topic query (alias `t`). */
function filters(tenantId: string, q: Omit<TopicQuery, 'limit' | 'cursor'>): { where: string[]; args: unknown[] } {
  const where = ['t.tenant_id = ?'];
  const args: unknown[] = [tenantId];
  const eq = (col: string, v: unknown) => {
    if (v !== undefined) (where.push(`${col} = ?`), args.push(v));
  };
  eq('t.session_id', q.session_id);
  eq('t.patient_id', q.patient_id);
  eq('t.team_id', q.team_id);
  eq('t.doctor_id', q.doctor_id);
  if (q.member !== undefined) {
    where.push('t.session_id IN (SELECT p.conversation_id FROM participants p WHERE p.tenant_id = t.tenant_id AND p.user_id = ?)');
    args.push(q.member);
  }
  if (q.viewer !== undefined) {
    where.push(`(t.session_id IN (SELECT p.conversation_id FROM participants p WHERE p.tenant_id = t.tenant_id AND p.user_id = ?)
      OR t.team_id IN (SELECT m.team_id FROM team_members m WHERE m.tenant_id = t.tenant_id AND m.user_id = ?))`);
    args.push(q.viewer, q.viewer);
  }
  if (q.session_type !== undefined) {
    where.push('t.session_id IN (SELECT c.id FROM conversations c WHERE c.tenant_id = t.tenant_id AND c.type = ?)');
    args.push(q.session_type);
  }
  if (q.since !== undefined) (where.push('t.created_at >= ?'), args.push(q.since));
  if (q.until !== undefined) (where.push('t.created_at < ?'), args.push(q.until));
  if (q.state !== undefined) where.push(STATE_SQL[q.state]);
  return { where, args };
}

type StartResult = { topic: Topic; created: boolean; message: Message | null };
type EndResult = { topic: Topic; messages: Message[] } | null;
type EnterResult = { topic: Topic; message: Message } | null;

export class SqliteTopicStore implements TopicStore {
  readonly #sql: StatementCache;
  readonly #messages: SqliteMessageStore;
  readonly #get;
  readonly #latest;
  readonly #created;
  readonly #start: (tenantId: string, t: NewTopic, start: NewMessage) => StartResult;
  readonly #end: (tenantId: string, topicId: string, at: number, by: string, messages: readonly NewMessage[]) => EndResult;
  readonly #enter: (tenantId: string, topicId: string, at: number, message: NewMessage) => EnterResult;

  constructor(db: Db, messages: SqliteMessageStore) {
    this.#sql = new StatementCache(db);
    this.#messages = messages;
    const get = (this.#get = db.prepare('SELECT * FROM topics WHERE tenant_id = ? AND id = ?'));
    this.#latest = db.prepare('SELECT * FROM topics WHERE tenant_id = ? AND session_id = ? ORDER BY created_at DESC, start_seq DESC LIMIT 1');
    this.#created = db.prepare('SELECT * FROM topics WHERE tenant_id = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id');
    const openOne = db.prepare('SELECT id FROM topics WHERE tenant_id = ? AND session_id = ? AND status = 0').pluck();
    const insert = db.prepare(
      `INSERT INTO topics (tenant_id, id, session_id, name, description, patient_id, team_id, doctor_id, consult_type, status, reply,
         start_message_id, start_seq, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)`,
    );
    const sessionStatus = db.prepare('UPDATE conversations SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?');
    const close = db.prepare('UPDATE topics SET status = 10, ended_at = ?, ended_by = ?, end_message_id = ?, end_seq = ? WHERE tenant_id = ? AND id = ?');
    const entered = db.prepare('UPDATE topics SET entered_at = ? WHERE tenant_id = ? AND id = ?');

    this.#start = db.transaction((tenantId: string, t: NewTopic, start: NewMessage): StartResult => {
      const existing = get.get(tenantId, t.id) as Topic | undefined;
      if (existing) {
        if (existing.session_id !== t.session_id) throw fail('topic.session_mismatch', undefined, { topic_id: t.id, session_id: existing.session_id });
        return { topic: existing, created: false, message: null };
      }
      const open = openOne.get(tenantId, t.session_id) as string | undefined;
      if (open !== undefined) throw fail('topic.already_open', undefined, { open_topic_id: open });
      const message = this.#append(start);
      insert.run(tenantId, t.id, t.session_id, t.name, t.description, t.patient_id, t.team_id, t.doctor_id, t.consult_type, message.id, message.seq, t.created_at, t.created_by);
      sessionStatus.run(1, t.created_at, tenantId, t.session_id);
      return { topic: get.get(tenantId, t.id) as Topic, created: true, message };
    });
    this.#end = db.transaction((tenantId: string, topicId: string, at: number, by: string, messages: readonly NewMessage[]): EndResult => {
      const t = get.get(tenantId, topicId) as Topic | undefined;
      if (!t || t.status !== 0) return null;
      const written = messages.map((m) => this.#append(m));
      const last = written[written.length - 1];
      close.run(at, by, written[0]?.id ?? null, last?.seq ?? null, tenantId, topicId);
      sessionStatus.run(0, at, tenantId, t.session_id);
      return { topic: get.get(tenantId, topicId) as Topic, messages: written };
    });
    this.#enter = db.transaction((tenantId: string, topicId: string, at: number, message: NewMessage): EnterResult => {
      const t = get.get(tenantId, topicId) as Topic | undefined;
      if (!t || t.status !== 0) return null;
      const written = this.#append(message);
      entered.run(at, tenantId, topicId);
      return { topic: get.get(tenantId, topicId) as Topic, message: written };
    });
  }

  #append(m: NewMessage): Message {
    const [r] = this.#messages.appendNow([m]);
    if (!r || !r.ok) throw fail(r && !r.ok ? r.code : 'server.internal');
    return r.message;
  }

  async start(tenantId: string, t: NewTopic, start: NewMessage): Promise<StartResult> {
    return this.#start(tenantId, t, start);
  }

  async end(tenantId: string, topicId: string, at: number, by: string, messages: readonly NewMessage[]): Promise<EndResult> {
    return this.#end(tenantId, topicId, at, by, messages);
  }

  async enter(tenantId: string, topicId: string, at: number, message: NewMessage): Promise<EnterResult> {
    return this.#enter(tenantId, topicId, at, message);
  }

  async get(tenantId: string, topicId: string): Promise<Topic | null> {
    return (this.#get.get(tenantId, topicId) as Topic | undefined) ?? null;
  }

  async latest(tenantId: string, sessionId: string): Promise<Topic | null> {
    return (this.#latest.get(tenantId, sessionId) as Topic | undefined) ?? null;
  }

  async list(tenantId: string, q: TopicQuery): Promise<{ items: Topic[]; next_cursor: string | null }> {
    const { where, args } = filters(tenantId, q);
    if (q.cursor) (where.push('(t.created_at, t.id) < (?, ?)'), args.push(...decodeCursor(q.cursor, ['number', 'string'])));
    const rows = this.#sql.get(`SELECT t.* FROM topics t WHERE ${where.join(' AND ')} ORDER BY t.created_at DESC, t.id DESC LIMIT ?`).all(...args, q.limit + 1) as Topic[];
    const items = rows.slice(0, q.limit);
    return { items, next_cursor: rows.length > q.limit ? cursorOf(items[items.length - 1]!) : null };
  }

  async countByState(tenantId: string, q: Omit<TopicQuery, 'limit' | 'cursor' | 'state'>): Promise<Record<TopicState, number>> {
    const { where, args } = filters(tenantId, q);
    const r = this.#sql
      .get(
        `SELECT
           COALESCE(SUM(CASE WHEN ${STATE_SQL.unreplied} THEN 1 ELSE 0 END), 0) AS unreplied,
           COALESCE(SUM(CASE WHEN ${STATE_SQL.in_progress} THEN 1 ELSE 0 END), 0) AS in_progress,
           COALESCE(SUM(CASE WHEN ${STATE_SQL.replied} THEN 1 ELSE 0 END), 0) AS replied,
           COALESCE(SUM(CASE WHEN ${STATE_SQL.ended_unreplied} THEN 1 ELSE 0 END), 0) AS ended_unreplied
         FROM topics t WHERE ${where.join(' AND ')}`,
      )
      .get(...args) as Record<TopicState, number>;
    return r;
  }

  async stats(tenantId: string, groupBy: 'team' | 'doctor', q: Omit<TopicQuery, 'limit' | 'cursor' | 'state'>): Promise<TopicStatsRow[]> {
    const { where, args } = filters(tenantId, q);
    const col = groupBy === 'team' ? 't.team_id' : 't.doctor_id';
    const rows = this.#sql
      .get(
        `SELECT ${col} AS key, t.status, t.reply, t.first_reply_at - t.created_at AS response_ms
         FROM topics t WHERE ${where.join(' AND ')} ORDER BY key, response_ms`,
      )
      .all(...args) as TopicStatInput[];
    return groupTopicStats(rows);
  }

  async created(tenantId: string, since: number, until: number): Promise<Topic[]> {
    return this.#created.all(tenantId, since, until) as Topic[];
  }
}
