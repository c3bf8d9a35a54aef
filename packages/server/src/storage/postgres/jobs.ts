/**
 * The job queue in PostgreSQL (migration 003). A claim picks the runnable rows with
 * `FOR UPDATE SKIP LOCKED` and leases them in the same statement: a row another claimer is
 * leasing is passed by (not waited for), and a row it leased meanwhile no longer matches once
 * locked (READ COMMITTED re-checks the condition on the newest version) — so a job is never
 * leased to two workers, across nodes, and claimers do not queue behind each other.
 *
 * Every write goes through the node's write connection in call order (`db.tx` for enqueue,
 * `db.write` for the one-statement ones), as every store's: an enqueue made after a commit
 * follows it. A claim waits for no other node (it skips their locked rows), so it holds the
 * write connection only for its own statement.
 */
import type { Job, JobState, JobStats, JobStore, NewJob } from '../../domain/ports.ts';
import { checkNewJob } from '../../domain/jobs.ts';
import { newId } from '../../domain/ids.ts';
import type { PgDb } from './db.ts';

interface JobRow {
  id: string; tenant_id: string; kind: string; payload: string; dedupe_key: string | null; state: JobState; run_at: number;
  attempts: number; max_attempts: number; worker: string | null; lease_until: number | null; last_error: string | null;
  created_at: number; updated_at: number;
}

const COLS = 'id, tenant_id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts, worker, lease_until, last_error, created_at, updated_at';
const JCOLS = COLS.split(', ').map((c) => `j.${c}`).join(', ');

export class PgJobStore implements JobStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async enqueue(jobs: readonly NewJob[], now: number): Promise<{ id: string; created: boolean }[]> {
    const checked = jobs.map((j) => ({ j, ...checkNewJob(j, now) }));
    if (checked.length === 0) return [];
    return this.#db.tx(async (q) => {
      const out: { id: string; created: boolean }[] = [];
      for (const { j, payload, run_at, max_attempts, dedupe_key } of checked) {
        const id = newId();
        const inserted = await q.query<{ id: string }>(
          `INSERT INTO jobs (${COLS}) VALUES ($1, $2, $3, $4, $5, 'queued', $6, 0, $7, NULL, NULL, NULL, $8, $8)
           ON CONFLICT (tenant_id, kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id`,
          [id, j.tenant_id, j.kind, payload, dedupe_key, run_at, max_attempts, now],
        );
        if (inserted.rowCount > 0) {
          out.push({ id, created: true });
          continue;
        }
        // The key is taken (by a committed job: a concurrent insert of it was waited for).
        const { rows } = await q.query<{ id: string }>('SELECT id FROM jobs WHERE tenant_id = $1 AND kind = $2 AND dedupe_key = $3', [j.tenant_id, j.kind, dedupe_key]);
        out.push({ id: rows[0]!.id, created: false });
      }
      return out;
    });
  }

  async claim(worker: string, kinds: readonly string[], limit: number, leaseMs: number, now: number): Promise<Job[]> {
    if (kinds.length === 0 || limit <= 0) return [];
    // Leases whose worker died after the last attempt: the job is given up, not run again.
    await this.#db.write(
      `UPDATE jobs SET state = 'dead', worker = NULL, lease_until = NULL, updated_at = $2,
         last_error = 'the lease of its last attempt expired (the worker stopped while running it)'
       WHERE id IN (
         SELECT id FROM jobs WHERE state = 'leased' AND kind = ANY($1::text[]) AND lease_until <= $2 AND attempts >= max_attempts
         FOR UPDATE SKIP LOCKED)`,
      [kinds, now],
    );
    const { rows } = await this.#db.write<JobRow>(
      `WITH picked AS (
         SELECT id FROM jobs
         WHERE kind = ANY($2::text[])
           AND ((state = 'queued' AND run_at <= $3) OR (state = 'leased' AND lease_until <= $3 AND attempts < max_attempts))
         ORDER BY run_at, id
         LIMIT $4
         FOR UPDATE SKIP LOCKED)
       UPDATE jobs j SET state = 'leased', worker = $1, lease_until = $3::bigint + $5::bigint, attempts = j.attempts + 1, updated_at = $3
       FROM picked WHERE j.id = picked.id
       RETURNING ${JCOLS}`,
      [worker, kinds, now, limit, leaseMs],
    );
    return rows.map(toJob).sort(runOrder);
  }

  async complete(id: string, worker: string, now: number): Promise<boolean> {
    const r = await this.#db.write(`UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = $3 WHERE id = $1 AND state = 'leased' AND worker = $2`, [id, worker, now]);
    return r.rowCount > 0;
  }

  async fail(id: string, worker: string, error: string, retryAt: number | null, now: number): Promise<'retry' | 'dead' | null> {
    const { rows } = await this.#db.write<{ state: JobState }>(
      `UPDATE jobs SET
         state = CASE WHEN $4::bigint IS NULL OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
         run_at = CASE WHEN $4::bigint IS NULL OR attempts >= max_attempts THEN run_at ELSE $4::bigint END,
         worker = NULL, lease_until = NULL, last_error = $3, updated_at = $5
       WHERE id = $1 AND state = 'leased' AND worker = $2
       RETURNING state`,
      [id, worker, error, retryAt, now],
    );
    const state = rows[0]?.state;
    return state === undefined ? null : state === 'dead' ? 'dead' : 'retry';
  }

  async get(id: string): Promise<Job | null> {
    const { rows } = await this.#db.query<JobRow>(`SELECT ${COLS} FROM jobs WHERE id = $1`, [id]);
    return rows[0] ? toJob(rows[0]) : null;
  }

  async stats(): Promise<JobStats[]> {
    const { rows } = await this.#db.query<JobStats>(
      `SELECT kind,
         count(*) FILTER (WHERE state = 'queued')::int AS queued, count(*) FILTER (WHERE state = 'leased')::int AS leased,
         count(*) FILTER (WHERE state = 'done')::int AS done, count(*) FILTER (WHERE state = 'dead')::int AS dead,
         min(run_at) FILTER (WHERE state = 'queued') AS oldest_queued_at
       FROM jobs GROUP BY kind ORDER BY kind`,
    );
    return rows;
  }

  async dead(q: { kind?: string; after?: string; limit: number }): Promise<Job[]> {
    const { rows } = await this.#db.query<JobRow>(
      `SELECT ${COLS} FROM jobs WHERE state = 'dead' AND ($1::text IS NULL OR kind = $1::text) AND id > $2 ORDER BY id LIMIT $3`,
      [q.kind ?? null, q.after ?? '', q.limit],
    );
    return rows.map(toJob);
  }

  async revive(id: string, now: number): Promise<boolean> {
    const r = await this.#db.write(
      `UPDATE jobs SET state = 'queued', run_at = $2, attempts = 0, worker = NULL, lease_until = NULL, updated_at = $2 WHERE id = $1 AND state = 'dead'`,
      [id, now],
    );
    return r.rowCount > 0;
  }

  async prune(before: number, limit: number): Promise<number> {
    const r = await this.#db.write(
      `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'done' AND updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [before, limit],
    );
    return r.rowCount;
  }
}

const runOrder = (a: Job, b: Job) => a.run_at - b.run_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function toJob(r: JobRow): Job {
  return {
    ...r, payload: JSON.parse(r.payload) as unknown, run_at: Number(r.run_at), lease_until: r.lease_until === null ? null : Number(r.lease_until),
    created_at: Number(r.created_at), updated_at: Number(r.updated_at),
  };
}
