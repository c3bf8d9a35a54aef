import type { ConversationStore } from '../../domain/ports.ts';
import type { Conversation, ConversationView, ListQuery, Membership, NewConversation, Participant } from '../../domain/types.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { StatementCache, type Db } from './db.ts';
import { CONVERSATION_COLS, VIEW_SELECT, toConversation, toView, type ViewRow } from '../rows.ts';

const STICKY = 'CASE WHEN p.sticky_at IS NULL THEN 0 ELSE 1 END';
const ACTIVITY = 'COALESCE(c.last_message_at, c.created_at)';

/** A page's cursor: the sort key (sticky, activity, id) of its last conversation. */
const cursorOf = (v: ConversationView): string => encodeCursor([v.sticky ? 1 : 0, v.last_message_at ?? v.created_at, v.id]);

interface ParticipantRow {
  user_id: string;
  role: string;
  joined_at: number;
  read_seq: number;
  name: string | null;
  avatar: string | null;
  user_role: string | null;
}

type Change = { add: { user_id: string; role: string }[]; remove: string[] };

export class SqliteConversationStore implements ConversationStore {
  readonly #sql: StatementCache;
  readonly #get;
  readonly #members;
  readonly #view;
  readonly #sticky;
  readonly #advanceRead;
  readonly #memberships;
  readonly #create: (input: NewConversation, now: number) => { conversation: Conversation; created: boolean };
  readonly #change: (tenantId: string, conversationId: string, change: Change, now: number) => { added: string[]; removed: string[] };

