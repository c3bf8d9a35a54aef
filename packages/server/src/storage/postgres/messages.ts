/**
 * Messages in PostgreSQL. An append batch is one transaction (`PgMessageStore.append` sends it
 * first without step 1, in one round trip, and with it only when that attempt hit a stored
 * client id):
 *
 * 1. read which of the batch's conversations exist and the messages already stored under the
 *    batch's (sender, client_id)s — no lock taken;
 * 2. then, with what is new decided here message by message as the SQLite store does (each
 *    new message numbered 1, 2, 3… within its conversation in the batch), sent together with
 *    the COMMIT: one statement that locks the batch's conversations (FOR NO KEY UPDATE, in
 *    sorted key order, so that two nodes locking overlapping sets never deadlock), and one
 *    that reads their heads, inserts the new rows at head + number, moves the heads, the
 *    senders' read cursors and the first reply of open topics, and returns the heads it
 *    started from.
 *
 * Gap-free seqs: a conversation's row stays locked from the lock to COMMIT, so another node's
 * append to it waits and then reads the new head. The lock is taken only in the last round
 * trip, with the COMMIT: it is held for two statements and the commit's flush, never across a
 * round trip to this process — another node appending to the same conversation waits for no
 * more than that, however busy this node's event loop is. The seqs are known once the append
 * statement answers (head + number).
 *
 * De-duplication across nodes: the unique index `messages_client_id`. A resend that raced the
 * first copy (its lookup ran before the first committed) fails on that index, and the whole
 * transaction runs again: it then finds the first copy and answers it with `duplicate: true`.
 */
import type { MessageStore } from '../../domain/ports.ts';
import type { AppendResult, HistoryQuery, Message, MessageText, NewMessage } from '../../domain/types.ts';
import { MESSAGE_COLS, storedMessage, toMessage, toMessageText, type MessageRow } from '../rows.ts';
import { isUniqueViolation, type PgDb, type Queryable } from './db.ts';
import { messagesAppended } from './jobs-outbox.ts';

interface Head {
  tenant: string;
  id: string;
  /** Its 1-based place in the sorted keys (the order its row is locked in). */
  o: number;
  /** New messages of the batch in it (the last one's number). */
  n: number;
  at: number;
  /** sender → the number of its newest message in this batch (its read cursor moves there). */
  senders: Map<string, number>;
  /** The first care-team message of the batch: [at, sender]. */
  reply: [number, string] | null;
  /** The new messages, their seq to be set to head + number once the head is known. */
  added: { message: Message; k: number }[];
  /** A message of the batch in it is wanted after commit: its range goes into the outbox job. */
  outbox: boolean;
}

const key2 = (a: string, b: string) => `${a}\u0000${b}`;
const key3 = (a: string, b: string, c: string) => `${a}\u0000${b}\u0000${c}`;

/**
 * Which conversations exist (in the order of the keys given) and the stored messages of the
 * batch's client ids, in one round trip, as one row of two JSON arrays (parsed natively, not
 * field by field). Both are index lookups per key (LATERAL … LIMIT 1 keeps the planner from
 * turning them into a scan of the table). The conversation's lookup reads a column outside
 * its key on purpose, and uses it (`last_seq >= 0`, always true: the planner drops a column
 * nothing uses, and then chose an index-only scan all the same — seen in the generic plan on a
 * fresh database), to stay the plain index scan the locking lookup always was: as an
 * index-only scan of `conversations_pkey` (rows every append updates, on pages never
 * all-visible) it was measured fetching 63–102 million tuples in 8-second cluster bench runs,
 * against under a million as a plain index scan. Nothing is locked: conversations are never deleted,
 * and a client id stored meanwhile by another node fails the insert (see the file's comment).
 * The keys come as one JSON parameter: JSON.stringify is native, where the driver escapes
 * array elements in JavaScript.
 *
 * The client ids' lookup names the tenant in a form no index can serve (`… IS TRUE`): only
 * `messages_client_id` (client id, sender, tenant; migration 018) then matches it, whatever the
 * statistics say. Written plainly, the primary key and `messages_id` (both beginning with the
 * tenant) matched it too, and on a table never analyzed the planner priced `messages_id` the
 * same and kept it in the statement's generic plan: every message of the tenant read per client
 * id (9.8 s for a batch of 1,000) until autovacuum's ANALYZE replaced the plan.
 */
