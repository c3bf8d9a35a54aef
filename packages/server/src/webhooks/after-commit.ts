/**
 * The one after-commit hook (`domain/outbox.ts`): runs the outbox jobs the stores write in the
 * same transaction as a message append or a notification, and hands each committed fact to
 * every consumer registered here — offline push (`push/index.ts`), webhooks
 * (`webhooks/index.ts`), the escalation ladder. Any node runs any outbox job (`outbox.workers`
 * at a time); a job whose consumer throws is retried (consumers enqueue with dedupe keys, so
 * a consumer that ran before the failure adds nothing the second time).
 *
 * The committing node pokes its runner at once (`poke`), so the usual path has no poll
 * delay; another node's job is found within `outbox.pollMs`. Done jobs of every kind are
 * pruned after `outbox.keepDoneMs` by whichever node gets there.
 */
import type { Logger } from 'pino';
import type { Core } from '../core.ts';
import type { Job, Storage } from '../domain/ports.ts';
import type { Message, Notification } from '../domain/types.ts';
import type { DomainEvent } from '../domain/events.ts';
import { JobRunner } from '../domain/jobs.ts';
import { OUTBOX_KINDS, OUTBOX_MESSAGES, OUTBOX_NOTIFICATION, outboxRanges, type OutboxMessages, type OutboxMessagesV1, type OutboxNotification } from '../domain/outbox.ts';

export interface AfterCommitConsumer {
  /** For logs. */
  name: string;
  /** New messages of one conversation (ascending seq) and its participants when the job runs. */
  messages?(tenantId: string, messages: readonly Message[], recipients: readonly string[]): Promise<void>;
  /**
   * Whether `messages` could do anything with a message of this type in this tenant, known
   * without reading anything (this node's configuration, a fresh cache). False for every
   * consumer: the append writes no outbox job for the message (`NewMessage.outbox`). Absent:
   * every message is wanted.
   */
  wants?(tenantId: string, type: number): boolean;
  /** A notification stored; `recipients` null for a tenant-wide broadcast. */
  notification?(tenantId: string, notification: Notification, recipients: readonly string[] | null): Promise<void>;
  /**
   * Every other event this node's domain publishes after its commit (conversation and
   * participant changes, call changes, presence), on this node only, synchronously: not from
   * the outbox — the enqueue that follows runs right after the commit, and a crash in those
   * milliseconds loses it (the fact itself is stored).
   */
  event?(e: DomainEvent): void;
}

export interface AfterCommitOptions {
  storage: Pick<Storage, 'jobs' | 'messages' | 'conversations' | 'notifications'>;
  worker: string;
  workers: number;
  pollMs: number;
  keepDoneMs: number;
  log?: Pick<Logger, 'warn' | 'error'>;
  now?: () => number;
}

/** Done jobs deleted per prune transaction. */
const PRUNE_BATCH = 1000;

export class AfterCommit {
  readonly #o: AfterCommitOptions;
  readonly #now: () => number;
  readonly #consumers: AfterCommitConsumer[] = [];
  #runner: JobRunner | null = null;
  #pruneTimer: NodeJS.Timeout | null = null;
  #pruning: Promise<void> | null = null;

