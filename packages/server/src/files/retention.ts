/**
 * Retention: per tenant and conversation type, messages and files older than N days are
 * deleted, unless their conversation is under legal hold.
 *
 * A deleted message stays as a tombstone (its id, seq, sender, type and time; content null),
 * so seqs stay gap-free and clients' cursors stay valid; its file (and any upload of the
 * conversation that old) is deleted, bytes first, then the row. Policies and holds are set by
 * the tenant's integrator (API key) or a user with the `admin` role. A hold stops deletion in
 * the conversation at once: the deleting transaction checks it (and on PostgreSQL both lock
 * the conversation's row).
 *
 * The run is a job (`retention.run`) on the job queue: every node's timer enqueues the job of
 * the current interval under one dedupe key, so exactly one job exists per interval and one
 * node runs it (a node that dies mid-run leaves its lease to expire; the run is idempotent).
 */
import type { Config } from '../config/schema.ts';
import type { BlobStore, LegalHold, RetentionPolicy, Storage } from '../domain/ports.ts';
import type { Principal } from '../domain/types.ts';
import { JobRunner } from '../domain/jobs.ts';
import { fail } from '../domain/errors.ts';

export const RETENTION_JOB = 'retention.run';
/** The job's tenant: the run walks every tenant. */
const CLUSTER = '*';
const DAY_MS = 86_400_000;
const BATCH = 500;

export interface RetentionDeps {
  config: Readonly<Config>;
  storage: Storage;
  blobs: BlobStore;
  now?: () => number;
}

export interface RetentionRun {
  conversations: number;
  messages: number;
  files: number;
}

/** Only the integrator (API key) or an `admin` user of the tenant sets policies and holds. */
function requireRetentionAdmin(p: Principal): string {
  if (p.kind === 'app') return `app:${p.appId}`;
  if (p.role === 'admin') return p.userId;
  throw fail('auth.forbidden', 'Only the integrator (API key) or an admin sets retention and legal holds.');
}

export class RetentionService {
  readonly #d: RetentionDeps;
  readonly #now: () => number;

  constructor(d: RetentionDeps) {
    this.#d = d;
    this.#now = d.now ?? Date.now;
  }

  /** Sets the tenant's retention of a conversation type (`days`), or removes it (null). */
  async setPolicy(p: Principal, conversationType: number, days: number | null): Promise<RetentionPolicy[]> {
    requireRetentionAdmin(p);
    if (!Number.isInteger(conversationType) || conversationType < 0 || conversationType > 1000) throw fail('request.invalid', 'conversation_type is a conversation type code.');
    if (days !== null && (!Number.isInteger(days) || days < 1 || days > 36_500)) throw fail('request.invalid', 'days is a whole number from 1 to 36500, or null to keep everything.');
    await this.#d.storage.retention.setPolicy(p.tenantId, conversationType, days, this.#now());
    return this.policies(p);
  }

  async policies(p: Principal): Promise<RetentionPolicy[]> {
    requireRetentionAdmin(p);
    return this.#d.storage.retention.policies(p.tenantId);
  }

  /** Puts a conversation under legal hold (nothing of it is deleted by retention), or lifts it (null). */
  async setHold(p: Principal, conversationId: string, hold: { reason?: string | null } | null): Promise<LegalHold | null> {
    const by = requireRetentionAdmin(p);
    if (!(await this.#d.storage.conversations.getConversation(p.tenantId, conversationId))) throw fail('conversation.not_found');
    await this.#d.storage.retention.setHold(p.tenantId, conversationId, hold ? { reason: hold.reason ?? null, by } : null, this.#now());
    return this.#d.storage.retention.hold(p.tenantId, conversationId);
  }

  async holds(p: Principal): Promise<LegalHold[]> {
    requireRetentionAdmin(p);
    return this.#d.storage.retention.holds(p.tenantId);
  }

  /** One pass over every tenant's policies at `now`: deletes what is older than each allows. */
  async run(now = this.#now()): Promise<RetentionRun> {
    const r = this.#d.storage.retention;
    const out: RetentionRun = { conversations: 0, messages: 0, files: 0 };
    for (const pol of await r.policies(null)) {
      const before = now - pol.days * DAY_MS;
      let after = '';
      for (;;) {
        const convs = await r.expiring(pol.tenant_id, pol.conversation_type, before, after, 100);
        for (const c of convs) {
          out.conversations++;
          for (;;) {
            const ids = await r.expireMessages(pol.tenant_id, c, before, BATCH);
            out.messages += ids.length;
            if (ids.length < BATCH) break;
          }
          for (;;) {
            const files = await r.expiringFiles(pol.tenant_id, c, before, BATCH);
            for (const f of files) {
              await this.#d.blobs.delete(f.blob_key);
              if (f.thumb_key) await this.#d.blobs.delete(f.thumb_key);
              if (await this.#d.storage.files.delete(f.tenant_id, f.id)) out.files++;
            }
            if (files.length < BATCH) break;
          }
        }
        if (convs.length < 100) break;
        after = convs[convs.length - 1]!;
      }
    }
    return out;
  }

  /**
   * Runs retention as a job every `files.retentionIntervalSeconds` on whichever node claims it:
   * this node's timer enqueues the interval's job (one per interval across the cluster, by its
   * dedupe key) and its runner runs the job if it gets it. Returns the stop function.
   */
  start(opts: { worker: string; onRun?: (r: RetentionRun) => void; onError?: (err: unknown) => void }): () => Promise<void> {
    const every = this.#d.config.files.retentionIntervalSeconds;
    if (every === 0) return async () => {};
    const jobs = this.#d.storage.jobs;
    const runner = new JobRunner({ jobs, worker: opts.worker, concurrency: 1, leaseMs: 10 * 60_000, pollMs: Math.min(every * 1000, 60_000), ...(opts.onError ? { onError: opts.onError } : {}) });
    runner.register(RETENTION_JOB, async () => {
      const res = await this.run();
      opts.onRun?.(res);
    });
    runner.start();
    const tick = () => {
      const slot = Math.floor(this.#now() / (every * 1000));
      jobs.enqueue([{ tenant_id: CLUSTER, kind: RETENTION_JOB, payload: { slot }, dedupe_key: String(slot), max_attempts: 3 }], this.#now())
        .then(() => runner.poke())
        .catch((err: unknown) => opts.onError?.(err));
    };
    tick();
    const timer = setInterval(tick, every * 1000);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await runner.close();
    };
  }
}
