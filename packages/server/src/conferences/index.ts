/**
 * The conference clock on one node: a `JobRunner` over the shared job queue that runs the
 * `conference.end` jobs (end of time, then the room's teardown and the summary) of every
 * conference in the cluster, whichever node enqueued them (`conferences.workers` at a time;
 * 0: none here). The job's lease makes one node act on each.
 */
import type { Logger } from 'pino';
import type { Core } from '../core.ts';
import { JobRunner } from '../domain/jobs.ts';
import { CONFERENCE_END_JOB } from './service.ts';

export interface ConferenceJobs {
  runner: JobRunner | null;
  close(): Promise<void>;
}

export function startConferenceJobs(core: Core, log: Logger): ConferenceJobs {
  const c = core.config.conferences;
  if (c.workers === 0) return { runner: null, close: async () => {} };
  const runner = new JobRunner({
    jobs: core.storage.jobs, worker: `${core.nodeId}:${process.pid}:conferences`, concurrency: c.workers, pollMs: c.pollMs,
    leaseMs: c.leaseMs, backoff: (attempts) => Math.min(30_000, 500 * 2 ** Math.max(0, attempts - 1)),
    onError: (err, job) => {
      if (job) log.warn({ err: (err as Error).message, job: job.id, attempt: job.attempts }, 'conferences: a conference job failed');
      else log.error({ err }, 'conferences: the job queue failed');
    },
  }).register(CONFERENCE_END_JOB, async (job) => {
    const { conference_id } = job.payload as { conference_id: string };
    await core.conferences.tick(job.tenant_id, conference_id);
  });
  runner.start();
  core.conferences.onJob = () => runner.poke();
  return {
    runner,
    async close() {
      core.conferences.onJob = null;
      await runner.close();
    },
  };
}
