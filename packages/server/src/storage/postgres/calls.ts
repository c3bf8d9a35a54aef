/**
 * Calls in PostgreSQL (`CallStore`, migration 010), for several nodes on one database. The
 * unique indexes `calls_live` (one live call per conversation) and `call_participants_line`
 * (one joined call per user) hold across nodes; `update` is a conditional write on the call's
 * version, so of two nodes changing a call at once one wins and the other sees null and reads
 * again. A record appended with a change locks the conversation's row like every append.
 */
import type { CallStore } from '../../domain/ports.ts';
import type { Call, CallParticipant, Message, NewMessage } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import { isUniqueViolation, type PgDb, type Queryable } from './db.ts';
import { appendIn } from './messages.ts';

type CallRow = Omit<Call, 'participants'>;

const COLS = 'tenant_id, id, conversation_id, caller_id, av_type, state, created_at, ring_until, answered_at, ended_at, end_reason, version, record_message_id, record_seq';
const PCOLS = 'user_id, state, joined_at, left_at, seen_at';

export class PgCallStore implements CallStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async #get(q: Queryable, tenantId: string, id: string): Promise<Call | null> {
    const [{ rows }, { rows: parts }] = await Promise.all([
      q.query<CallRow>(`SELECT ${COLS} FROM calls WHERE tenant_id = $1 AND id = $2`, [tenantId, id]),
      q.query<CallParticipant>(`SELECT ${PCOLS} FROM call_participants WHERE tenant_id = $1 AND call_id = $2 ORDER BY ord`, [tenantId, id]),
    ]);
    return rows[0] ? { ...rows[0], participants: parts } : null;
  }

  async create(call: Call): Promise<Call> {
    const { participants, ...c } = call;
    try {
      await this.#db.tx(async (q) => {
        await q.query(
          `INSERT INTO calls (${COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, NULL, NULL)`,
          [c.tenant_id, c.id, c.conversation_id, c.caller_id, c.av_type, c.state, c.created_at, c.ring_until, c.answered_at, c.ended_at, c.end_reason],
        );
        const ringing = participants.filter((p) => p.state === 'ringing').map((p) => p.user_id);
        const { rows: busy } = await q.query<{ user_id: string }>(
          `SELECT user_id FROM call_participants WHERE tenant_id = $1 AND state = 'joined' AND user_id = ANY($2::text[])`, [c.tenant_id, ringing],
        );
        const taken = new Set(busy.map((r) => r.user_id));
        const rows = participants.map((p, i) => ({ ...p, state: p.state === 'ringing' && taken.has(p.user_id) ? 'busy' : p.state, ord: i }));
        await q.query(
          `INSERT INTO call_participants (tenant_id, call_id, ${PCOLS}, ord)
           SELECT $1, $2, x.user_id, x.state, x.joined_at, x.left_at, x.seen_at, x.ord
           FROM json_to_recordset($3::json) AS x(user_id text, state text, joined_at bigint, left_at bigint, seen_at bigint, ord int)`,
          [c.tenant_id, c.id, JSON.stringify(rows)],
        );
      });
    } catch (err) {
      if (isUniqueViolation(err, 'calls_live')) {
        const live = await this.live(c.tenant_id, c.conversation_id);
        throw fail('call.in_progress', undefined, { call_id: live?.id ?? null });
      }
      if (isUniqueViolation(err, 'call_participants_line')) throw fail('call.busy', undefined, { user_id: c.caller_id });
      throw err;
    }
    return (await this.#get(this.#db, c.tenant_id, c.id))!;
  }

  get(tenantId: string, id: string): Promise<Call | null> {
    return this.#get(this.#db, tenantId, id);
  }

  async live(tenantId: string, conversationId: string): Promise<Call | null> {
    const { rows } = await this.#db.query<{ id: string }>(`SELECT id FROM calls WHERE tenant_id = $1 AND conversation_id = $2 AND state <> 'ended'`, [tenantId, conversationId]);
    return rows[0] ? this.#get(this.#db, tenantId, rows[0].id) : null;
  }

  async liveForUser(tenantId: string, userId: string): Promise<Call[]> {
    const { rows } = await this.#db.query<{ id: string }>(
      `SELECT c.id FROM call_participants p JOIN calls c ON c.tenant_id = p.tenant_id AND c.id = p.call_id
       WHERE p.tenant_id = $1 AND p.user_id = $2 AND p.state IN ('ringing', 'joined') AND c.state <> 'ended' ORDER BY c.created_at DESC, c.id DESC LIMIT 20`,
      [tenantId, userId],
    );
    const calls = await Promise.all(rows.map((r) => this.#get(this.#db, tenantId, r.id)));
    return calls.filter((c): c is Call => c !== null);
  }

  async update(next: Call, record?: NewMessage): Promise<{ call: Call; record: Message | null } | null> {
    const { participants, ...c } = next;
    try {
      return await this.#db.tx(async (q) => {
        const { rowCount } = await q.query(
          `UPDATE calls SET state = $4, ring_until = $5, answered_at = $6, ended_at = $7, end_reason = $8, version = version + 1
           WHERE tenant_id = $1 AND id = $2 AND version = $3`,
          [c.tenant_id, c.id, c.version, c.state, c.ring_until, c.answered_at, c.ended_at, c.end_reason],
        );
        if (rowCount === 0) return null;
        await q.query(
          `UPDATE call_participants p SET state = x.state, joined_at = x.joined_at, left_at = x.left_at, seen_at = GREATEST(p.seen_at, x.seen_at)
           FROM json_to_recordset($3::json) AS x(user_id text, state text, joined_at bigint, left_at bigint, seen_at bigint)
           WHERE p.tenant_id = $1 AND p.call_id = $2 AND p.user_id = x.user_id`,
          [c.tenant_id, c.id, JSON.stringify(participants)],
        );
        let written: Message | null = null;
        if (record) {
          const [r] = await appendIn(q, [record]);
          if (!r || !r.ok) throw fail(r && !r.ok ? r.code : 'server.internal');
          written = r.message;
          await q.query('UPDATE calls SET record_message_id = $3, record_seq = $4 WHERE tenant_id = $1 AND id = $2', [c.tenant_id, c.id, written.id, written.seq]);
        }
        return { call: (await this.#get(q, c.tenant_id, c.id))!, record: written };
      });
    } catch (err) {
      if (isUniqueViolation(err, 'call_participants_line')) throw fail('call.busy');
      throw err;
    }
  }

  async beat(tenantId: string, id: string, userId: string, at: number): Promise<boolean> {
    const { rowCount } = await this.#db.write(
      `UPDATE call_participants SET seen_at = GREATEST(seen_at, $4) WHERE tenant_id = $1 AND call_id = $2 AND user_id = $3 AND state = 'joined'`,
      [tenantId, id, userId, at],
    );
    return rowCount > 0;
  }
}
