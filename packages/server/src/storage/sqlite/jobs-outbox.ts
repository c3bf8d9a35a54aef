/**
 * The after-commit outbox hook for SQLite (`domain/outbox.ts`): inserts an outbox job inside
 * the transaction the caller has open (a message append, a notification), so the job commits
 * or rolls back with the fact. One prepared INSERT, no dedupe key (nothing else writes these
 * jobs), no read.
 */
import { newId } from '../../domain/ids.ts';
import { OUTBOX_ATTEMPTS, OUTBOX_MESSAGES, OUTBOX_NOTIFICATION } from '../../domain/outbox.ts';
import type { Db } from './db.ts';

export interface SqliteOutbox {
  /** Messages were appended in the open transaction: per conversation of the tenant, seqs `from`…`to`. */
  messagesAppended(tenantId: string, ranges: [conversationId: string, from: number, to: number][], at: number): void;
  /** A notification was stored in the open transaction. */
  notificationStored(tenantId: string, notificationId: string, seq: number, at: number): void;
}

export function sqliteOutbox(db: Db): SqliteOutbox {
  const insert = db.prepare(
    `INSERT INTO jobs (id, tenant_id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts, worker, lease_until, last_error, created_at, updated_at)
     VALUES (?, ?, ?, ?, NULL, 'queued', ?, 0, ${OUTBOX_ATTEMPTS}, NULL, NULL, NULL, ?, ?)`,
  );
  return {
    messagesAppended(tenantId, ranges, at) {
      const payload = `{"ranges":${JSON.stringify(ranges)},"at":${at}}`;
      insert.run(newId(), tenantId, OUTBOX_MESSAGES, payload, at, at, at);
    },
    notificationStored(tenantId, notificationId, seq, at) {
      const payload = `{"notification_id":${JSON.stringify(notificationId)},"seq":${seq},"at":${at}}`;
      insert.run(newId(), tenantId, OUTBOX_NOTIFICATION, payload, at, at, at);
    },
  };
}
