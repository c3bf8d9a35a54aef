import type { ConversationStore } from '../../domain/ports.ts';
import type { Conversation, ConversationView, ListQuery, Membership, NewConversation, Participant } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { CONVERSATION_COLS, VIEW_SELECT, toConversation, toView, type ViewRow } from '../rows.ts';
import type { PgDb, Queryable } from './db.ts';

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

/** Filters by type and business type; a NULL parameter switches one off (one statement text). */
const TYPE_FILTER = (a: number, b: number) => `($${a}::int IS NULL OR c.type = $${a}) AND ($${b}::int IS NULL OR c.business_type = $${b})`;

export class PgConversationStore implements ConversationStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  /**
   * One statement: the conversation (unless its id exists) and its participants. Two nodes
   * creating the same id at once: the second waits for the first to commit, inserts nothing,
   * and reads the first's.
   */
  async createConversation(input: NewConversation, now: number): Promise<{ conversation: Conversation; created: boolean }> {
    const { rows } = await this.#db.write<Conversation>(
      `WITH c AS (
         INSERT INTO conversations (tenant_id, id, type, business_type, name, status, created_by, created_at, updated_at, last_seq, last_message_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 0, NULL) ON CONFLICT DO NOTHING
         RETURNING ${CONVERSATION_COLS.replaceAll('c.', '')}),
       p AS (
         INSERT INTO participants (tenant_id, conversation_id, user_id, role, joined_at, joined_seq, read_seq, sticky_at)
         SELECT $1, c.id, x.user_id, x.role, $8, 0, 0, NULL FROM c, unnest($9::text[], $10::text[]) AS x(user_id, role)
         ON CONFLICT DO NOTHING)
       SELECT * FROM c`,
      [
        input.tenant_id, input.id, input.type, input.business_type, input.name, input.status, input.created_by, now,
        input.participants.map((p) => p.user_id), input.participants.map((p) => p.role),
      ],
    );
    if (rows[0]) return { conversation: toConversation(rows[0]), created: true };
    const existing = await this.getConversation(input.tenant_id, input.id);
    if (!existing) throw new Error(`conversation ${input.id} neither inserted nor found`);
    return { conversation: existing, created: false };
  }

  async getConversation(tenantId: string, id: string): Promise<Conversation | null> {
    const { rows } = await this.#db.query<Conversation>(`SELECT ${CONVERSATION_COLS} FROM conversations c WHERE c.tenant_id = $1 AND c.id = $2`, [tenantId, id]);
    return rows[0] ? toConversation(rows[0]) : null;
  }

  async updateConversation(tenantId: string, id: string, patch: { name?: string; status?: number }, now: number): Promise<Conversation | null> {
    const { rows } = await this.#db.write<Conversation>(
      `UPDATE conversations c SET updated_at = $3, name = COALESCE($4, c.name), status = COALESCE($5, c.status)
       WHERE c.tenant_id = $1 AND c.id = $2 RETURNING ${CONVERSATION_COLS}`,
      [tenantId, id, now, patch.name ?? null, patch.status ?? null],
    );
    return rows[0] ? toConversation(rows[0]) : null;
  }

  async listForUser(tenantId: string, userId: string, q: ListQuery): Promise<{ items: ConversationView[]; next_cursor: string | null }> {
    const cur = q.cursor ? decodeCursor(q.cursor, ['number', 'number', 'string']) : null;
    const { rows } = await this.#db.query<ViewRow>(
      `${VIEW_SELECT} WHERE p.tenant_id = $1 AND p.user_id = $2 AND ${TYPE_FILTER(3, 4)}
         AND ($5::int IS NULL OR (${STICKY}, ${ACTIVITY}, c.id) < ($5::int, $6::bigint, $7::text))
       ORDER BY ${STICKY} DESC, ${ACTIVITY} DESC, c.id DESC LIMIT $8`,
      [tenantId, userId, q.type ?? null, q.business_type ?? null, cur?.[0] ?? null, cur?.[1] ?? null, cur?.[2] ?? null, q.limit + 1],
    );
    const items = rows.slice(0, q.limit).map(toView);
    const next_cursor = rows.length > q.limit ? cursorOf(items[items.length - 1]!) : null;
    return { items, next_cursor };
  }

  async countForUser(tenantId: string, userId: string, q: { type?: number; business_type?: number }): Promise<number> {
    const { rows } = await this.#db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM participants p JOIN conversations c ON c.tenant_id = p.tenant_id AND c.id = p.conversation_id
       WHERE p.tenant_id = $1 AND p.user_id = $2 AND ${TYPE_FILTER(3, 4)}`,
      [tenantId, userId, q.type ?? null, q.business_type ?? null],
    );
    return rows[0]!.n;
  }

  async viewForUser(tenantId: string, userId: string, id: string): Promise<ConversationView | null> {
    const { rows } = await this.#db.query<ViewRow>(`${VIEW_SELECT} WHERE p.tenant_id = $1 AND p.user_id = $2 AND p.conversation_id = $3`, [tenantId, userId, id]);
    return rows[0] ? toView(rows[0]) : null;
  }

  async getParticipants(tenantId: string, conversationId: string, userIds?: readonly string[]): Promise<Participant[]> {
    const { rows } = await this.#db.query<ParticipantRow>(
      `SELECT p.user_id, p.role, p.joined_at, p.read_seq, u.name, u.avatar, u.role AS user_role
       FROM participants p LEFT JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.user_id
       WHERE p.tenant_id = $1 AND p.conversation_id = $2 AND ($3::text[] IS NULL OR p.user_id = ANY($3::text[]))
       ORDER BY p.joined_at, p.user_id`,
      [tenantId, conversationId, userIds ?? null],
    );
    return rows.map((r) => ({
      user_id: r.user_id, role: r.role, joined_at: r.joined_at, read_seq: r.read_seq,
      name: r.name ?? r.user_id, avatar: r.avatar, user_role: r.user_role ?? 'patient',
    }));
  }

  async memberIds(tenantId: string, conversationId: string): Promise<string[]> {
    const { rows } = await this.#db.query<{ user_id: string }>('SELECT user_id FROM participants WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY user_id', [tenantId, conversationId]);
    return rows.map((r) => r.user_id);
  }

  /**
   * Holds the conversation row (as an append does) while it changes, so added users join at
   * a head no append moves meanwhile, on any node.
   */
  async changeParticipants(tenantId: string, conversationId: string, change: Change, now: number): Promise<{ added: string[]; removed: string[] }> {
    // As applied one by one: a user listed twice is added once, with the last role given.
    const roles = new Map<string, string>();
    for (const p of change.add) roles.set(p.user_id, p.role);
    const remove = [...new Set(change.remove)];
    return this.#db.tx(async (q) => {
      const seq = await lockHead(q, tenantId, conversationId);
      if (seq === null) throw fail('conversation.not_found');
      let removed: string[] = [];
      if (remove.length) {
        const { rows } = await q.query<{ user_id: string }>(
          'DELETE FROM participants WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = ANY($3::text[]) RETURNING user_id',
          [tenantId, conversationId, remove],
        );
        const gone = new Set(rows.map((r) => r.user_id));
        removed = remove.filter((id) => gone.has(id));
      }
      let added: string[] = [];
      if (roles.size) {
        const { rows } = await q.query<{ user_id: string; inserted: boolean }>(
          `INSERT INTO participants (tenant_id, conversation_id, user_id, role, joined_at, joined_seq, read_seq, sticky_at)
           SELECT $1, $2, x.user_id, x.role, $3, $4, $4, NULL FROM unnest($5::text[], $6::text[]) AS x(user_id, role)
           ON CONFLICT (tenant_id, conversation_id, user_id) DO UPDATE SET role = excluded.role
           RETURNING user_id, (xmax = 0) AS inserted`,
          [tenantId, conversationId, now, seq, [...roles.keys()], [...roles.values()]],
        );
        const fresh = new Set(rows.filter((r) => r.inserted).map((r) => r.user_id));
        added = [...roles.keys()].filter((id) => fresh.has(id));
      }
      if (added.length || removed.length) {
        await q.query('UPDATE conversations SET updated_at = $3 WHERE tenant_id = $1 AND id = $2', [tenantId, conversationId, now]);
      }
      return { added, removed };
    });
  }

  async setSticky(tenantId: string, conversationId: string, userId: string, sticky: boolean, now: number): Promise<boolean> {
    const { rowCount } = await this.#db.write(
      'UPDATE participants SET sticky_at = $4 WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = $3',
      [tenantId, conversationId, userId, sticky ? now : null],
    );
    return rowCount > 0;
  }

  /** One statement: the row lock on the participant orders concurrent moves; GREATEST keeps it forward only. */
  async advanceRead(tenantId: string, conversationId: string, userId: string, seq: number): Promise<number | null> {
    const { rows } = await this.#db.write<{ read_seq: number }>(
      `UPDATE participants p SET read_seq = GREATEST(p.read_seq, LEAST($4::bigint, c.last_seq))
       FROM conversations c
       WHERE p.tenant_id = $1 AND p.conversation_id = $2 AND p.user_id = $3 AND c.tenant_id = p.tenant_id AND c.id = p.conversation_id
       RETURNING p.read_seq`,
      [tenantId, conversationId, userId, seq],
    );
    return rows[0]?.read_seq ?? null;
  }

  async memberships(tenantId: string, userId: string): Promise<Membership[]> {
    const { rows } = await this.#db.query<Membership>(
      `SELECT c.id, c.last_seq, p.read_seq, p.joined_seq, p.joined_at FROM participants p
       JOIN conversations c ON c.tenant_id = p.tenant_id AND c.id = p.conversation_id
       WHERE p.tenant_id = $1 AND p.user_id = $2`,
      [tenantId, userId],
    );
    return rows;
  }
}

/**
 * Locks a conversation's row for the rest of the transaction (what an append does first) and
 * returns its head; null when there is no such conversation.
 */
export async function lockHead(q: Queryable, tenantId: string, conversationId: string): Promise<number | null> {
  const { rows } = await q.query<{ last_seq: number }>(
    'SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE',
    [tenantId, conversationId],
  );
  return rows[0]?.last_seq ?? null;
}
