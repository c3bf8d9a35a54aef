/**
 * Topics in PostgreSQL. Each write that appends to a session holds its conversation row
 * first (as every append does), then reads and changes the topic: two nodes starting a topic
 * in one session at once run one after the other, and the second sees the first's open topic
 * (`topics_one_open`, a unique index on the open topic of a session, backs this up). Locking
 * the conversation before the topic, like an append that records a first reply, keeps the
 * lock order one.
 */
import type { TopicStore } from '../../domain/ports.ts';
import type { Message, NewMessage, NewTopic, Topic, TopicQuery, TopicState, TopicStatsRow } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { groupTopicStats, type TopicStatInput } from '../rows.ts';
import { isUniqueViolation, type PgDb, type Queryable } from './db.ts';
import { lockHead } from './conversations.ts';
import { appendIn } from './messages.ts';

const COLS = `t.tenant_id, t.id, t.session_id, t.name, t.description, t.patient_id, t.team_id, t.doctor_id, t.consult_type, t.status, t.reply,
  t.start_message_id, t.start_seq, t.end_message_id, t.end_seq, t.created_at, t.created_by, t.ended_at, t.ended_by, t.first_reply_at,
  t.first_reply_by, t.entered_at`;

const STATE_SQL: Record<TopicState, string> = {
  unreplied: 't.status = 0 AND t.reply = 0',
  in_progress: 't.status = 0 AND t.reply = 1',
  replied: 't.status = 10 AND t.reply = 1',
  ended_unreplied: 't.status = 10 AND t.reply = 0',
};

type TopicRow = Topic & { tenant_id: string };

const toTopic = (r: TopicRow): Topic => {
  const { tenant_id: _tenant, ...t } = r;
  return t;
};

/** A page's cursor: the sort key (created_at, id) of its last topic. */
const cursorOf = (t: Topic): string => encodeCursor([t.created_at, t.id]);

/** WHERE clauses for a topic query (alias `t`), with numbered parameters. */
function filters(tenantId: string, q: Omit<TopicQuery, "limit" | "cursor">): { where: string[]; args: unknown[] } {
  const args: unknown[] = [tenantId];
  const next = () => `$${args.length}`;
  const arg = (v: unknown) => (args.push(v), next());
  const where = ['t.tenant_id = $1'];
  const eq = (col: string, v: string | undefined) => {
    if (v !== undefined) where.push(`${col} = ${arg(v)}`);
  };
  eq('t.session_id', q.session_id);
  eq('t.patient_id', q.patient_id);
  eq('t.team_id', q.team_id);
  eq('t.doctor_id', q.doctor_id);
  if (q.member !== undefined) {
    where.push(`t.session_id IN (SELECT p.conversation_id FROM participants p WHERE p.tenant_id = t.tenant_id AND p.user_id = ${arg(q.member)})`);
  }
  if (q.viewer !== undefined) {
    const v = arg(q.viewer);
    where.push(`(t.session_id IN (SELECT p.conversation_id FROM participants p WHERE p.tenant_id = t.tenant_id AND p.user_id = ${v})
      OR t.team_id IN (SELECT m.team_id FROM team_members m WHERE m.tenant_id = t.tenant_id AND m.user_id = ${v}))`);
  }
  if (q.session_type !== undefined) {
    where.push(`t.session_id IN (SELECT c.id FROM conversations c WHERE c.tenant_id = t.tenant_id AND c.type = ${arg(q.session_type)}::int)`);
  }
  if (q.since !== undefined) where.push(`t.created_at >= ${arg(q.since)}::bigint`);
  if (q.until !== undefined) where.push(`t.created_at < ${arg(q.until)}::bigint`);
  if (q.state !== undefined) where.push(STATE_SQL[q.state]);
  return { where, args };
}

type StartResult = { topic: Topic; created: boolean; message: Message | null };
type EndResult = { topic: Topic; messages: Message[] } | null;
type EnterResult = { topic: Topic; message: Message } | null;

