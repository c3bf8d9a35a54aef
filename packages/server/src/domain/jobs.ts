/**
 * Runs jobs of the outbox (`JobStore`): work that must happen after a commit and survive a
 * crash. A `JobRunner` claims the jobs of the kinds it has a handler for, at most
 * `concurrency` at a time, each under a lease of `leaseMs`; a job whose handler resolves is
 * completed, one whose handler throws is retried after a backoff (dead after its last
 * attempt). If the process dies mid-job the lease expires and a runner (on any node) claims
 * the job again: at-least-once, so a handler must be idempotent (the job's id, or its
 * dedupe key, names the work). A handler should finish well within `leaseMs`, or another
 * runner may start the same job meanwhile.
 */
import type { Job, JobStore, NewJob } from './ports.ts';
import { DEFAULT_JOB_ATTEMPTS } from './ports.ts';
import { fail } from './errors.ts';

export type JobHandler = (job: Job) => Promise<void>;

export interface JobRunnerOptions {
  jobs: JobStore;
  /** This runner's name in leases: unique per process (e.g. the node id and the pid). */
  worker: string;
  /** Most jobs run at once (default 4). */
  concurrency?: number;
  /** How long a claimed job is held before another runner may take it (default 60,000 ms). */
  leaseMs?: number;
  /** How often to look for work when there was none (default 1,000 ms); `poke()` looks at once. */
  pollMs?: number;
  /** Delay before a failed job runs again, from its attempts so far (default 1 s, doubling, at most 1 h). */
  backoff?: (attempts: number) => number;
  now?: () => number;
  /** A handler threw (with its job), or the store failed (job null). */
  onError?: (err: unknown, job: Job | null) => void;
}

export const defaultBackoff = (attempts: number): number => Math.min(1000 * 2 ** Math.max(0, attempts - 1), 3_600_000);

/** Longest error text kept with a failed job. */
const ERROR_MAX = 2000;

export class JobRunner {
  readonly #jobs: JobStore;
  readonly #worker: string;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #backoff: (attempts: number) => number;
  readonly #now: () => number;
  readonly #onError: (err: unknown, job: Job | null) => void;
  readonly #handlers = new Map<string, JobHandler>();
  readonly #inflight = new Set<Promise<void>>();
  #loop: Promise<void> | null = null;
  #closed = false;
  #wake: (() => void) | null = null;
  #poked = false;

  constructor(opts: JobRunnerOptions) {
    this.#jobs = opts.jobs;
    this.#worker = opts.worker;
    this.#concurrency = Math.max(1, opts.concurrency ?? 4);
    this.#leaseMs = opts.leaseMs ?? 60_000;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#backoff = opts.backoff ?? defaultBackoff;
    this.#now = opts.now ?? Date.now;
    this.#onError = opts.onError ?? (() => {});
  }

  /** The handler of a kind (before `start`). */
  register(kind: string, handler: JobHandler): this {
    if (this.#loop) throw new Error('JobRunner: register handlers before start()');
    this.#handlers.set(kind, handler);
    return this;
  }

  /** Starts claiming and running jobs. */
  start(): void {
    if (this.#loop || this.#closed) return;
    this.#loop = this.#run();
  }

  /** Looks for work now (a job was just enqueued here). */
  poke(): void {
    this.#poked = true;
    this.#wake?.();
  }

  /** Jobs running now. */
  get running(): number {
    return this.#inflight.size;
  }

  /** Stops claiming, then waits for the jobs running to finish (and be completed or failed). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#loop;
    while (this.#inflight.size) await Promise.all(this.#inflight);
  }

  async #run(): Promise<void> {
    const kinds = [...this.#handlers.keys()];
    while (!this.#closed) {
      this.#poked = false;
      const free = this.#concurrency - this.#inflight.size;
      let claimed: Job[] = [];
      if (free > 0 && kinds.length) {
        try {
          claimed = await this.#jobs.claim(this.#worker, kinds, free, this.#leaseMs, this.#now());
        } catch (err) {
          this.#onError(err, null);
        }
        // Leased to this runner: run them even if closing meanwhile (close waits for them).
        for (const job of claimed) this.#start(job);
      }
      if (this.#closed) break;
      if (!this.#poked) await this.#sleep();
    }
  }

  /** Until the poll interval passes, a job ends, `poke` or `close`. */
  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#pollMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
    });
  }

  #start(job: Job): void {
    const p: Promise<void> = this.#execute(job).finally(() => {
      this.#inflight.delete(p);
      // A slot is free: look for more work (now, or right after a claim in progress).
      this.poke();
    });
    this.#inflight.add(p);
  }

  async #execute(job: Job): Promise<void> {
    const handler = this.#handlers.get(job.kind)!;
    let error: unknown = null;
    try {
      await handler(job);
    } catch (err) {
      error = err;
      this.#onError(err, job);
    }
    try {
      if (error === null) {
        await this.#jobs.complete(job.id, this.#worker, this.#now());
      } else {
        const now = this.#now();
        const retryAt = job.attempts >= job.max_attempts ? null : now + this.#backoff(job.attempts);
        await this.#jobs.fail(job.id, this.#worker, describe(error), retryAt, now);
      }
    } catch (err) {
      // The lease expires and the job runs again.
      this.#onError(err, null);
    }
  }
}

function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > ERROR_MAX ? text.slice(0, ERROR_MAX) : text;
}

/** A new job checked, with its stored fields: payload as JSON text, and the defaults applied. Throws `request.invalid`. */
export function checkNewJob(j: NewJob, now: number): { payload: string; run_at: number; max_attempts: number; dedupe_key: string | null } {
  if (typeof j.tenant_id !== 'string' || j.tenant_id === '') throw fail('request.invalid', 'A job needs a tenant_id.');
  if (typeof j.kind !== 'string' || j.kind === '' || j.kind.length > 128) throw fail('request.invalid', 'A job needs a kind of 1 to 128 characters.');
  const dedupe_key = j.dedupe_key ?? null;
  if (dedupe_key !== null && (typeof dedupe_key !== 'string' || dedupe_key === '' || dedupe_key.length > 512)) {
    throw fail('request.invalid', 'A job\'s dedupe_key is 1 to 512 characters.');
  }
  const run_at = j.run_at ?? now;
  if (!Number.isSafeInteger(run_at)) throw fail('request.invalid', 'A job\'s run_at is a time in ms.');
  const max_attempts = j.max_attempts ?? DEFAULT_JOB_ATTEMPTS;
  if (!Number.isSafeInteger(max_attempts) || max_attempts < 1) throw fail('request.invalid', 'A job\'s max_attempts is at least 1.');
  let payload: string | undefined;
  try {
    payload = JSON.stringify(j.payload);
  } catch {
    payload = undefined;
  }
  if (payload === undefined) throw fail('request.invalid', 'A job\'s payload must be a JSON value.');
  return { payload, run_at, max_attempts, dedupe_key };
}