export const LOOKUP = `WITH h AS (
    SELECT k.o FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS k(e, o)
    CROSS JOIN LATERAL (SELECT c.last_seq FROM conversations c WHERE c.tenant_id = k.e->>0 AND c.id = k.e->>1 LIMIT 1) c WHERE c.last_seq >= 0),
  d AS (
    SELECT m.* FROM jsonb_array_elements($2::jsonb) AS k(e)
    CROSS JOIN LATERAL (
      SELECT m.tenant_id, ${MESSAGE_COLS} FROM messages m
      WHERE m.client_id = k.e->>2 AND m.sender_id = k.e->>1 AND (m.tenant_id = k.e->>0) IS TRUE LIMIT 1) m)
  SELECT (SELECT json_agg(h.o) FROM h) AS found, (SELECT json_agg(d) FROM d) AS stored`;

/**
 * Locks the batch's conversations, $1: their keys, sorted; the rows are locked in that order
 * (the LATERAL lookups run one key after the other), so any two nodes lock any two
 * conversations in the same order. A statement of its own, before APPEND: APPEND's snapshot
 * is then taken once every append it waited for has committed, so it reads the newest heads
 * and updates rows without re-checking them (as an UPDATE that waited for a row would).
 */
const LOCK = `SELECT count(*) AS n FROM jsonb_array_elements($1::jsonb) AS k(e)
  CROSS JOIN LATERAL (
    SELECT 1 FROM conversations c WHERE c.tenant_id = k.e->>0 AND c.id = k.e->>1 LIMIT 1 FOR NO KEY UPDATE) c`;

/**
 * The append itself, right after LOCK. $1: the same keys, each [tenant, id, count, at] (the
 * messages it gets and the newest one's time; LOCK reads only the key); h holds each one's
 * head and the row's place (`ctid`: the row is locked by this transaction since LOCK, so it
 * stays where it is), and the head moves by that place — a TID scan per row. Joined by key
 * instead, the planner (which takes a function's rows for 100) scanned the whole table once
 * it had a few thousand rows, and joined a separate list of moves to h by a nested loop whose
 * cost grew with the square of the batch (222,312 rows filtered, 122 ms, for 472
 * conversations in a reconnect storm). Each new message that can be searched is noted in
 * `message_search_pending` (the index follows behind: search-indexer.ts). $2: new messages,
 * as [number, id, sender, type, content, client_id, created_at, forward, o] (o: the 1-based
 * place of its conversation in $1); $3: senders' read cursors, [o, sender, number]; $4: first
 * replies, [o, at, sender]. Answers the heads it started from: [[o, last_seq], …].
 */
export const APPEND = `WITH h AS MATERIALIZED (
    SELECT c.tenant_id, c.id, c.last_seq, c.ctid, k.o, (k.e->>2)::bigint AS n, (k.e->>3)::bigint AS at
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS k(e, o)
    CROSS JOIN LATERAL (
      SELECT c.tenant_id, c.id, c.last_seq, c.ctid FROM conversations c WHERE c.tenant_id = k.e->>0 AND c.id = k.e->>1 LIMIT 1) c),
  ins AS (
    INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, type, content, client_id, created_at, forward)
    SELECT h.tenant_id, h.id, h.last_seq + (e->>0)::bigint, e->>1, e->>2, (e->>3)::int, e->>4, e->>5, (e->>6)::bigint, e->>7
    FROM jsonb_array_elements($2::jsonb) AS e JOIN h ON h.o = (e->>8)::bigint),
  pend AS (
    INSERT INTO message_search_pending (tenant_id, conversation_id, seq)
    SELECT h.tenant_id, h.id, h.last_seq + (e->>0)::bigint
    FROM jsonb_array_elements($2::jsonb) AS e JOIN h ON h.o = (e->>8)::bigint
    WHERE (e->>3)::int NOT IN (0, 6, 7, 10, 11, 13, 14) AND e->>4 IS NOT NULL),
  hd AS (
    UPDATE conversations c SET last_seq = h.last_seq + h.n, last_message_at = h.at, updated_at = h.at
    FROM h WHERE c.ctid = h.ctid AND c.tenant_id = h.tenant_id AND c.id = h.id),
  rd AS (
    UPDATE participants p SET read_seq = h.last_seq + (r.e->>2)::bigint
    FROM jsonb_array_elements($3::jsonb) AS r(e) JOIN h ON h.o = (r.e->>0)::bigint
    WHERE p.tenant_id = h.tenant_id AND p.conversation_id = h.id AND p.user_id = r.e->>1 AND p.read_seq < h.last_seq + (r.e->>2)::bigint),
  rp AS (
    UPDATE topics t SET reply = 1, first_reply_at = (x.e->>1)::bigint, first_reply_by = x.e->>2
    FROM jsonb_array_elements($4::jsonb) AS x(e) JOIN h ON h.o = (x.e->>0)::bigint
    WHERE t.tenant_id = h.tenant_id AND t.session_id = h.id AND t.status = 0 AND t.reply = 0)
  SELECT json_agg(json_build_array(h.o, h.last_seq)) AS heads FROM h`;

