/**
 * Calls in SQLite (`CallStore`, migration 018). The one writer makes every transaction
 * exclusive; the unique indexes keep one live call per conversation and one joined call per
 * user, and `update` writes only over the version it was computed from.
 */
import type { CallStore } from '../../domain/ports.ts';
import type { Call, CallParticipant, Message, NewMessage } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import type { Db } from './db.ts';
import type { SqliteMessageStore } from './messages.ts';

type CallRow = Omit<Call, 'participants'>;

const COLS = 'tenant_id, id, conversation_id, caller_id, av_type, state, created_at, ring_until, answered_at, ended_at, end_reason, version, record_message_id, record_seq';
const PCOLS = 'user_id, state, joined_at, left_at, seen_at';

function isUnique(err: unknown, columns: string): boolean {
  const e = err as { code?: string; message?: string } | null;
  return e !== null && typeof e === 'object' && typeof e.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT') && (e.message ?? '').includes(columns);
}

export class SqliteCallStore implements CallStore {
  readonly #get: (tenantId: string, id: string) => Call | null;
  readonly #live;
  readonly #forUser;
  readonly #create: (call: Call) => Call;
  readonly #update: (next: Call, record: NewMessage | undefined) => { call: Call; record: Message | null } | null;
  readonly #beat;

  constructor(db: Db, messages: SqliteMessageStore) {
    const row = db.prepare(`SELECT ${COLS} FROM calls WHERE tenant_id = ? AND id = ?`);
    const parts = db.prepare(`SELECT ${PCOLS} FROM call_participants WHERE tenant_id = ? AND call_id = ? ORDER BY ord`);
    const get = (this.#get = (tenantId: string, id: string): Call | null => {
      const r = row.get(tenantId, id) as CallRow | undefined;
      return r ? { ...r, participants: parts.all(tenantId, id) as CallParticipant[] } : null;
    });
    this.#live = db.prepare(`SELECT id FROM calls WHERE tenant_id = ? AND conversation_id = ? AND state <> 'ended'`).pluck();
    this.#forUser = db.prepare(
      `SELECT c.id FROM call_participants p JOIN calls c ON c.tenant_id = p.tenant_id AND c.id = p.call_id
       WHERE p.tenant_id = ? AND p.user_id = ? AND p.state IN ('ringing', 'joined') AND c.state <> 'ended' ORDER BY c.created_at DESC, c.id DESC LIMIT 20`,
    ).pluck();
    const joined = db.prepare(`SELECT 1 FROM call_participants WHERE tenant_id = ? AND user_id = ? AND state = 'joined'`).pluck();
    const insert = db.prepare(
      `INSERT INTO calls (${COLS}) VALUES (@tenant_id, @id, @conversation_id, @caller_id, @av_type, @state, @created_at, @ring_until, @answered_at,
         @ended_at, @end_reason, 1, NULL, NULL)`,
    );
    const insertPart = db.prepare(`INSERT INTO call_participants (tenant_id, call_id, ${PCOLS}, ord) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    const liveId = this.#live;
    this.#create = db.transaction((call: Call): Call => {
      const { participants, ...c } = call;
      try {
        insert.run(c);
      } catch (err) {
        if (isUnique(err, 'calls.tenant_id, calls.conversation_id')) {
          throw fail('call.in_progress', undefined, { call_id: liveId.get(call.tenant_id, call.conversation_id) ?? null });
        }
        throw err;
      }
      for (const [i, p] of participants.entries()) {
        const state = p.state === 'ringing' && joined.get(call.tenant_id, p.user_id) ? 'busy' : p.state;
        try {
          insertPart.run(call.tenant_id, call.id, p.user_id, state, p.joined_at, p.left_at, p.seen_at, i);
        } catch (err) {
          if (isUnique(err, 'call_participants.tenant_id, call_participants.user_id')) throw fail('call.busy', undefined, { user_id: p.user_id });
          throw err;
        }
      }
      return get(call.tenant_id, call.id)!;
    });
    const change = db.prepare(
      `UPDATE calls SET state = @state, ring_until = @ring_until, answered_at = @answered_at, ended_at = @ended_at, end_reason = @end_reason,
         version = version + 1 WHERE tenant_id = @tenant_id AND id = @id AND version = @version`,
    );
    const changePart = db.prepare(
      `UPDATE call_participants SET state = ?, joined_at = ?, left_at = ?, seen_at = MAX(seen_at, ?) WHERE tenant_id = ? AND call_id = ? AND user_id = ?`,
    );
    const recorded = db.prepare('UPDATE calls SET record_message_id = ?, record_seq = ? WHERE tenant_id = ? AND id = ?');
    this.#update = db.transaction((next: Call, record: NewMessage | undefined) => {
      const { participants, ...c } = next;
      if (change.run(c).changes === 0) return null;
      for (const p of participants) {
        try {
          changePart.run(p.state, p.joined_at, p.left_at, p.seen_at, next.tenant_id, next.id, p.user_id);
        } catch (err) {
          if (isUnique(err, 'call_participants.tenant_id, call_participants.user_id')) throw fail('call.busy', undefined, { user_id: p.user_id });
          throw err;
        }
      }
      let written: Message | null = null;
      if (record) {
        const [r] = messages.appendNow([record]);
        if (!r || !r.ok) throw fail(r && !r.ok ? r.code : 'server.internal');
        written = r.message;
        recorded.run(written.id, written.seq, next.tenant_id, next.id);
      }
      return { call: get(next.tenant_id, next.id)!, record: written };
    });
    this.#beat = db.prepare(
      `UPDATE call_participants SET seen_at = MAX(seen_at, ?) WHERE tenant_id = ? AND call_id = ? AND user_id = ? AND state = 'joined'`,
    );
  }

  async create(call: Call): Promise<Call> {
    return this.#create(call);
  }

  async get(tenantId: string, id: string): Promise<Call | null> {
    return this.#get(tenantId, id);
  }

  async live(tenantId: string, conversationId: string): Promise<Call | null> {
    const id = this.#live.get(tenantId, conversationId) as string | undefined;
    return id === undefined ? null : this.#get(tenantId, id);
  }

  async liveForUser(tenantId: string, userId: string): Promise<Call[]> {
    return (this.#forUser.all(tenantId, userId) as string[]).map((id) => this.#get(tenantId, id)).filter((c): c is Call => c !== null);
  }

  async update(next: Call, record?: NewMessage): Promise<{ call: Call; record: Message | null } | null> {
    return this.#update(next, record);
  }

  async beat(tenantId: string, id: string, userId: string, at: number): Promise<boolean> {
    return this.#beat.run(at, tenantId, id, userId).changes > 0;
  }
}
