/**
 * Messages in PostgreSQL. An append batch is one transaction of two statements:
 *
 * 1. lock the batch's conversations (FOR NO KEY UPDATE, in key order, so that two nodes
 *    locking overlapping sets never deadlock) reading their heads, and read the messages
 *    already stored under the batch's (sender, client_id)s;
 * 2. then, computed here message by message as the SQLite store does, one statement with
 *    arrays: insert the new rows, move the heads, the senders' read cursors and the first
 *    reply of open topics.
 *
 * Gap-free seqs: a conversation's row stays locked from 1 to COMMIT, so another node's
 * append to it waits and then reads the new head. De-duplication across nodes: the unique
 * index `messages_client_id`. A resend that raced the first copy (its lookup ran before the
 * first committed) fails on that index, and the whole transaction runs again: it then finds
 * the first copy and answers it with `duplicate: true`.
 */
import type { MessageStore } from '../../domain/ports.ts';
import type { AppendResult, HistoryQuery, Message, NewMessage } from '../../domain/types.ts';
import { MESSAGE_COLS, storedMessage, toMessage, type MessageRow } from '../rows.ts';
import { isUniqueViolation, type PgDb, type Queryable } from './db.ts';
import { conversationLane } from './conversations.ts';

interface Head {
  tenant: string;
  id: string;
  seq: number;
  at: number;
  /** sender → its newest seq in this batch (its read cursor moves there). */
  senders: Map<string, number>;
  /** The first care-team message of the batch: [at, sender]. */
  reply: [number, string] | null;
}

const key2 = (a: string, b: string) => `${a}\u0000${b}`;
const key3 = (a: string, b: string, c: string) => `${a}\u0000${b}\u0000${c}`;

/** Heads (locked) and the stored messages of the batch's client ids, in one round trip. */
const LOOKUP = `WITH h AS (
    SELECT c.tenant_id, c.id, c.last_seq FROM conversations c
    JOIN unnest($1::text[], $2::text[]) AS k(t, i) ON c.tenant_id = k.t AND c.id = k.i
    ORDER BY c.tenant_id, c.id FOR NO KEY UPDATE OF c)
  SELECT true AS head, h.tenant_id, h.id AS conversation_id, h.last_seq AS seq,
         NULL::text AS id, NULL::text AS sender_id, NULL::int AS type, NULL::text AS content, NULL::text AS client_id,
         NULL::bigint AS created_at, NULL::bigint AS recalled_at, NULL::text AS forward
  FROM h
  UNION ALL
  SELECT false, m.tenant_id, m.conversation_id, m.seq, m.id, m.sender_id, m.type, m.content, m.client_id, m.created_at, m.recalled_at, m.forward
  FROM messages m JOIN unnest($3::text[], $4::text[], $5::text[]) AS d(t, s, c)
    ON m.tenant_id = d.t AND m.sender_id = d.s AND m.client_id = d.c`;

const WRITE = `WITH
  ins AS (
    INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, type, content, client_id, created_at, forward)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::bigint[], $10::text[])),
  hd AS (
    UPDATE conversations c SET last_seq = h.seq, last_message_at = h.at, updated_at = h.at
    FROM unnest($11::text[], $12::text[], $13::bigint[], $14::bigint[]) AS h(t, i, seq, at)
    WHERE c.tenant_id = h.t AND c.id = h.i),
  rd AS (
    UPDATE participants p SET read_seq = r.seq
    FROM unnest($15::text[], $16::text[], $17::text[], $18::bigint[]) AS r(t, c, u, seq)
    WHERE p.tenant_id = r.t AND p.conversation_id = r.c AND p.user_id = r.u AND p.read_seq < r.seq),
  rp AS (
    UPDATE topics t SET reply = 1, first_reply_at = x.at, first_reply_by = x.by
    FROM unnest($19::text[], $20::text[], $21::bigint[], $22::text[]) AS x(t, s, at, by)
    WHERE t.tenant_id = x.t AND t.session_id = x.s AND t.status = 0 AND t.reply = 0)
  SELECT 1`;

/**
 * Appends `batch` inside the transaction `q` (see the file's comment). The caller holds the
 * lanes of the batch's conversations and runs the transaction with `retryAppend`.
 */
