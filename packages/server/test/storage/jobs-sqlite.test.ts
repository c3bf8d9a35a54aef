/**
 * The job queue on SQLite: the jobs contract on a file (writer thread and inline) and on
 * ":memory:", and a worker process killed (SIGKILL) in the middle of a job: the job runs
 * again in another process once the lease is over.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JobRunner } from '../../src/domain/jobs.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { first, jobsContract } from './jobs-contract.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'careline-jobs-'));

for (const writer of ['worker', 'inline'] as const) {
  jobsContract(`sqlite (file, WAL, ${writer} writer)`, async () => {
    const dir = tempDir();
    const path = join(dir, 'db.sqlite');
    return {
      storage: createSqliteStorage({ path, synchronous: 'NORMAL', writer }),
      reopen: async () => createSqliteStorage({ path, synchronous: 'NORMAL', writer }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });
}

jobsContract('sqlite (:memory:, inline)', async () => ({
  storage: createSqliteStorage({ path: ':memory:', synchronous: 'NORMAL' }),
  cleanup: async () => {},
}));

describe('jobs on sqlite, across processes', () => {
  it('a worker process killed (SIGKILL) mid-job: another process runs the job again after the lease, once', async () => {
    const dir = tempDir();
    const path = join(dir, 'db.sqlite');
    const storage = createSqliteStorage({ path, synchronous: 'FULL' });
    const leaseMs = 60_000;
    try {
      const { id } = first(await storage.jobs.enqueue([{ tenant_id: 't', kind: 'push', payload: { to: 'pat' }, dedupe_key: 'm1' }], Date.now()));
      const child = spawn(process.execPath, [fileURLToPath(new URL('./jobs-worker-process.ts', import.meta.url)), path, 'push', String(leaseMs)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      const lines = createInterface({ input: child.stdout! });
      const started = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the worker process did not start the job within 20 s')), 20_000);
        lines.on('line', (line) => {
          if (line.startsWith('started ')) {
            clearTimeout(timer);
            resolve(line.slice('started '.length));
          }
        });
        child.once('exit', () => reject(new Error('the worker process exited before starting the job')));
      });
      assert.equal(started, `${id}#1`);
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      const held = (await storage.jobs.get(id))!;
      assert.equal(held.state, 'leased', 'leased to the dead process, never completed');
      assert.match(held.worker ?? '', /^worker-process-/);

      // This process, after the lease ran out (by its clock).
      const ran: string[] = [];
      const runner = new JobRunner({ jobs: storage.jobs, worker: 'survivor', pollMs: 10, leaseMs, now: () => Date.now() + leaseMs + 1 })
        .register('push', async (job) => {
          ran.push(`${job.id}#${job.attempts}`);
        });
      runner.start();
      const end = Date.now() + 10_000;
      while ((await storage.jobs.get(id))!.state !== 'done') {
        assert.ok(Date.now() < end, 'the job was run again within 10 s');
        await new Promise((r) => setTimeout(r, 10));
      }
      await runner.close();
      assert.deepEqual(ran, [`${id}#2`]);
      assert.equal((await storage.jobs.get(id))!.worker, 'survivor');
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
