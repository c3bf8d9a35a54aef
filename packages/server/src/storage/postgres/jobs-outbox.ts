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
 * One job per tenant, after the append statement moved the heads: $1 is
 * [[job id, tenant, conversation, count added, at], …]; the seqs are read from the heads, locked
 * by this transaction (to = last_seq, from = last_seq - count + 1), and gathered per tenant
 * into `{"ranges": [[conversation, from, to], …], "at"}` (domain/outbox.ts).
 */
const MESSAGES = `INSERT INTO jobs (id, tenant_id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts, worker, lease_until, last_error, created_at, updated_at)
  SELECT min(e->>0), c.tenant_id, '${OUTBOX_MESSAGES}',
    json_build_object('ranges', json_agg(json_build_array(c.id, c.last_seq - (e->>3)::bigint + 1, c.last_seq) ORDER BY c.id), 'at', max((e->>4)::bigint))::text,
    NULL, 'queued', max((e->>4)::bigint), 0, ${OUTBOX_ATTEMPTS}, NULL, NULL, NULL, max((e->>4)::bigint), max((e->>4)::bigint)
  FROM jsonb_array_elements($1::jsonb) AS e
  JOIN conversations c ON c.tenant_id = e->>1 AND c.id = e->>2
  GROUP BY c.tenant_id`;

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
