/**
 * Messages in PostgreSQL. An append batch is one transaction of two statements:
 *
 * 1. lock the batch's conversations (FOR NO KEY UPDATE, in sorted key order, so that two
 *    nodes locking overlapping sets never deadlock) reading their heads, and read the messages
 *    already stored under the batch's (sender, client_id)s;
 * 2. then, computed here message by message as the SQLite store does, one statement with
 *    JSON arrays: insert the new rows, move the heads, the senders' read cursors and the first
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

/**
 * Heads (locked) and the stored messages of the batch's client ids, in one round trip, as one
 * row of two JSON arrays (parsed natively, not field by field). Both are index lookups per key
 * (LATERAL … LIMIT 1 keeps the planner from turning them into a scan of the table); the
 * conversations are locked in the order of the keys given, which the caller sorts, so every
 * node locks any two conversations in the same order. The keys come as one JSON parameter:
 * JSON.stringify is native, where the driver escapes array elements in JavaScript.
 */
const LOOKUP = `WITH h AS (
    SELECT c.last_seq, k.o FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS k(e, o)
    CROSS JOIN LATERAL (
      SELECT c.last_seq FROM conversations c WHERE c.tenant_id = k.e->>0 AND c.id = k.e->>1 LIMIT 1 FOR NO KEY UPDATE) c),
  d AS (
    SELECT m.* FROM jsonb_array_elements($2::jsonb) AS k(e)
    CROSS JOIN LATERAL (
      SELECT m.tenant_id, ${MESSAGE_COLS} FROM messages m
      WHERE m.tenant_id = k.e->>0 AND m.sender_id = k.e->>1 AND m.client_id = k.e->>2 LIMIT 1) m)
  SELECT (SELECT json_agg(json_build_array(h.o, h.last_seq)) FROM h) AS heads, (SELECT json_agg(d) FROM d) AS stored`;

/** Rows as JSON arrays, one parameter each: new messages, heads, senders' cursors, first replies. */
const WRITE = `WITH
  ins AS (
    INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, type, content, client_id, created_at, forward)
    SELECT e->>0, e->>1, (e->>2)::bigint, e->>3, e->>4, (e->>5)::int, e->>6, e->>7, (e->>8)::bigint, e->>9
    FROM jsonb_array_elements($1::jsonb) AS e),
  hd AS (
    UPDATE conversations c SET last_seq = (h.e->>2)::bigint, last_message_at = (h.e->>3)::bigint, updated_at = (h.e->>3)::bigint
    FROM jsonb_array_elements($2::jsonb) AS h(e)
    WHERE c.tenant_id = h.e->>0 AND c.id = h.e->>1),
  rd AS (
    UPDATE participants p SET read_seq = (r.e->>3)::bigint
    FROM jsonb_array_elements($3::jsonb) AS r(e)
    WHERE p.tenant_id = r.e->>0 AND p.conversation_id = r.e->>1 AND p.user_id = r.e->>2 AND p.read_seq < (r.e->>3)::bigint),
  rp AS (
    UPDATE topics t SET reply = 1, first_reply_at = (x.e->>2)::bigint, first_reply_by = x.e->>3
    FROM jsonb_array_elements($4::jsonb) AS x(e)
    WHERE t.tenant_id = x.e->>0 AND t.session_id = x.e->>1 AND t.status = 0 AND t.reply = 0)
  SELECT 1`;

const byKey = (x: readonly string[], y: readonly string[]) => (x[0]! < y[0]! ? -1 : x[0]! > y[0]! ? 1 : x[1]! < y[1]! ? -1 : x[1]! > y[1]! ? 1 : 0);

/**
 * Appends `batch` inside the transaction `q` (see the file's comment); the caller runs the
 * transaction with `retryAppend`.
 */
export async function appendIn(q: Queryable, batch: readonly NewMessage[]): Promise<AppendResult[]> {
  const convs = new Map<string, [string, string]>();
  const cids = new Map<string, [string, string, string]>();
  for (const m of batch) {
    convs.set(key2(m.tenant_id, m.conversation_id), [m.tenant_id, m.conversation_id]);
    if (m.client_id !== null) cids.set(key3(m.tenant_id, m.sender_id, m.client_id), [m.tenant_id, m.sender_id, m.client_id]);
  }
  const keys = [...convs.values()].sort(byKey);
  const { rows } = await q.query<{ heads: [number, number][] | null; stored: (MessageRow & { tenant_id: string })[] | null }>(LOOKUP, [
    JSON.stringify(keys), JSON.stringify([...cids.values()]),
  ]);
  const heads = new Map<string, Head>();
  for (const [o, seq] of rows[0]!.heads ?? []) {
    const [tenant, id] = keys[o - 1]!;
    heads.set(key2(tenant, id), { tenant, id, seq, at: 0, senders: new Map(), reply: null });
  }
  const stored = new Map<string, Message>();
  for (const r of rows[0]!.stored ?? []) stored.set(key3(r.tenant_id, r.sender_id, r.client_id!), toMessage(r));

  const out: AppendResult[] = [];
  const ins: unknown[][] = [];
  for (const m of batch) {
    const h = heads.get(key2(m.tenant_id, m.conversation_id));
    if (h === undefined) {
      out.push({ ok: false, code: 'conversation.not_found' });
      continue;
    }
    if (m.client_id !== null) {
      const prev = stored.get(key3(m.tenant_id, m.sender_id, m.client_id));
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
    ins.push([m.tenant_id, m.conversation_id, seq, m.id, m.sender_id, m.type, m.content_json, m.client_id, m.created_at, m.forward === null ? null : JSON.stringify(m.forward)]);
    out.push({ ok: true, duplicate: false, message });
  }
  if (ins.length === 0) return out;

  const moved = [...heads.values()].filter((h) => h.at !== 0);
  // Not awaited: the transaction awaits it, and it goes out together with the COMMIT.
  void q.query(WRITE, [
    JSON.stringify(ins),
    JSON.stringify(moved.map((h) => [h.tenant, h.id, h.seq, h.at])),
    JSON.stringify(moved.flatMap((h) => [...h.senders].map(([sender, seq]) => [h.tenant, h.id, sender, seq]))),
    JSON.stringify(moved.filter((h) => h.reply !== null).map((h) => [h.tenant, h.id, h.reply![0], h.reply![1]])),
  ]);
  return out;
}

/** The transaction options of a write that appends: run again when a resend raced its first copy. */
export const retryAppend = { retryIf: (err: unknown) => isUniqueViolation(err, 'messages_client_id') };

export class PgMessageStore implements MessageStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async append(batch: readonly NewMessage[]): Promise<AppendResult[]> {
    if (batch.length === 0) return [];
    return this.#db.tx((q) => appendIn(q, batch), retryAppend);
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
    return this.#db.tx(async (q) => {
      const { rows } = await q.query<MessageRow>(
        `UPDATE messages SET content = NULL, recalled_at = $4 WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 AND recalled_at IS NULL
         RETURNING ${MESSAGE_COLS}`,
        [tenantId, conversationId, messageId, at],
      );
      if (!rows[0]) return null;
      const [res] = await appendIn(q, [notice]);
      if (!res || !res.ok) throw new Error('recall notice could not be appended');
      return { recalled: toMessage(rows[0]), notice: res.message };
    }, retryAppend);
  }
}