const byKey = (x: readonly string[], y: readonly string[]) => (x[0]! < y[0]! ? -1 : x[0]! > y[0]! ? 1 : x[1]! < y[1]! ? -1 : x[1]! > y[1]! ? 1 : 0);

/**
 * Appends `batch` inside the transaction `q` (see the file's comment) and returns once the
 * append statement has been sent, without waiting for its answer: the transaction commits
 * right behind it. `results` resolves when the statement has answered (it fails if it did,
 * and then so does the transaction). The caller runs the transaction with `retryAppend`.
 */
export async function appendSent(q: Queryable, batch: readonly NewMessage[], opts: { lookup?: boolean } = {}): Promise<{ results: Promise<AppendResult[]> }> {
  const lookup = opts.lookup ?? true;
  // Without the lookup every conversation is taken as there (null) and every client id as new:
  // a conversation the append finds no row of is answered `conversation.not_found` below, a
  // client id already stored fails the insert.
  let found: Set<string> | null = null;
  const stored = new Map<string, Message>();
  if (lookup) {
    const convs = new Map<string, [string, string]>();
    const cids = new Map<string, [string, string, string]>();
    for (const m of batch) {
      convs.set(key2(m.tenant_id, m.conversation_id), [m.tenant_id, m.conversation_id]);
      if (m.client_id !== null) cids.set(key3(m.tenant_id, m.sender_id, m.client_id), [m.tenant_id, m.sender_id, m.client_id]);
    }
    const keys = [...convs.values()];
    const { rows } = await q.query<{ found: number[] | null; stored: (MessageRow & { tenant_id: string })[] | null }>(LOOKUP, [
      JSON.stringify(keys), JSON.stringify([...cids.values()]),
    ]);
    found = new Set((rows[0]!.found ?? []).map((o) => key2(...keys[o - 1]!)));
    for (const r of rows[0]!.stored ?? []) stored.set(key3(r.tenant_id, r.sender_id, r.client_id!), toMessage(r));
  }

  const out: AppendResult[] = [];
  const heads = new Map<string, Head>();
  const ins: { m: NewMessage; h: Head; k: number }[] = [];
  for (const m of batch) {
    const ck = key2(m.tenant_id, m.conversation_id);
    if (found !== null && !found.has(ck)) {
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
    let h = heads.get(ck);
    if (h === undefined) heads.set(ck, (h = { tenant: m.tenant_id, id: m.conversation_id, o: 0, n: 0, at: 0, senders: new Map(), reply: null, added: [], outbox: false }));
    const k = ++h.n;
    h.at = m.created_at;
    h.senders.set(m.sender_id, k);
    if (m.care_team && h.reply === null) h.reply = [m.created_at, m.sender_id];
    if (m.outbox !== false) h.outbox = true;
    // Its seq is set once the head is known (the same object answers a resend in this batch).
    const message = storedMessage(m, 0);
    h.added.push({ message, k });
    if (m.client_id !== null) stored.set(key3(m.tenant_id, m.sender_id, m.client_id), message);
    ins.push({ m, h, k });
    out.push({ ok: true, duplicate: false, message });
  }
  if (ins.length === 0) return { results: Promise.resolve(out) };

  // Locked in sorted key order, whatever order the batch came in.
  const locked = [...heads.values()].sort((a, b) => byKey([a.tenant, a.id], [b.tenant, b.id]));
  for (const [i, h] of locked.entries()) h.o = i + 1;
  // Not awaited: the transaction awaits them, and they go out together with the COMMIT.
  const lockKeys = JSON.stringify(locked.map((h) => [h.tenant, h.id, h.n, h.at]));
  void q.query(LOCK, [lockKeys]);
  const sent = q.query<{ heads: [number, number][] | null }>(APPEND, [
    lockKeys,
    JSON.stringify(ins.map(({ m, h, k }) => [k, m.id, m.sender_id, m.type, m.content_json, m.client_id, m.created_at, m.forward === null ? null : JSON.stringify(m.forward), h.o])),
    JSON.stringify(locked.flatMap((h) => [...h.senders].map(([sender, k]) => [h.o, sender, k]))),
    JSON.stringify(locked.filter((h) => h.reply !== null).map((h) => [h.o, h.reply![0], h.reply![1]])),
  ]);
  // After-commit work (push, webhooks) is enqueued in this transaction (domain/outbox.ts).
  messagesAppended(q, locked.filter((h) => h.outbox));
  const results = sent.then(({ rows: r }) => {
    const base = new Map<number, number>();
    for (const [o, seq] of r[0]?.heads ?? []) base.set(o, seq);
    const missing = new Set<string>();
    for (const h of locked) {
      const seq = base.get(h.o);
      if (seq === undefined) {
        // Conversations are never deleted: one found by the lookup is there to lock. Without
        // the lookup, its messages matched no row and were not inserted (nor anything of theirs).
        if (lookup) throw new Error('a conversation of the append batch was not found to lock');
        missing.add(key2(h.tenant, h.id));
        continue;
      }
      for (const a of h.added) a.message.seq = seq + a.k;
    }
    if (missing.size === 0) return out;
    return out.map((res, i): AppendResult => (missing.has(key2(batch[i]!.tenant_id, batch[i]!.conversation_id)) ? { ok: false, code: 'conversation.not_found' } : res));
  });
  // A failure is the transaction's to report.
  results.catch(() => {});
  return { results };
}

/** Appends `batch` inside the transaction `q` and waits for the seqs (for a transaction that needs them before it commits). */
export async function appendIn(q: Queryable, batch: readonly NewMessage[]): Promise<AppendResult[]> {
  return (await appendSent(q, batch)).results;
}

/** The transaction options of a write that appends: run again when a resend raced its first copy. */
export const retryAppend = { retryIf: (err: unknown) => isUniqueViolation(err, 'messages_client_id') };

export class PgMessageStore implements MessageStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  /**
   * A batch goes out first without the lookup — BEGIN, the lock, the append and the COMMIT in
   * one round trip — taking its conversations as there (the senders' access was checked
   * against them) and its client ids as new (a resend is rare). A client id already stored
   * fails the insert on `messages_client_id` and rolls the transaction back; the batch then
   * runs again with the lookup, which answers the resend with its first copy.
   */
  async append(batch: readonly NewMessage[]): Promise<AppendResult[]> {
    if (batch.length === 0) return [];
    let lookup = false;
    const { results } = await this.#db.tx((q) => {
      const sent = appendSent(q, batch, { lookup });
      lookup = true;
      return sent;
    }, retryAppend);
    return results;
  }

  async getById(tenantId: string, conversationId: string, messageId: string): Promise<Message | null> {
    const { rows } = await this.#db.query<MessageRow>(`SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND id = $2 AND conversation_id = $3`, [
      tenantId, messageId, conversationId,
    ]);
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async history(tenantId: string, conversationId: string, q: HistoryQuery): Promise<Message[]> {
    return (await this.#rows(tenantId, conversationId, q)).map(toMessage);
  }

  async historyText(tenantId: string, conversationId: string, q: HistoryQuery): Promise<MessageText[]> {
    return (await this.#rows(tenantId, conversationId, q)).map(toMessageText);
  }

  /** A history page's rows, ascending. */
  async #rows(tenantId: string, conversationId: string, q: HistoryQuery): Promise<MessageRow[]> {
    const base = `SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2`;
    if (q.after !== undefined) {
      const { rows } = await this.#db.query<MessageRow>(`${base} AND seq > $3 ORDER BY seq ASC LIMIT $4`, [tenantId, conversationId, q.after, q.limit]);
      return q.before !== undefined ? rows.filter((r) => r.seq < q.before!) : rows;
    }
    const { rows } = q.before !== undefined
      ? await this.#db.query<MessageRow>(`${base} AND seq < $3 ORDER BY seq DESC LIMIT $4`, [tenantId, conversationId, q.before, q.limit])
      : await this.#db.query<MessageRow>(`${base} ORDER BY seq DESC LIMIT $3`, [tenantId, conversationId, q.limit]);
    return rows.reverse();
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