  constructor(o: AfterCommitOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** Adds a consumer (before `start`). */
  add(consumer: AfterCommitConsumer): void {
    if (this.#runner) throw new Error('AfterCommit: add consumers before start()');
    this.#consumers.push(consumer);
  }

  /**
   * Whether a consumer wants a message of this type of the tenant after its commit. The nodes
   * of a cluster share their configuration, so they agree (a webhook subscribed on another
   * node is heard within `webhooks.cacheMs`, as it is when the job runs).
   */
  wants(tenantId: string, type: number): boolean {
    for (const c of this.#consumers) if (c.messages && (c.wants?.(tenantId, type) ?? true)) return true;
    return false;
  }

  /** A domain event this node published (after its commit): to every consumer's `event`. */
  local(e: DomainEvent): void {
    for (const c of this.#consumers) {
      if (!c.event) continue;
      try {
        c.event(e);
      } catch (err) {
        this.#o.log?.error({ err, consumer: c.name }, 'after-commit: an event could not be considered');
      }
    }
  }

  /** Starts running outbox jobs (none when `workers` is 0: other nodes run them). */
  start(): void {
    if (this.#runner || this.#o.workers === 0) return;
    const runner = new JobRunner({
      jobs: this.#o.storage.jobs, worker: this.#o.worker, concurrency: this.#o.workers, pollMs: this.#o.pollMs,
      backoff: (attempts) => Math.min(60_000, 250 * 2 ** Math.max(0, attempts - 1)),
      onError: (err, job) => {
        if (job) this.#o.log?.warn({ err: (err as Error).message, job: job.id, attempt: job.attempts }, 'outbox: a consumer failed; the job is retried');
        else this.#o.log?.error({ err }, 'outbox: the job queue failed');
      },
    });
    runner.register(OUTBOX_MESSAGES, this.#messages).register(OUTBOX_NOTIFICATION, this.#notification);
    runner.start();
    this.#runner = runner;
    this.#pruneTimer = setInterval(() => this.#prune(), Math.max(1000, Math.min(60_000, this.#o.keepDoneMs))).unref();
  }

  /** Looks for outbox jobs now (this node just committed something). */
  poke(): void {
    this.#runner?.poke();
  }

  /** Resolves once no outbox job is queued or leased anywhere (for tests and shutdown of a one-node setup). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const st = (await this.#o.storage.jobs.stats()).filter((x) => (OUTBOX_KINDS as readonly string[]).includes(x.kind));
      if (st.every((x) => x.queued + x.leased === 0)) return;
      if (Date.now() > until) throw new Error('outbox: jobs still pending');
      this.poke();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close = async (): Promise<void> => {
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    await this.#pruning;
    await this.#runner?.close();
  };

  readonly #messages = async (job: Job): Promise<void> => {
    const t = job.tenant_id;
    const wants = this.#consumers.filter((c) => c.messages);
    if (!wants.length) return;
    // Every conversation's consumers run, even after one failed; then the job fails (and the
    // dedupe keys of the consumers' own jobs make the next run add only what is missing).
    await allOrFail(outboxRanges(job.payload as OutboxMessages | OutboxMessagesV1), ([conv]) => conv, async ([conv, from, to]) => {
      const [messages, participants] = await Promise.all([
        this.#o.storage.messages.history(t, conv, { after: from - 1, limit: to - from + 1 }),
        this.#o.storage.conversations.memberIds(t, conv),
      ]);
      const list = messages.filter((m) => m.seq >= from && m.seq <= to);
      if (list.length) await this.#each(wants, (c) => c.messages!(t, list, participants));
    });
  };

  readonly #notification = async (job: Job): Promise<void> => {
    const p = job.payload as OutboxNotification;
    const t = job.tenant_id;
    const wants = this.#consumers.filter((c) => c.notification);
    if (!wants.length) return;
    const [found] = await this.#o.storage.notifications.since(t, p.seq - 1, 1);
    if (!found || found.notification.id !== p.notification_id) return;
    await this.#each(wants, (c) => c.notification!(t, found.notification, found.recipients));
  };

  /** Every consumer runs; if any failed, the job fails (and runs again) after all have run. */
  #each(list: AfterCommitConsumer[], run: (c: AfterCommitConsumer) => Promise<void>): Promise<void> {
    return allOrFail(list, (c) => c.name, run);
  }

  #prune(): void {
    if (this.#pruning) return;
    this.#pruning = (async () => {
      try {
        const before = this.#now() - this.#o.keepDoneMs;
        for (let i = 0; i < 100; i++) if ((await this.#o.storage.jobs.prune(before, PRUNE_BATCH)) < PRUNE_BATCH) break;
      } catch (err) {
        this.#o.log?.warn({ err }, 'outbox: pruning done jobs failed');
      } finally {
        this.#pruning = null;
      }
    })();
  }
}

/** Runs `run` for every item; once all have settled, throws one error naming each that failed. */
async function allOrFail<T>(items: readonly T[], name: (item: T) => string, run: (item: T) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(items.map(run));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${name(items[i]!)}: ${(r.reason as Error)?.message ?? r.reason}`] : []));
  if (failed.length) throw new Error(failed.join('; '));
}

/** The node's after-commit hook: consumers are added by push and webhooks, then `start()`. */
export function createAfterCommit(core: Core, log: Logger): AfterCommit {
  const c = core.config.outbox;
  const hook = new AfterCommit({
    storage: core.storage, worker: `${core.nodeId}:${process.pid}:outbox`, workers: c.workers, pollMs: c.pollMs, keepDoneMs: c.keepDoneMs, log,
  });
  // A message or a notification was committed (here, or on another node): its outbox job is
  // there to run — look at once instead of at the next poll. Several pokes in a row make one claim.
  const unsubscribe = core.bus.subscribe((e) => {
    if ((e.kind === 'message.created' && hook.wants(e.tenant_id, e.message.type)) || e.kind === 'notification.created') hook.poke();
  });
  // A message no consumer wants is appended without an outbox job (and wakes no runner).
  core.messages.outboxWanted = (tenantId, type) => hook.wants(tenantId, type);
  // This node's own events, as the domain publishes them (after commit): the bus also carries
  // the other nodes' events, so `publish` is tapped rather than subscribed to.
  const bus = core.bus;
  const publish = bus.publish;
  bus.publish = function tapped(this: typeof bus, event: DomainEvent) {
    publish.call(this, event);
    hook.local(event);
  };
  const close = hook.close.bind(hook);
  hook.close = async () => {
    unsubscribe();
    bus.publish = publish;
    await close();
  };
  return hook;
}
