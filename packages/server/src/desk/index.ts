/**
 * The front desk on one node: its service and the runner of its SLA checks (`desk.sla` jobs
 * from the shared queue, `desk.slaWorkers` at a time; 0: none here). Whichever node runs a
 * check, the escalation is a conditional update, so it happens once.
 */
import type { Logger } from 'pino';
import type { Core } from '../core.ts';
import { JobRunner } from '../domain/jobs.ts';
import { DESK_SLA_JOB, DeskService } from './service.ts';

export interface Desk {
  service: DeskService;
  runner: JobRunner | null;
  close(): Promise<void>;
}

export function startDesk(core: Core, log: Logger, service = new DeskService(core)): Desk {
  const c = core.config.desk;
  if (c.slaWorkers === 0) return { service, runner: null, close: async () => {} };
  const runner = new JobRunner({
    jobs: core.storage.jobs, worker: `${core.nodeId}:${process.pid}:desk`, concurrency: c.slaWorkers, pollMs: c.pollMs,
    leaseMs: 30_000, backoff: (attempts) => Math.min(10_000, 250 * 2 ** Math.max(0, attempts - 1)),
    onError: (err, job) => {
      if (job) log.warn({ err: (err as Error).message, job: job.id, attempt: job.attempts }, 'desk: an SLA check failed');
      else log.error({ err }, 'desk: the job queue failed');
    },
  }).register(DESK_SLA_JOB, async (job) => {
    const { chat_id, round } = job.payload as { chat_id: string; round: number };
    await service.slaDue(job.tenant_id, chat_id, round);
  });
  runner.start();
  service.onSla = () => runner.poke();
  return {
    service, runner,
    async close() {
      service.onSla = null;
      await runner.close();
    },
  };
}
