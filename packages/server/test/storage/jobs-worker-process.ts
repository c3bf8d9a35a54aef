/**
 * A worker process for the crash test in jobs-sqlite.test.ts: opens the SQLite file given,
 * runs a `JobRunner` for one kind whose handler prints `started <id>#<attempt>` and never
 * finishes — the test kills the process there.
 *   node jobs-worker-process.ts <db path> <kind> <lease ms>
 */
import { JobRunner } from '../../src/domain/jobs.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';

const [path, kind, leaseMs] = process.argv.slice(2) as [string, string, string];
const storage = createSqliteStorage({ path, synchronous: 'FULL' });
const runner = new JobRunner({ jobs: storage.jobs, worker: `worker-process-${process.pid}`, pollMs: 10, leaseMs: Number(leaseMs) });
runner.register(kind, async (job) => {
  process.stdout.write(`started ${job.id}#${job.attempts}\n`);
  await new Promise(() => setInterval(() => {}, 1000));
});
runner.start();
