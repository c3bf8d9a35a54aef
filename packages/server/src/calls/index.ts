/**
 * The call clock on one node: a `JobRunner` over the shared job queue that runs the
 * `call.timer` jobs (ring timeouts, heartbeat checks) of every call in the cluster, whichever
 * node enqueued them (`calls.timerWorkers` at a time; 0: none here).
 */
import type { Logger } from 'pino';
import type { Core } from '../core.ts';
import { JobRunner } from '../domain/jobs.ts';
import { CALL_TIMER_JOB } from './service.ts';

export interface CallTimers {
  runner: JobRunner | null;
  close(): Promise<void>;
}

export function startCallTimers(core: Core, log: Logger): CallTimers {
  const c = core.config.calls;
  if (c.timerWorkers === 0) return { runner: null, close: async () => {} };
  const runner = new JobRunner({
    jobs: core.storage.jobs, worker: `${core.nodeId}:${process.pid}:calls`, concurrency: c.timerWorkers, pollMs: c.pollMs,
    leaseMs: 30_000, backoff: (attempts) => Math.min(5000, 200 * 2 ** Math.max(0, attempts - 1)),
    onError: (err, job) => {
      if (job) log.warn({ err: (err as Error).message, job: job.id, attempt: job.attempts }, 'calls: a call timer failed');
      else log.error({ err }, 'calls: the job queue failed');
    },
  }).register(CALL_TIMER_JOB, async (job) => {
    const { call_id } = job.payload as { call_id: string };
    await core.calls.tick(job.tenant_id, call_id);
  });
  runner.start();
  core.calls.onTimer = () => runner.poke();
  return {
    runner,
    async close() {
      core.calls.onTimer = null;
      await runner.close();
    },
  };
}
