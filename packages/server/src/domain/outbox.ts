/**
 * The after-commit outbox: the one way work that follows a commit (offline push, webhooks,
 * escalation) learns of it. The stores write an outbox job (`Storage.jobs`) in the SAME
 * transaction as the fact itself — a message append, a notification — so a committed fact
 * always has its job, and a rolled-back one never has: there is no window between commit and
 * enqueue. A `JobRunner` on any node claims the job and hands the fact to every consumer
 * (`webhooks/after-commit.ts`); consumers enqueue their own jobs with dedupe keys, so a job
 * run twice (a node died mid-way) enqueues nothing twice.
 *
 * One job per conversation per append transaction (not per message): it names the seq range
 * the transaction added, and the consumers read the messages back. This keeps the cost in the
 * append's transaction to one small insert per conversation written.
 */

/** Messages appended to one conversation in one transaction: seqs `from_seq`…`to_seq`. */
export const OUTBOX_MESSAGES = 'outbox.messages';
/** A notification stored (its tenant seq). */
export const OUTBOX_NOTIFICATION = 'outbox.notification';
/** Both kinds, for the runner. */
export const OUTBOX_KINDS = [OUTBOX_MESSAGES, OUTBOX_NOTIFICATION] as const;
/** Attempts before an outbox job is given up (each attempt only reads and enqueues). */
export const OUTBOX_ATTEMPTS = 20;

export interface OutboxMessages {
  conversation_id: string;
  from_seq: number;
  to_seq: number;
  /** Commit time (ms) of the append. */
  at: number;
}

export interface OutboxNotification {
  notification_id: string;
  seq: number;
  at: number;
}