export async function appendIn(q: Queryable, batch: readonly NewMessage[]): Promise<AppendResult[]> {
  const convs = new Map<string, [string, string]>();
  const cids = new Map<string, [string, string, string]>();
  for (const m of batch) {
    convs.set(key2(m.tenant_id, m.conversation_id), [m.tenant_id, m.conversation_id]);
    if (m.client_id !== null) cids.set(key3(m.tenant_id, m.sender_id, m.client_id), [m.tenant_id, m.sender_id, m.client_id]);
  }
  const c = [...convs.values()];
  const d = [...cids.values()];
  const { rows } = await q.query<MessageRow & { head: boolean; tenant_id: string }>(LOOKUP, [
    c.map((x) => x[0]), c.map((x) => x[1]), d.map((x) => x[0]), d.map((x) => x[1]), d.map((x) => x[2]),
  ]);
  const heads = new Map<string, Head>();
  const stored = new Map<string, Message>();
  for (const r of rows) {
    if (r.head) heads.set(key2(r.tenant_id, r.conversation_id), { tenant: r.tenant_id, id: r.conversation_id, seq: r.seq, at: 0, senders: new Map(), reply: null });
    else stored.set(key3(r.tenant_id, r.sender_id, r.client_id!), toMessage(r));
  }

  const out: AppendResult[] = [];
  const ins = { t: [] as string[], c: [] as string[], seq: [] as number[], id: [] as string[], s: [] as string[], type: [] as number[], content: [] as string[], cid: [] as (string | null)[], at: [] as number[], fwd: [] as (string | null)[] };
  for (const m of batch) {
    const h = heads.get(key2(m.tenant_id, m.conversation_id));
    if (h === undefined) {
      out.push({ ok: false, code: 'conversation.not_found' });
      continue;
    }
    if (m.client_id !== null) {
      const k = key3(m.tenant_id, m.sender_id, m.client_id);
      const prev = stored.get(k);
      if (prev !== undefined) {
        out.push(prev.conversation_id === m.conversation_id ? { ok: true, message: prev, duplicate: true } : { ok: false, code: 'message.client_id_conflict' });
        continue;
      }
    }
    const seq = h.seq + 1;
    h.seq = seq;
    h.at = m.created_at;
    h.senders.set(m.sender_id, seq);
    if (m.care_team && h.reply === null) h.reply = [m.created_at, m.sender_id];
    const message = storedMessage(m, seq);
    if (m.client_id !== null) stored.set(key3(m.tenant_id, m.sender_id, m.client_id), message);
    ins.t.push(m.tenant_id); ins.c.push(m.conversation_id); ins.seq.push(seq); ins.id.push(m.id); ins.s.push(m.sender_id);
    ins.type.push(m.type); ins.content.push(m.content_json); ins.cid.push(m.client_id); ins.at.push(m.created_at);
    ins.fwd.push(m.forward === null ? null : JSON.stringify(m.forward));
    out.push({ ok: true, duplicate: false, message });
  }
  if (ins.t.length === 0) return out;

  const moved = [...heads.values()].filter((h) => h.at !== 0);
  const reads = moved.flatMap((h) => [...h.senders].map(([sender, seq]) => ({ h, sender, seq })));
  const replies = moved.filter((h) => h.reply !== null);
  await q.query(WRITE, [
    ins.t, ins.c, ins.seq, ins.id, ins.s, ins.type, ins.content, ins.cid, ins.at, ins.fwd,
    moved.map((h) => h.tenant), moved.map((h) => h.id), moved.map((h) => h.seq), moved.map((h) => h.at),
    reads.map((r) => r.h.tenant), reads.map((r) => r.h.id), reads.map((r) => r.sender), reads.map((r) => r.seq),
    replies.map((h) => h.tenant), replies.map((h) => h.id), replies.map((h) => h.reply![0]), replies.map((h) => h.reply![1]),
  ]);
  return out;
}

/** The transaction options of a write that appends: run again when a resend raced its first copy. */
export const retryAppend = { retryIf: (err: unknown) => isUniqueViolation(err, 'messages_client_id') };

/** The lanes of a batch: its conversations. */
export const batchLanes = (batch: readonly NewMessage[]) => [...new Set(batch.map((m) => conversationLane(m.tenant_id, m.conversation_id)))];

export class PgMessageStore implements MessageStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async append(batch: readonly NewMessage[]): Promise<AppendResult[]> {
    if (batch.length === 0) return [];
    return this.#db.ordered(batchLanes(batch), () => this.#db.tx((q) => appendIn(q, batch), retryAppend));
  }

  async getById(tenantId: string, conversationId: string, messageId: string): Promise<Message | null> {
    const { rows } = await this.#db.query<MessageRow>(`SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND id = $2 AND conversation_id = $3`, [
      tenantId, messageId, conversationId,
    ]);
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async history(tenantId: string, conversationId: string, q: HistoryQuery): Promise<Message[]> {
    const base = `SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2`;
    if (q.after !== undefined) {
      const { rows } = await this.#db.query<MessageRow>(`${base} AND seq > $3 ORDER BY seq ASC LIMIT $4`, [tenantId, conversationId, q.after, q.limit]);
      return (q.before !== undefined ? rows.filter((r) => r.seq < q.before!) : rows).map(toMessage);
    }
    const { rows } = q.before !== undefined
      ? await this.#db.query<MessageRow>(`${base} AND seq < $3 ORDER BY seq DESC LIMIT $4`, [tenantId, conversationId, q.before, q.limit])
      : await this.#db.query<MessageRow>(`${base} ORDER BY seq DESC LIMIT $3`, [tenantId, conversationId, q.limit]);
    return rows.reverse().map(toMessage);
  }

  async recall(tenantId: string, conversationId: string, messageId: string, at: number, notice: NewMessage): Promise<{ recalled: Message; notice: Message } | null> {
    const lanes = [...new Set([conversationLane(tenantId, conversationId), conversationLane(notice.tenant_id, notice.conversation_id)])];
    return this.#db.ordered(lanes, () =>
      this.#db.tx(async (q) => {
        const { rows } = await q.query<MessageRow>(
          `UPDATE messages SET content = NULL, recalled_at = $4 WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 AND recalled_at IS NULL
           RETURNING ${MESSAGE_COLS}`,
          [tenantId, conversationId, messageId, at],
        );
        if (!rows[0]) return null;
        const [res] = await appendIn(q, [notice]);
        if (!res || !res.ok) throw new Error('recall notice could not be appended');
        return { recalled: toMessage(rows[0]), notice: res.message };
      }, retryAppend),
    );
  }
}
