/**
 * The after-commit outbox hook for PostgreSQL (`domain/outbox.ts`): outbox jobs inserted by a
 * statement of the transaction the caller has open (a message append, a notification), so
 * they commit or roll back with the fact. Sent without awaiting its answer (the transaction
 * awaits it): it travels in the same round trip as the COMMIT, adding no round trip.
 */
import { newId } from '../../domain/ids.ts';
import { OUTBOX_ATTEMPTS, OUTBOX_MESSAGES, OUTBOX_NOTIFICATION } from '../../domain/outbox.ts';
import type { Queryable } from './db.ts';

/**
 * One job per conversation, after the append statement moved its head: $1 is
 * [[job id, tenant, conversation, count added, at], …]; the seqs are read from the head, locked
 * by this transaction (to_seq = last_seq, from_seq = last_seq - count + 1).
 */
const MESSAGES = `INSERT INTO jobs (id, tenant_id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts, worker, lease_until, last_error, created_at, updated_at)
  SELECT e->>0, c.tenant_id, '${OUTBOX_MESSAGES}',
    json_build_object('conversation_id', c.id, 'from_seq', c.last_seq - (e->>3)::bigint + 1, 'to_seq', c.last_seq, 'at', (e->>4)::bigint)::text,
    NULL, 'queued', (e->>4)::bigint, 0, ${OUTBOX_ATTEMPTS}, NULL, NULL, NULL, (e->>4)::bigint, (e->>4)::bigint
  FROM jsonb_array_elements($1::jsonb) AS e
  JOIN conversations c ON c.tenant_id = e->>1 AND c.id = e->>2`;

const NOTIFICATION = `INSERT INTO jobs (id, tenant_id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts, worker, lease_until, last_error, created_at, updated_at)
  VALUES ($1, $2, '${OUTBOX_NOTIFICATION}', $3, NULL, 'queued', $4, 0, ${OUTBOX_ATTEMPTS}, NULL, NULL, NULL, $4, $4)`;

/** Messages were appended in `q`'s transaction: per conversation, how many and the time of the last. Call after the append statement. */
export function messagesAppended(q: Queryable, heads: readonly { tenant: string; id: string; n: number; at: number }[]): void {
  if (heads.length === 0) return;
  void q.query(MESSAGES, [JSON.stringify(heads.map((h) => [newId(), h.tenant, h.id, h.n, h.at]))]);
}

/** A notification was stored in `q`'s transaction. */
export function notificationStored(q: Queryable, tenantId: string, notificationId: string, seq: number, at: number): void {
  void q.query(NOTIFICATION, [newId(), tenantId, JSON.stringify({ notification_id: notificationId, seq, at }), at]);
}
