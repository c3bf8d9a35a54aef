import type { MessageStore } from '../../domain/ports.ts';
import type { AppendResult, HistoryQuery, Message, MessageText, NewMessage } from '../../domain/types.ts';
import type { Db } from './db.ts';
import { MESSAGE_COLS, storedMessage, toMessage, toMessageText, type MessageRow } from '../rows.ts';
import { sqliteOutbox } from './jobs-outbox.ts';

export { storedMessage };

export class SqliteMessageStore implements MessageStore {
  readonly #db: Db;
  readonly #appendBody: (batch: readonly NewMessage[]) => AppendResult[];
  readonly #appendTx: (batch: readonly NewMessage[]) => AppendResult[];
  readonly #byId;
  readonly #newest;
  readonly #before;
  readonly #after;
  readonly #recall: (tenantId: string, conversationId: string, messageId: string, at: number, notice: NewMessage) => { recalled: Message; notice: Message } | null;

  /**
   * `indexer`: the search index, kept behind the appends (`search-indexer.ts`): an append only
   * notes which conversations it wrote to (for the indexer, or the feed to its thread). Without
   * one (a read-only connection) nothing is noted.
   */
  constructor(db: Db, indexer?: { touched(tenantId: string, conversationId: string, n: number): void }) {
    this.#db = db;
    const byClient = db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = ? AND sender_id = ? AND client_id = ?`);
    const head = db.prepare('SELECT last_seq FROM conversations WHERE tenant_id = ? AND id = ?').pluck();
    // The unique index on (tenant, client_id, sender) is the duplicate check: a repeated client id inserts nothing.
    const insert = db.prepare(
      `INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, type, content, client_id, created_at, recalled_at, forward)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
       ON CONFLICT (tenant_id, sender_id, client_id) WHERE client_id IS NOT NULL DO NOTHING`,
    );
    const setHead = db.prepare('UPDATE conversations SET last_seq = ?, last_message_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?');
    // After-commit work (push, webhooks) is enqueued in the append's transaction (domain/outbox.ts).
    const outbox = sqliteOutbox(db);
    const senderRead = db.prepare('UPDATE participants SET read_seq = ? WHERE tenant_id = ? AND conversation_id = ? AND user_id = ? AND read_seq < ?');
    // A care-team message answers the session's open, unanswered topic (if any): same transaction.
    const firstReply = db.prepare(
      'UPDATE topics SET reply = 1, first_reply_at = ?, first_reply_by = ? WHERE tenant_id = ? AND session_id = ? AND status = 0 AND reply = 0',
    );

    interface Head {
      tenant: string;
      id: string;
      seq: number;
      /** The first seq this batch adds. */
      from: number;
      at: number;
      /** sender → its newest seq in this batch (its read cursor moves there). */
      senders: Map<string, number>;
      /** The first care-team message of the batch: [at, sender]. */
      reply: [number, string] | null;
      /** A message of the batch in it is wanted after commit: its range goes into the outbox job. */
      outbox: boolean;
    }

    this.#appendBody = (batch: readonly NewMessage[]): AppendResult[] => {
      const out: AppendResult[] = [];
      // Seqs are assigned here, per conversation: one read and one write of the conversation
      // row per batch, however many of its messages the batch holds.
      const heads = new Map<string, Head | null>();
      for (const m of batch) {
        const key = `${m.tenant_id}\u0000${m.conversation_id}`;
        let h = heads.get(key);
        if (h === undefined) {
          const last = head.get(m.tenant_id, m.conversation_id) as number | undefined;
          h = last === undefined ? null : { tenant: m.tenant_id, id: m.conversation_id, seq: last, from: last + 1, at: 0, senders: new Map(), reply: null, outbox: false };
          heads.set(key, h);
        }
        if (h === null) {
          out.push({ ok: false, code: 'conversation.not_found' });
          continue;
        }
        const seq = h.seq + 1;
        const forward = m.forward === null ? null : JSON.stringify(m.forward);
        const r = insert.run(m.tenant_id, m.conversation_id, seq, m.id, m.sender_id, m.type, m.content_json, m.client_id, m.created_at, forward);
        if (r.changes === 0) {
          const prev = byClient.get(m.tenant_id, m.sender_id, m.client_id) as MessageRow;
          out.push(prev.conversation_id === m.conversation_id ? { ok: true, message: toMessage(prev), duplicate: true } : { ok: false, code: 'message.client_id_conflict' });
          continue;
        }
        h.seq = seq;
        h.at = m.created_at;
        h.senders.set(m.sender_id, seq);
        if (m.care_team && h.reply === null) h.reply = [m.created_at, m.sender_id];
        if (m.outbox !== false) h.outbox = true;
        out.push({ ok: true, duplicate: false, message: storedMessage(m, seq) });
      }
      /** tenant → the seq ranges this batch added to its conversations, and the time of the last. */
      const outboxes = new Map<string, { ranges: [string, number, number][]; at: number }>();
      for (const h of heads.values()) {
        if (h === null || h.at === 0) continue;
        setHead.run(h.seq, h.at, h.at, h.tenant, h.id);
        indexer?.touched(h.tenant, h.id, h.seq - h.from + 1);
        for (const [sender, seq] of h.senders) senderRead.run(seq, h.tenant, h.id, sender, seq);
        if (h.reply) firstReply.run(h.reply[0], h.reply[1], h.tenant, h.id);
        if (!h.outbox) continue;
        const o = outboxes.get(h.tenant);
        if (o) {
          o.ranges.push([h.id, h.from, h.seq]);
          o.at = Math.max(o.at, h.at);
        } else outboxes.set(h.tenant, { ranges: [[h.id, h.from, h.seq]], at: h.at });
      }
      for (const [tenant, o] of outboxes) outbox.messagesAppended(tenant, o.ranges, o.at);
      return out;
    };
    this.#appendTx = db.transaction(this.#appendBody);

    this.#byId = db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = ? AND id = ? AND conversation_id = ?`);
    const q = (where: string, order: 'ASC' | 'DESC') =>
      db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = ? AND conversation_id = ?${where} ORDER BY seq ${order} LIMIT ?`);
    this.#newest = q('', 'DESC');
    this.#before = q(' AND seq < ?', 'DESC');
    this.#after = q(' AND seq > ?', 'ASC');

    const tombstone = db.prepare('UPDATE messages SET content = NULL, recalled_at = ? WHERE tenant_id = ? AND conversation_id = ? AND id = ? AND recalled_at IS NULL');
    this.#recall = db.transaction((tenantId: string, conversationId: string, messageId: string, at: number, notice: NewMessage) => {
      if (tombstone.run(at, tenantId, conversationId, messageId).changes === 0) return null;
      const [res] = this.#appendTx([notice]);
      if (!res || !res.ok) throw new Error('recall notice could not be appended');
      const recalled = this.#byId.get(tenantId, messageId, conversationId) as MessageRow;
      return { recalled: toMessage(recalled), notice: res.message };
    });
  }

  async append(batch: readonly NewMessage[]): Promise<AppendResult[]> {
    return this.#appendTx(batch);
  }

  /**
   * The append inside a transaction the caller has open, without a savepoint of its own
   * (a savepoint copies every page it touches): if it throws, the caller must roll the whole
   * transaction back. For the writer thread, which groups requests into one transaction.
   */
  appendInOpenTransaction(batch: readonly NewMessage[]): AppendResult[] {
    if (!this.#db.inTransaction) throw new Error('appendInOpenTransaction needs an open transaction');
    return this.#appendBody(batch);
  }

  /** The append, synchronously, for other SQLite stores that write messages inside their own transaction. */
  appendNow(batch: readonly NewMessage[]): AppendResult[] {
    return this.#appendTx(batch);
  }

  async getById(tenantId: string, conversationId: string, messageId: string): Promise<Message | null> {
    const r = this.#byId.get(tenantId, messageId, conversationId) as MessageRow | undefined;
    return r ? toMessage(r) : null;
  }

  async history(tenantId: string, conversationId: string, q: HistoryQuery): Promise<Message[]> {
    return this.#rows(tenantId, conversationId, q).map(toMessage);
  }

  async historyText(tenantId: string, conversationId: string, q: HistoryQuery): Promise<MessageText[]> {
    return this.#rows(tenantId, conversationId, q).map(toMessageText);
  }

  /** A history page's rows, ascending. */
  #rows(tenantId: string, conversationId: string, q: HistoryQuery): MessageRow[] {
    if (q.after !== undefined) {
      const rows = this.#after.all(tenantId, conversationId, q.after, q.limit) as MessageRow[];
      return q.before !== undefined ? rows.filter((r) => r.seq < q.before!) : rows;
    }
    return ((q.before !== undefined
      ? this.#before.all(tenantId, conversationId, q.before, q.limit)
      : this.#newest.all(tenantId, conversationId, q.limit)) as MessageRow[]).reverse();
  }

  async recall(tenantId: string, conversationId: string, messageId: string, at: number, notice: NewMessage): Promise<{ recalled: Message; notice: Message } | null> {
    return this.#recall(tenantId, conversationId, messageId, at, notice);
  }
}
