/**
 * The job queue in SQLite. Every method that changes a job is a write (`WRITES`): with the
 * writer thread it runs there, and SQLite's one write lock per database makes a claim
 * exclusive across every process on the file — the rows a claim picks are leased by the same
 * transaction, before any other writer can read them as runnable.
 */
import type { Job, JobState, JobStats, JobStore, NewJob } from '../../domain/ports.ts';
import { checkNewJob } from '../../domain/jobs.ts';
import { newId } from '../../domain/ids.ts';
import type { Db } from './db.ts';

interface JobRow {
  id: string; tenant_id: string; kind: string; payload: string; dedupe_key: string | null; state: JobState; run_at: number;
  attempts: number; max_attempts: number; worker: string | null; lease_until: number | null; last_error: string | null;
  created_at: number; updated_at: number;
}

const COLS = 'id, tenant_id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts, worker, lease_until, last_error, created_at, updated_at';

export class SqliteJobStore implements JobStore {
  readonly #enqueue: (jobs: readonly NewJob[], now: number) => { id: string; created: boolean }[];
  readonly #claim: (worker: string, kinds: string, limit: number, leaseMs: number, now: number) => Job[];
  readonly #complete;
  readonly #fail: (id: string, worker: string, error: string, retryAt: number | null, now: number) => 'retry' | 'dead' | null;
  readonly #get;
  readonly #stats;
  readonly #dead;
  readonly #revive;
  readonly #prune;

  constructor(db: Db) {
    const insert = db.prepare(
      `INSERT INTO jobs (${COLS}) VALUES (@id, @tenant_id, @kind, @payload, @dedupe_key, 'queued', @run_at, 0, @max_attempts, NULL, NULL, NULL, @now, @now)
       ON CONFLICT (tenant_id, kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING`,
    );
    const existing = db.prepare('SELECT id FROM jobs WHERE tenant_id = ? AND kind = ? AND dedupe_key = ?').pluck();
    this.#enqueue = db.transaction((jobs: readonly NewJob[], now: number) =>
      jobs.map((j) => {
        const { payload, run_at, max_attempts, dedupe_key } = checkNewJob(j, now);
        const id = newId();
        if (insert.run({ id, tenant_id: j.tenant_id, kind: j.kind, payload, dedupe_key, run_at, max_attempts, now }).changes > 0) return { id, created: true };
        return { id: existing.get(j.tenant_id, j.kind, dedupe_key) as string, created: false };
      }),
    );

    // Leases whose worker died after the last attempt: the job is given up, not run again.
    const bury = db.prepare(
      `UPDATE jobs SET state = 'dead', worker = NULL, lease_until = NULL, updated_at = @now,
         last_error = 'the lease of its last attempt expired (the worker stopped while running it)'
       WHERE state = 'leased' AND kind IN (SELECT value FROM json_each(@kinds)) AND lease_until <= @now AND attempts >= max_attempts`,
    );
    const lease = db.prepare(
      `UPDATE jobs SET state = 'leased', worker = @worker, lease_until = @now + @leaseMs, attempts = attempts + 1, updated_at = @now
       WHERE id IN (
         SELECT id FROM (
           SELECT id, run_at FROM jobs WHERE state = 'queued' AND kind IN (SELECT value FROM json_each(@kinds)) AND run_at <= @now
           UNION ALL
           SELECT id, run_at FROM jobs WHERE state = 'leased' AND kind IN (SELECT value FROM json_each(@kinds)) AND lease_until <= @now
         ) ORDER BY run_at, id LIMIT @limit)
       RETURNING ${COLS}`,
    );
    this.#claim = db.transaction((worker: string, kinds: string, limit: number, leaseMs: number, now: number) => {
      bury.run({ kinds, now });
      return (lease.all({ worker, kinds, limit, leaseMs, now }) as JobRow[]).map(toJob).sort(runOrder);
    });

    this.#complete = db.prepare(
      `UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = @now WHERE id = @id AND state = 'leased' AND worker = @worker`,
    );
    const failed = db.prepare(
      `UPDATE jobs SET
         state = CASE WHEN @retryAt IS NULL OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
         run_at = CASE WHEN @retryAt IS NULL OR attempts >= max_attempts THEN run_at ELSE @retryAt END,
         worker = NULL, lease_until = NULL, last_error = @error, updated_at = @now
       WHERE id = @id AND state = 'leased' AND worker = @worker
       RETURNING state`,
    ).pluck();
    this.#fail = (id, worker, error, retryAt, now) => {
      const state = failed.get({ id, worker, error, retryAt, now }) as JobState | undefined;
      return state === undefined ? null : state === 'dead' ? 'dead' : 'retry';
    };

    this.#get = db.prepare(`SELECT ${COLS} FROM jobs WHERE id = ?`);
    this.#stats = db.prepare(
      `SELECT kind,
         SUM(state = 'queued') AS queued, SUM(state = 'leased') AS leased, SUM(state = 'done') AS done, SUM(state = 'dead') AS dead,
         MIN(CASE WHEN state = 'queued' THEN run_at END) AS oldest_queued_at
       FROM jobs GROUP BY kind ORDER BY kind`,
    );
    this.#dead = db.prepare(
      `SELECT ${COLS} FROM jobs WHERE state = 'dead' AND (@kind IS NULL OR kind = @kind) AND id > @after ORDER BY id LIMIT @limit`,
    );
    this.#revive = db.prepare(
      `UPDATE jobs SET state = 'queued', run_at = @now, attempts = 0, worker = NULL, lease_until = NULL, updated_at = @now WHERE id = @id AND state = 'dead'`,
    );
    this.#prune = db.prepare(
      `DELETE FROM jobs WHERE rowid IN (SELECT rowid FROM jobs WHERE state = 'done' AND updated_at < @before LIMIT @limit)`,
    );
  }

  async enqueue(jobs: readonly NewJob[], now: number): Promise<{ id: string; created: boolean }[]> {
    return this.#enqueue(jobs, now);
  }

  async claim(worker: string, kinds: readonly string[], limit: number, leaseMs: number, now: number): Promise<Job[]> {
    if (kinds.length === 0 || limit <= 0) return [];
    return this.#claim(worker, JSON.stringify(kinds), limit, leaseMs, now);
  }

  async complete(id: string, worker: string, now: number): Promise<boolean> {
    return this.#complete.run({ id, worker, now }).changes > 0;
  }

  async fail(id: string, worker: string, error: string, retryAt: number | null, now: number): Promise<'retry' | 'dead' | null> {
    return this.#fail(id, worker, error, retryAt, now);
  }

  async get(id: string): Promise<Job | null> {
    const r = this.#get.get(id) as JobRow | undefined;
    return r ? toJob(r) : null;
  }

  async stats(): Promise<JobStats[]> {
    return this.#stats.all() as JobStats[];
  }

  async dead(q: { kind?: string; after?: string; limit: number }): Promise<Job[]> {
    return (this.#dead.all({ kind: q.kind ?? null, after: q.after ?? '', limit: q.limit }) as JobRow[]).map(toJob);
  }

  async revive(id: string, now: number): Promise<boolean> {
    return this.#revive.run({ id, now }).changes > 0;
  }

  async prune(before: number, limit: number): Promise<number> {
    return this.#prune.run({ before, limit }).changes;
  }
}

const runOrder = (a: Job, b: Job) => a.run_at - b.run_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function toJob(r: JobRow): Job {
  return { ...r, payload: JSON.parse(r.payload) as unknown };
}