/** Appends one message inside a topic's transaction; its failure fails the transaction. */
async function appendOne(q: Queryable, m: NewMessage): Promise<Message> {
  const [r] = await appendIn(q, [m]);
  if (!r || !r.ok) throw fail(r && !r.ok ? r.code : 'server.internal');
  return r.message;
}

/** A race lost to another node (the same topic id, or another open topic): run again and see the winner. */
const retryTopic = {
  retryIf: (err: unknown) => isUniqueViolation(err, 'topics_pkey') || isUniqueViolation(err, 'topics_one_open') || isUniqueViolation(err, 'messages_client_id'),
};

export class PgTopicStore implements TopicStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async #get(q: Queryable, tenantId: string, topicId: string, lock = false): Promise<Topic | null> {
    const { rows } = await q.query<TopicRow>(`SELECT ${COLS} FROM topics t WHERE t.tenant_id = $1 AND t.id = $2${lock ? ' FOR NO KEY UPDATE' : ''}`, [tenantId, topicId]);
    return rows[0] ? toTopic(rows[0]) : null;
  }

  async start(tenantId: string, t: NewTopic, start: NewMessage): Promise<StartResult> {
    return this.#db.tx(async (q) => {
      const existing = await this.#get(q, tenantId, t.id);
      if (existing) {
        if (existing.session_id !== t.session_id) throw fail('topic.session_mismatch', undefined, { topic_id: t.id, session_id: existing.session_id });
        return { topic: existing, created: false, message: null };
      }
      // The session's row first: a start on another node waits here, then sees this one's topic.
      await lockHead(q, tenantId, t.session_id);
      const { rows: open } = await q.query<{ id: string }>('SELECT id FROM topics WHERE tenant_id = $1 AND session_id = $2 AND status = 0', [tenantId, t.session_id]);
      if (open[0]) throw fail('topic.already_open', undefined, { open_topic_id: open[0].id });
      const message = await appendOne(q, start);
      const { rows } = await q.query<TopicRow>(
        `WITH t AS (
           INSERT INTO topics (tenant_id, id, session_id, name, description, patient_id, team_id, doctor_id, consult_type, status, reply,
             start_message_id, start_seq, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 0, $10, $11, $12, $13)
           RETURNING *),
         s AS (UPDATE conversations SET status = 1, updated_at = $12 WHERE tenant_id = $1 AND id = $3)
         SELECT ${COLS} FROM t`,
        [tenantId, t.id, t.session_id, t.name, t.description, t.patient_id, t.team_id, t.doctor_id, t.consult_type, message.id, message.seq, t.created_at, t.created_by],
      );
      return { topic: toTopic(rows[0]!), created: true, message };
    }, retryTopic);
  }

  async end(tenantId: string, topicId: string, at: number, by: string, messages: readonly NewMessage[]): Promise<EndResult> {
    return this.#db.tx(async (q) => {
      const found = await this.#get(q, tenantId, topicId);
      if (!found || found.status !== 0) return null;
      await lockHead(q, tenantId, found.session_id);
      const t = await this.#get(q, tenantId, topicId, true);
      if (!t || t.status !== 0) return null;
      const written: Message[] = [];
      for (const m of messages) written.push(await appendOne(q, m));
      const last = written[written.length - 1];
      const { rows } = await q.query<TopicRow>(
        `WITH t AS (
           UPDATE topics SET status = 10, ended_at = $3, ended_by = $4, end_message_id = $5, end_seq = $6 WHERE tenant_id = $1 AND id = $2
           RETURNING *),
         s AS (UPDATE conversations SET status = 0, updated_at = $3 WHERE tenant_id = $1 AND id = $7)
         SELECT ${COLS} FROM t`,
        [tenantId, topicId, at, by, written[0]?.id ?? null, last?.seq ?? null, t.session_id],
      );
      return { topic: toTopic(rows[0]!), messages: written };
    }, retryTopic);
  }

  async enter(tenantId: string, topicId: string, at: number, message: NewMessage): Promise<EnterResult> {
    return this.#db.tx(async (q) => {
      const found = await this.#get(q, tenantId, topicId);
      if (!found || found.status !== 0) return null;
      await lockHead(q, tenantId, found.session_id);
      const t = await this.#get(q, tenantId, topicId, true);
      if (!t || t.status !== 0) return null;
      const written = await appendOne(q, message);
      const { rows } = await q.query<TopicRow>(`UPDATE topics t SET entered_at = $3 WHERE t.tenant_id = $1 AND t.id = $2 RETURNING ${COLS}`, [tenantId, topicId, at]);
      return { topic: toTopic(rows[0]!), message: written };
    }, retryTopic);
  }

  async get(tenantId: string, topicId: string): Promise<Topic | null> {
    return this.#get(this.#db, tenantId, topicId);
  }

  async latest(tenantId: string, sessionId: string): Promise<Topic | null> {
    const { rows } = await this.#db.query<TopicRow>(
      `SELECT ${COLS} FROM topics t WHERE t.tenant_id = $1 AND t.session_id = $2 ORDER BY t.created_at DESC, t.start_seq DESC LIMIT 1`,
      [tenantId, sessionId],
    );
    return rows[0] ? toTopic(rows[0]) : null;
  }

  async list(tenantId: string, q: TopicQuery): Promise<{ items: Topic[]; next_cursor: string | null }> {
    const { where, args } = filters(tenantId, q);
    if (q.cursor) {
      const [at, id] = decodeCursor(q.cursor, ['number', 'string']);
      args.push(at, id);
      where.push(`(t.created_at, t.id) < ($${args.length - 1}::bigint, $${args.length}::text)`);
    }
    args.push(q.limit + 1);
    const { rows } = await this.#db.query<TopicRow>(`SELECT ${COLS} FROM topics t WHERE ${where.join(' AND ')} ORDER BY t.created_at DESC, t.id DESC LIMIT $${args.length}`, args);
    const items = rows.slice(0, q.limit).map(toTopic);
    return { items, next_cursor: rows.length > q.limit ? cursorOf(items[items.length - 1]!) : null };
  }

  async countByState(tenantId: string, q: Omit<TopicQuery, 'limit' | 'cursor' | 'state'>): Promise<Record<TopicState, number>> {
    const { where, args } = filters(tenantId, q);
    const { rows } = await this.#db.query<Record<TopicState, number>>(
      `SELECT
         count(*) FILTER (WHERE ${STATE_SQL.unreplied})::int AS unreplied,
         count(*) FILTER (WHERE ${STATE_SQL.in_progress})::int AS in_progress,
         count(*) FILTER (WHERE ${STATE_SQL.replied})::int AS replied,
         count(*) FILTER (WHERE ${STATE_SQL.ended_unreplied})::int AS ended_unreplied
       FROM topics t WHERE ${where.join(' AND ')}`,
      args,
    );
    return rows[0]!;
  }

  async stats(tenantId: string, groupBy: 'team' | 'doctor', q: Omit<TopicQuery, 'limit' | 'cursor' | 'state'>): Promise<TopicStatsRow[]> {
    const { where, args } = filters(tenantId, q);
    const col = groupBy === 'team' ? 't.team_id' : 't.doctor_id';
    const { rows } = await this.#db.query<TopicStatInput>(
      `SELECT ${col} AS key, t.status, t.reply, t.first_reply_at - t.created_at AS response_ms
       FROM topics t WHERE ${where.join(' AND ')} ORDER BY key NULLS FIRST, response_ms NULLS FIRST`,
      args,
    );
    return groupTopicStats(rows);
  }

  async created(tenantId: string, since: number, until: number): Promise<Topic[]> {
    const { rows } = await this.#db.query<TopicRow>(
      `SELECT ${COLS} FROM topics t WHERE t.tenant_id = $1 AND t.created_at >= $2 AND t.created_at < $3 ORDER BY t.created_at, t.id`,
      [tenantId, since, until],
    );
    return rows.map(toTopic);
  }
}