  constructor(db: Db) {
    this.#sql = new StatementCache(db);
    const get = (this.#get = db.prepare(`SELECT ${CONVERSATION_COLS} FROM conversations c WHERE c.tenant_id = ? AND c.id = ?`));
    this.#members = db.prepare('SELECT user_id FROM participants WHERE tenant_id = ? AND conversation_id = ?').pluck();
    this.#view = db.prepare(`${VIEW_SELECT} WHERE p.tenant_id = ? AND p.user_id = ? AND p.conversation_id = ?`);
    this.#sticky = db.prepare('UPDATE participants SET sticky_at = ? WHERE tenant_id = ? AND conversation_id = ? AND user_id = ?');
    this.#advanceRead = db
      .prepare(
        `UPDATE participants SET read_seq = MAX(read_seq, MIN(?, (SELECT last_seq FROM conversations WHERE tenant_id = ? AND id = ?)))
         WHERE tenant_id = ? AND conversation_id = ? AND user_id = ? RETURNING read_seq`,
      )
      .pluck();
    this.#memberships = db.prepare(
      `SELECT c.id, c.last_seq, p.read_seq, p.joined_seq, p.joined_at FROM participants p
       JOIN conversations c ON c.tenant_id = p.tenant_id AND c.id = p.conversation_id
       WHERE p.tenant_id = ? AND p.user_id = ?`,
    );

    const insert = db.prepare(
      `INSERT INTO conversations (tenant_id, id, type, business_type, name, status, created_by, created_at, updated_at, last_seq, last_message_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL)`,
    );
    const addNew = db.prepare(
      `INSERT INTO participants (tenant_id, conversation_id, user_id, role, joined_at, joined_seq, read_seq, sticky_at)
       VALUES (?, ?, ?, ?, ?, 0, 0, NULL) ON CONFLICT DO NOTHING`,
    );
    this.#create = db.transaction((input: NewConversation, now: number) => {
      const existing = get.get(input.tenant_id, input.id) as Conversation | undefined;
      if (existing) return { conversation: toConversation(existing), created: false };
      insert.run(input.tenant_id, input.id, input.type, input.business_type, input.name, input.status, input.created_by, now, now);
      for (const p of input.participants) addNew.run(input.tenant_id, input.id, p.user_id, p.role, now);
      return { conversation: toConversation(get.get(input.tenant_id, input.id) as Conversation), created: true };
    });

    const del = db.prepare('DELETE FROM participants WHERE tenant_id = ? AND conversation_id = ? AND user_id = ?');
    const head = db.prepare('SELECT last_seq FROM conversations WHERE tenant_id = ? AND id = ?').pluck();
    const add = db.prepare(
      `INSERT INTO participants (tenant_id, conversation_id, user_id, role, joined_at, joined_seq, read_seq, sticky_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (tenant_id, conversation_id, user_id) DO UPDATE SET role = excluded.role`,
    );
    const exists = db.prepare('SELECT 1 FROM participants WHERE tenant_id = ? AND conversation_id = ? AND user_id = ?');
    const touch = db.prepare('UPDATE conversations SET updated_at = ? WHERE tenant_id = ? AND id = ?');
    this.#change = db.transaction((tenantId: string, conversationId: string, change: Change, now: number) => {
      const removed: string[] = [];
      for (const id of change.remove) if (del.run(tenantId, conversationId, id).changes) removed.push(id);
      const seq = head.get(tenantId, conversationId) as number;
      const added: string[] = [];
      for (const p of change.add) {
        const was = exists.get(tenantId, conversationId, p.user_id) !== undefined;
        add.run(tenantId, conversationId, p.user_id, p.role, now, seq, seq);
        if (!was) added.push(p.user_id);
      }
      if (added.length || removed.length) touch.run(now, tenantId, conversationId);
      return { added, removed };
    });
  }

  async createConversation(input: NewConversation, now: number): Promise<{ conversation: Conversation; created: boolean }> {
    return this.#create(input, now);
  }

  async getConversation(tenantId: string, id: string): Promise<Conversation | null> {
    const r = this.#get.get(tenantId, id) as Conversation | undefined;
    return r ? toConversation(r) : null;
  }

  async updateConversation(tenantId: string, id: string, patch: { name?: string; status?: number }, now: number): Promise<Conversation | null> {
    const sets: string[] = ['updated_at = ?'];
    const args: unknown[] = [now];
    if (patch.name !== undefined) (sets.push('name = ?'), args.push(patch.name));
    if (patch.status !== undefined) (sets.push('status = ?'), args.push(patch.status));
    const r = this.#sql.get(`UPDATE conversations SET ${sets.join(', ')} WHERE tenant_id = ? AND id = ?`).run(...args, tenantId, id);
    return r.changes ? this.getConversation(tenantId, id) : null;
  }

  async listForUser(tenantId: string, userId: string, q: ListQuery): Promise<{ items: ConversationView[]; next_cursor: string | null }> {
    const where = ['p.tenant_id = ?', 'p.user_id = ?'];
    const args: unknown[] = [tenantId, userId];
    if (q.type !== undefined) (where.push('c.type = ?'), args.push(q.type));
    if (q.business_type !== undefined) (where.push('c.business_type = ?'), args.push(q.business_type));
    const cur = q.cursor ? decodeCursor(q.cursor, ['number', 'number', 'string']) : null;
    if (cur) (where.push(`(${STICKY}, ${ACTIVITY}, c.id) < (?, ?, ?)`), args.push(...cur));
    const rows = this.#sql
      .get(`${VIEW_SELECT} WHERE ${where.join(' AND ')} ORDER BY ${STICKY} DESC, ${ACTIVITY} DESC, c.id DESC LIMIT ?`)
      .all(...args, q.limit + 1) as ViewRow[];
    const items = rows.slice(0, q.limit).map(toView);
    const next_cursor = rows.length > q.limit ? cursorOf(items[items.length - 1]!) : null;
    return { items, next_cursor };
  }

  async countForUser(tenantId: string, userId: string, q: { type?: number; business_type?: number }): Promise<number> {
    const where = ['p.tenant_id = ?', 'p.user_id = ?'];
    const args: unknown[] = [tenantId, userId];
    if (q.type !== undefined) (where.push('c.type = ?'), args.push(q.type));
    if (q.business_type !== undefined) (where.push('c.business_type = ?'), args.push(q.business_type));
    return this.#sql
      .pluck(`SELECT COUNT(*) FROM participants p JOIN conversations c ON c.tenant_id = p.tenant_id AND c.id = p.conversation_id WHERE ${where.join(' AND ')}`)
      .get(...args) as number;
  }

  async viewForUser(tenantId: string, userId: string, id: string): Promise<ConversationView | null> {
    const r = this.#view.get(tenantId, userId, id) as ViewRow | undefined;
    return r ? toView(r) : null;
  }

  async getParticipants(tenantId: string, conversationId: string, userIds?: readonly string[]): Promise<Participant[]> {
    const filter = userIds ? ` AND p.user_id IN (${userIds.map(() => '?').join(',') || 'NULL'})` : '';
    const rows = this.#sql
      .get(
        `SELECT p.user_id, p.role, p.joined_at, p.read_seq, u.name, u.avatar, u.role AS user_role
         FROM participants p INDEXED BY participants_conversation LEFT JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.user_id
         WHERE p.tenant_id = ? AND p.conversation_id = ?${filter} ORDER BY p.joined_at, p.user_id`,
      )
      .all(tenantId, conversationId, ...(userIds ?? [])) as ParticipantRow[];
    return rows.map((r) => ({
      user_id: r.user_id, role: r.role, joined_at: r.joined_at, read_seq: r.read_seq,
      name: r.name ?? r.user_id, avatar: r.avatar, user_role: r.user_role ?? 'patient',
    }));
  }

  async memberIds(tenantId: string, conversationId: string): Promise<string[]> {
    return this.#members.all(tenantId, conversationId) as string[];
  }

  async changeParticipants(tenantId: string, conversationId: string, change: Change, now: number): Promise<{ added: string[]; removed: string[] }> {
    return this.#change(tenantId, conversationId, change, now);
  }

  async setSticky(tenantId: string, conversationId: string, userId: string, sticky: boolean, now: number): Promise<boolean> {
    return this.#sticky.run(sticky ? now : null, tenantId, conversationId, userId).changes > 0;
  }

  async advanceRead(tenantId: string, conversationId: string, userId: string, seq: number): Promise<number | null> {
    const r = this.#advanceRead.get(seq, tenantId, conversationId, tenantId, conversationId, userId) as number | undefined;
    return r ?? null;
  }

  async memberships(tenantId: string, userId: string): Promise<Membership[]> {
    return this.#memberships.all(tenantId, userId) as Membership[];
  }
}
