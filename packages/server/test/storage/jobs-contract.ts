/**
 * The job queue (`JobStore`) contract, and the `JobRunner` over it: every backend runs these
 * same tests. A backend's test file calls `jobsContract(name, open)` with a function that
 * opens a fresh, empty, migrated storage; `reopen`, when the backend can, opens a second
 * storage on the same database (another process, as far as the database can tell).
 * Times are given to the store (`now`), so leases and retries are tested without waiting.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Job, Storage } from '../../src/domain/ports.ts';
import { AppError } from '../../src/domain/errors.ts';
import { JobRunner } from '../../src/domain/jobs.ts';

export type OpenJobStorage = () => Promise<{ storage: Storage; reopen?: () => Promise<Storage>; cleanup: () => Promise<void> }>;

let n = 0;
/** A kind of its own per test, so that tests sharing a database do not claim each other's jobs. */
const kind = (p: string) => `${p}-${++n}`;
const T = 'tenant-a';
const T2 = 'tenant-b';
const BASE = 1_800_000_000_000;
const EARLY = 1_000_000_000_000;

/** The one item of a list (fails the test otherwise). */
export function first<T>(list: readonly T[]): T {
  assert.equal(list.length, 1);
  return list[0]!;
}
function two<T>(list: readonly T[]): [T, T] {
  assert.equal(list.length, 2);
  return [list[0]!, list[1]!];
}

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function jobsContract(name: string, open: OpenJobStorage): void {
  describe(`jobs contract: ${name}`, () => {
    let s: Storage;
    let reopen: (() => Promise<Storage>) | undefined;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ storage: s, reopen, cleanup } = await open());
    });
    after(async () => {
      await s.close();
      await cleanup();
    });

    it('enqueues a list in one transaction; a repeated dedupe key (tenant + kind) is not enqueued twice', async () => {
      const k = kind('dedupe');
      const stored = await s.jobs.enqueue([
        { tenant_id: T, kind: k, payload: { to: 'pat', n: 1 }, dedupe_key: 'msg-1' },
        { tenant_id: T, kind: k, payload: { to: 'doc' } },
        { tenant_id: T2, kind: k, payload: null, dedupe_key: 'msg-1' },
        { tenant_id: T, kind: k, payload: 'again, same list', dedupe_key: 'msg-1' },
      ], BASE);
      assert.deepEqual(stored.map((r) => r.created), [true, true, true, false]);
      assert.equal(stored[3]!.id, stored[0]!.id, 'the existing job\'s id');
      assert.notEqual(stored[2]!.id, stored[0]!.id, 'another tenant\'s key is its own');
      // Retried after a crash: nothing new.
      const again = await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: { to: 'pat', n: 1 }, dedupe_key: 'msg-1' }], BASE + 5);
      assert.deepEqual(again, [{ id: stored[0]!.id, created: false }]);
      const job = (await s.jobs.get(stored[0]!.id))!;
      assert.deepEqual(
        { tenant_id: job.tenant_id, kind: job.kind, payload: job.payload, dedupe_key: job.dedupe_key, state: job.state, attempts: job.attempts, run_at: job.run_at, created_at: job.created_at },
        { tenant_id: T, kind: k, payload: { to: 'pat', n: 1 }, dedupe_key: 'msg-1', state: 'queued', attempts: 0, run_at: BASE, created_at: BASE },
      );
      const claimed = await s.jobs.claim('w', [k], 10, 1000, BASE);
      assert.equal(claimed.length, 3);
      for (const j of claimed) assert.equal(await s.jobs.complete(j.id, 'w', BASE), true);
      // Done jobs keep their key.
      assert.equal((await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 1, dedupe_key: 'msg-1' }], BASE + 9))[0]!.created, false);
    });

    it('a list with a bad job stores nothing, and says which rule it broke', async () => {
      const k = kind('atomic');
      for (const bad of [
        { tenant_id: T, kind: k, payload: undefined },
        { tenant_id: T, kind: '', payload: 1 },
        { tenant_id: T, kind: k, payload: 1, max_attempts: 0 },
      ]) {
        await assert.rejects(s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 'ok', dedupe_key: 'k1' }, bad], BASE), (e: unknown) => e instanceof AppError && e.code === 'request.invalid');
      }
      assert.deepEqual(await s.jobs.claim('w', [k], 10, 1000, BASE), [], 'the good job of the list was not stored');
      assert.equal((await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 'ok', dedupe_key: 'k1' }], BASE))[0]!.created, true);
    });

    it('claims the oldest runnable jobs first, only of the kinds asked, none before run_at', async () => {
      const k = kind('order');
      const other = kind('other');
      const ids = await s.jobs.enqueue([
        { tenant_id: T, kind: k, payload: 'c', run_at: BASE + 30 },
        { tenant_id: T, kind: k, payload: 'a', run_at: BASE + 10 },
        { tenant_id: T, kind: other, payload: 'x', run_at: BASE },
        { tenant_id: T2, kind: k, payload: 'b', run_at: BASE + 20 },
        { tenant_id: T, kind: k, payload: 'later', run_at: BASE + 1000 },
      ], BASE);
      assert.ok(ids.every((r) => r.created));
      assert.deepEqual(await s.jobs.claim('w', [k], 10, 1000, BASE + 5), [], 'nothing runnable yet');
      const two = await s.jobs.claim('w', [k], 2, 1000, BASE + 100);
      assert.deepEqual(two.map((j) => j.payload), ['a', 'b']);
      for (const j of two) {
        assert.equal(j.state, 'leased');
        assert.equal(j.worker, 'w');
        assert.equal(j.lease_until, BASE + 1100);
        assert.equal(j.attempts, 1);
      }
      assert.deepEqual((await s.jobs.claim('w', [k], 10, 1000, BASE + 100)).map((j) => j.payload), ['c']);
      assert.deepEqual((await s.jobs.claim('w', [k, other], 10, 1000, BASE + 1000)).map((j) => j.payload), ['x', 'later']);
    });

    it('a job is leased to one worker at a time, even with claimers racing on two connections', async () => {
      const k = kind('race');
      const count = 200;
      await s.jobs.enqueue(Array.from({ length: count }, (_, i) => ({ tenant_id: T, kind: k, payload: i })), BASE);
      const other = reopen ? await reopen() : s;
      try {
        const got = new Map<string, string>();
        const claimer = async (store: Storage, worker: string) => {
          for (let round = 0; round < 100; round++) {
            const jobs = await store.jobs.claim(worker, [k], 7, 60_000, BASE + 1);
            if (jobs.length === 0) return;
            for (const j of jobs) {
              assert.equal(got.get(j.id), undefined, `job ${j.id} leased to ${got.get(j.id)} and ${worker}`);
              got.set(j.id, worker);
            }
          }
        };
        await Promise.all([claimer(s, 'w1'), claimer(other, 'w2'), claimer(s, 'w3'), claimer(other, 'w4')]);
        assert.equal(got.size, count, 'every job claimed once');
        // The other worker cannot finish a job it does not hold.
        const [id, holder] = [...got][0]!;
        const stranger = holder === 'w1' ? 'w2' : 'w1';
        assert.equal(await s.jobs.complete(id, stranger, BASE + 2), false);
        assert.equal(await s.jobs.fail(id, stranger, 'no', null, BASE + 2), null);
        assert.equal((await s.jobs.get(id))!.state, 'leased');
        assert.equal(await other.jobs.complete(id, holder, BASE + 2), true);
        assert.equal((await s.jobs.get(id))!.state, 'done');
      } finally {
        if (other !== s) await other.close();
      }
    });

    it('an expired lease (the worker died) makes the job claimable again; the old worker can no longer finish it', async () => {
      const k = kind('lease');
      const { id } = first(await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 'p' }], BASE));
      assert.equal((await s.jobs.claim('dead-worker', [k], 1, 1000, BASE)).length, 1);
      assert.deepEqual(await s.jobs.claim('w2', [k], 1, 1000, BASE + 999), [], 'still leased');
      const again = await s.jobs.claim('w2', [k], 1, 1000, BASE + 1000);
      assert.equal(again.length, 1);
      assert.equal(again[0]!.id, id);
      assert.equal(again[0]!.attempts, 2);
      assert.equal(again[0]!.worker, 'w2');
      assert.equal(await s.jobs.complete(id, 'dead-worker', BASE + 1001), false, 'the lease moved on');
      assert.equal(await s.jobs.complete(id, 'w2', BASE + 1001), true);
      assert.equal((await s.jobs.get(id))!.state, 'done');
      assert.deepEqual(await s.jobs.claim('w3', [k], 1, 1000, BASE + 10_000), [], 'done is never claimed');
    });

    it('fail with a time retries then; dead after max_attempts, or at once with no time; operators list and revive the dead', async () => {
      const k = kind('retry');
      const [{ id }, { id: id2 }] = two(await s.jobs.enqueue([
        { tenant_id: T, kind: k, payload: 'flaky', max_attempts: 3 },
        { tenant_id: T, kind: k, payload: 'hopeless', run_at: BASE + 1 },
      ], BASE));
      let t = BASE;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const j = first(await s.jobs.claim('w', [k], 1, 1000, t));
        assert.equal(j.id, id);
        assert.equal(j.attempts, attempt);
        const outcome = await s.jobs.fail(id, 'w', `boom ${attempt}`, t + 500, t);
        assert.equal(outcome, attempt < 3 ? 'retry' : 'dead');
        if (attempt < 3) {
          const queued = (await s.jobs.get(id))!;
          assert.equal(queued.state, 'queued');
          assert.equal(queued.run_at, t + 500);
          assert.equal(queued.last_error, `boom ${attempt}`);
          assert.equal(queued.worker, null);
          assert.equal((await s.jobs.claim('w', [k], 1, 1000, t + 499)).filter((x) => x.id === id).length, 0, 'not before its time');
        }
        t += 500;
      }
      const dead = (await s.jobs.get(id))!;
      assert.equal(dead.state, 'dead');
      assert.equal(dead.last_error, 'boom 3');
      assert.equal(dead.attempts, 3);
      // No retry time: dead at the first failure.
      const [h] = await s.jobs.claim('w', [k], 1, 1000, t);
      assert.equal(h?.id, id2);
      assert.equal(await s.jobs.fail(id2, 'w', 'permanent', null, t), 'dead');
      assert.deepEqual(await s.jobs.claim('w', [k], 10, 1000, t + 1_000_000), [], 'the dead are never claimed');

      const listed = await s.jobs.dead({ kind: k, limit: 10 });
      assert.deepEqual(listed.map((j) => j.id), [id, id2].sort());
      assert.deepEqual((await s.jobs.dead({ kind: k, limit: 10, after: listed[0]!.id })).map((j) => j.id), [listed[1]!.id]);
      const stats = (await s.jobs.stats()).find((r) => r.kind === k);
      assert.deepEqual(stats, { kind: k, queued: 0, leased: 0, done: 0, dead: 2, oldest_queued_at: null });

      assert.equal(await s.jobs.revive(id, t + 5), true);
      assert.equal(await s.jobs.revive(id, t + 5), false, 'no longer dead');
      const revived = first(await s.jobs.claim('w', [k], 1, 1000, t + 5));
      assert.equal(revived.id, id);
      assert.equal(revived.attempts, 1);
    });

    it('the lease of a last attempt that expires makes the job dead, not run again', async () => {
      const k = kind('last');
      const { id } = first(await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 'crashes its worker', max_attempts: 2 }], BASE));
      assert.equal((await s.jobs.claim('w1', [k], 1, 100, BASE)).length, 1);
      assert.equal((await s.jobs.claim('w2', [k], 1, 100, BASE + 100)).length, 1, 'second attempt');
      assert.deepEqual(await s.jobs.claim('w3', [k], 1, 100, BASE + 200), []);
      const j = (await s.jobs.get(id))!;
      assert.equal(j.state, 'dead');
      assert.match(j.last_error ?? '', /lease/);
    });

    it('stats count by kind and state; prune deletes done jobs and frees their keys', async () => {
      const k = kind('stats');
      // Earlier than every other test's times: prune acts on the whole queue.
      const BASE = EARLY;
      await s.jobs.enqueue([
        { tenant_id: T, kind: k, payload: 1, dedupe_key: 'd1' },
        { tenant_id: T, kind: k, payload: 2, run_at: BASE + 50 },
        { tenant_id: T, kind: k, payload: 3, run_at: BASE + 70 },
      ], BASE);
      const [one] = await s.jobs.claim('w', [k], 1, 1000, BASE);
      await s.jobs.complete(one!.id, 'w', BASE + 1);
      await s.jobs.claim('w', [k], 1, 1000, BASE + 60);
      assert.deepEqual((await s.jobs.stats()).find((r) => r.kind === k), { kind: k, queued: 1, leased: 1, done: 1, dead: 0, oldest_queued_at: BASE + 70 });
      assert.equal(await s.jobs.prune(BASE + 1, 10), 0, 'done at BASE + 1: not before it');
      assert.equal(await s.jobs.prune(BASE + 2, 10), 1);
      assert.equal(await s.jobs.get(one!.id), null);
      assert.equal((await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 1, dedupe_key: 'd1' }], BASE + 3))[0]!.created, true);
    });

    it('JobRunner: runs each job once, at most `concurrency` at a time, retries a failure after its backoff, and close waits for jobs running', async () => {
      const k = kind('runner');
      const flaky = kind('runner-flaky');
      const count = 20;
      await s.jobs.enqueue(Array.from({ length: count }, (_, i) => ({ tenant_id: T, kind: k, payload: { i }, dedupe_key: `d${i}` })), Date.now());
      await s.jobs.enqueue([{ tenant_id: T, kind: flaky, payload: 'once bad', max_attempts: 3 }], Date.now());
      const ran: number[] = [];
      let running = 0;
      let most = 0;
      let flakyRuns = 0;
      const errors: unknown[] = [];
      const runner = new JobRunner({ jobs: s.jobs, worker: 'runner-1', concurrency: 3, pollMs: 20, backoff: () => 0, onError: (e) => errors.push(e) })
        .register(k, async (job: Job) => {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, 2));
          ran.push((job.payload as { i: number }).i);
          running--;
        })
        .register(flaky, async () => {
          if (++flakyRuns === 1) throw new Error('first attempt fails');
        });
      runner.start();
      try {
        await until(() => ran.length === count && flakyRuns === 2 && runner.running === 0, 'every job run');
      } finally {
        await runner.close();
      }
      assert.deepEqual([...ran].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i), 'each once');
      assert.ok(most <= 3, `at most 3 at once (saw ${most})`);
      assert.equal(errors.length, 1);
      assert.match(String(errors[0]), /first attempt fails/);
      const stats = (await s.jobs.stats()).filter((r) => r.kind === k || r.kind === flaky);
      assert.deepEqual(stats.map((r) => [r.done, r.queued + r.leased + r.dead]), [[count, 0], [1, 0]]);

      // Close drains: a job running when close is called finishes and is completed.
      const slow = kind('runner-slow');
      const { id } = first(await s.jobs.enqueue([{ tenant_id: T, kind: slow, payload: 0 }], Date.now()));
      let release!: () => void;
      let started = false;
      const r2 = new JobRunner({ jobs: s.jobs, worker: 'runner-2', pollMs: 20 }).register(slow, async () => {
        started = true;
        await new Promise<void>((r) => (release = r));
      });
      r2.start();
      await until(() => started, 'the slow job started');
      const closing = r2.close();
      let closed = false;
      void closing.then(() => (closed = true));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(closed, false, 'close waits for the job running');
      release();
      await closing;
      assert.equal((await s.jobs.get(id))!.state, 'done');
    });

    it('JobRunner: a failed job is queued again at now + backoff(attempts), and dead when its last attempt fails', async () => {
      const k = kind('backoff');
      const t0 = Date.now();
      const { id } = first(await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 'retry me', max_attempts: 2 }], t0));
      const { id: last } = first(await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 'one try', max_attempts: 1 }], t0));
      const seen: number[] = [];
      const runner = new JobRunner({ jobs: s.jobs, worker: 'backoff-runner', pollMs: 10, now: () => t0, backoff: (n) => { seen.push(n); return 60_000 * n; } })
        .register(k, async (job) => {
          throw new Error(`refused ${String(job.payload)}`);
        });
      runner.start();
      try {
        await until(async () => (await s.jobs.get(id))!.state === 'queued' && (await s.jobs.get(last))!.state === 'dead', 'both failed once');
      } finally {
        await runner.close();
      }
      const queued = (await s.jobs.get(id))!;
      assert.equal(queued.run_at, t0 + 60_000, 'backoff(1) after the first attempt');
      assert.equal(queued.last_error, 'Error: refused retry me');
      assert.deepEqual(seen, [1], 'no backoff asked for a job out of attempts');
      assert.equal((await s.jobs.get(last))!.last_error, 'Error: refused one try');
    });

    it('JobRunner: a job whose process died mid-run (storage gone, never completed) runs again elsewhere after its lease', async () => {
      const k = kind('crash');
      const { id } = first(await s.jobs.enqueue([{ tenant_id: T, kind: k, payload: 'push it' }], Date.now()));
      // The first "process": its own storage when the backend can open a second one.
      const dying = reopen ? await reopen() : s;
      let started!: () => void;
      const startedP = new Promise<void>((r) => (started = r));
      const leaseMs = 60_000;
      let revive!: () => void;
      const a = new JobRunner({ jobs: dying.jobs, worker: 'node-a', pollMs: 10, leaseMs }).register(k, async () => {
        started();
        await new Promise<void>((r) => (revive = r)); // does not finish: the process dies meanwhile
      });
      a.start();
      await startedP;
      if (dying !== s) await dying.close(); // gone, with the job leased and not completed
      assert.equal((await s.jobs.get(id))!.state, 'leased');

      // Another node, after the lease has run out (its clock says so).
      const ranOn: string[] = [];
      const b = new JobRunner({ jobs: s.jobs, worker: 'node-b', pollMs: 10, leaseMs, now: () => Date.now() + leaseMs + 1 })
        .register(k, async (job) => {
          ranOn.push(`${job.id}#${job.attempts}`);
        });
      b.start();
      try {
        await until(async () => (await s.jobs.get(id))!.state === 'done', 'the job ran again and was completed');
      } finally {
        await b.close();
      }
      assert.deepEqual(ranOn, [`${id}#2`]);
      // Were the first runner to wake up after all, its completion would change nothing.
      revive();
      await a.close();
      const done = (await s.jobs.get(id))!;
      assert.equal(done.state, 'done');
      assert.equal(done.worker, 'node-b');
      assert.equal(done.attempts, 2);
    });
  });
}
