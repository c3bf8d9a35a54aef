/**
 * The after-commit outbox: the one way work that follows a commit (offline push, webhooks,
 * escalation) learns of it. The stores write an outbox job (`Storage.jobs`) in the SAME
 * transaction as the fact itself — a message append, a notification — so a committed fact
 * always has its job, and a rolled-back one never has: there is no window between commit and
 * enqueue. A `JobRunner` on any node claims the job and hands the fact to every consumer
 * (`webhooks/after-commit.ts`); consumers enqueue their own jobs with dedupe keys, so a job
 * run twice (a node died mid-way) enqueues nothing twice.
 *
 * One job per tenant per append (not per message, nor per conversation): it names the seq
 * range the append added to each conversation, and the consumers read the messages back. This
 * keeps the cost in the append's transaction to one small insert, and the job queue's own
 * writes (claim, complete, prune: each a write of the jobs table and its indexes) to one set
 * per append — under chat load an append holds a dozen conversations or more, and one job per
 * conversation made the queue's writes cost more than the messages' own.
 */

/** Messages appended: per conversation, a seq range. */
export const OUTBOX_MESSAGES = 'outbox.messages';
/** A notification stored (its tenant seq). */
export const OUTBOX_NOTIFICATION = 'outbox.notification';
/** Both kinds, for the runner. */
export const OUTBOX_KINDS = [OUTBOX_MESSAGES, OUTBOX_NOTIFICATION] as const;
/** Attempts before an outbox job is given up (each attempt only reads and enqueues). */
export const OUTBOX_ATTEMPTS = 20;

/** Messages appended in one append: per conversation, seqs `from`…`to` (`[conversation_id, from, to]`). */
export interface OutboxMessages {
  ranges: [conversation_id: string, from_seq: number, to_seq: number][];
  /** Commit time (ms) of the append. */
  at: number;
}

/** The payload of a job written before `ranges` (one conversation per job): still run after an upgrade. */
export interface OutboxMessagesV1 {
  conversation_id: string;
  from_seq: number;
  to_seq: number;
  at: number;
}

/** A messages job's ranges, whichever shape it was written in. */
export function outboxRanges(p: OutboxMessages | OutboxMessagesV1): [string, number, number][] {
  return 'ranges' in p ? p.ranges : [[p.conversation_id, p.from_seq, p.to_seq]];
}

export interface OutboxNotification {
  notification_id: string;
  seq: number;
  at: number;
}
