import type { MessageStore } from '../../domain/ports.ts';
import type { AppendResult, HistoryQuery, Message, NewMessage } from '../../domain/types.ts';
import type { Db } from './db.ts';
import { MESSAGE_COLS, toMessage, type MessageRow } from './rows.ts';

export class SqliteMessageStore implements MessageStore {
  readonly #db: Db;
  readonly #appendTx: (batch: readonly NewMessage[]) => AppendResult[];
  readonly #byId;
  readonly #newest;
  readonly #before;
  readonly #after;

  constructor(db: Db) {
    this.#db = db;
    const byClient = db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = ? AND sender_id = ? AND client_id = ?`);
    const bump = db
      .prepare('UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ? RETURNING last_seq')
      .pluck();
    const insert = db.prepare(
      `INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, type, content, client_id, created_at, recalled_at, forward)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
    );
    const senderRead = db.prepare('UPDATE participants SET read_seq = ? WHERE tenant_id = ? AND conversation_id = ? AND user_id = ? AND read_seq < ?');
    // A care-team message answers the session's open, unanswered topic (if any): same transaction.
    const firstReply = db.prepare(
      'UPDATE topics SET reply = 1, first_reply_at = ?, first_reply_by = ? WHERE tenant_id = ? AND session_id = ? AND status = 0 AND reply = 0',
    );

    this.#appendTx = db.transaction((batch: readonly NewMessage[]): AppendResult[] => {
      const out: AppendResult[] = [];
      for (const m of batch) {
        if (m.client_id !== null) {
          const prev = byClient.get(m.tenant_id, m.sender_id, m.client_id) as MessageRow | undefined;
          if (prev) {
            out.push(prev.conversation_id === m.conversation_id ? { ok: true, message: toMessage(prev), duplicate: true } : { ok: false, code: 'message.client_id_conflict' });
            continue;
          }
        }
        const seq = bump.get(m.created_at, m.created_at, m.tenant_id, m.conversation_id) as number | undefined;
        if (seq === undefined) {
          out.push({ ok: false, code: 'conversation.not_found' });
          continue;
        }
        const forward = m.forward === null ? null : JSON.stringify(m.forward);
        insert.run(m.tenant_id, m.conversation_id, seq, m.id, m.sender_id, m.type, m.content_json, m.client_id, m.created_at, forward);
        senderRead.run(seq, m.tenant_id, m.conversation_id, m.sender_id, seq);
        if (m.care_team) firstReply.run(m.created_at, m.sender_id, m.tenant_id, m.conversation_id);
        out.push({
          ok: true,
          duplicate: false,
          message: {
            id: m.id, conversation_id: m.conversation_id, seq, sender_id: m.sender_id, type: m.type,
            content: m.content, client_id: m.client_id,
            created_at: m.created_at, recalled_at: null, forward: m.forward,
          },
        });
      }
      return out;
    });

    this.#byId = db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = ? AND id = ? AND conversation_id = ?`);
    const q = (where: string, order: 'ASC' | 'DESC') =>
      db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE tenant_id = ? AND conversation_id = ?${where} ORDER BY seq ${order} LIMIT ?`);
    this.#newest = q('', 'DESC');
    this.#before = q(' AND seq < ?', 'DESC');
    this.#after = q(' AND seq > ?', 'ASC');
  }

  async append(batch: readonly NewMessage[]): Promise<AppendResult[]> {
    return this.#appendTx(batch);
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
    let rows: MessageRow[];
    if (q.after !== undefined) {
      rows = this.#after.all(tenantId, conversationId, q.after, q.limit) as MessageRow[];
      if (q.before !== undefined) rows = rows.filter((r) => r.seq < q.before!);
      return rows.map(toMessage);
    }
    rows = (q.before !== undefined
      ? this.#before.all(tenantId, conversationId, q.before, q.limit)
      : this.#newest.all(tenantId, conversationId, q.limit)) as MessageRow[];
    return rows.reverse().map(toMessage);
  }

  async recall(tenantId: string, conversationId: string, messageId: string, at: number, notice: NewMessage): Promise<{ recalled: Message; notice: Message } | null> {
    return this.#db.transaction(() => {
      const r = this.#db
        .prepare('UPDATE messages SET content = NULL, recalled_at = ? WHERE tenant_id = ? AND conversation_id = ? AND id = ? AND recalled_at IS NULL')
        .run(at, tenantId, conversationId, messageId);
      if (r.changes === 0) return null;
      const [res] = this.#appendTx([notice]);
      if (!res || !res.ok) throw new Error('recall notice could not be appended');
      const recalled = this.#byId.get(tenantId, messageId, conversationId) as MessageRow;
      return { recalled: toMessage(recalled), notice: res.message };
    })();
  }
}
