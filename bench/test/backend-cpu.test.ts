/**
 * The bench's readings of PostgreSQL and Redis: both start on loopback for a run, their CPU is
 * read from /proc (PostgreSQL: the postmaster, its live backends and the ones it reaped),
 * and both are stopped by pid.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import { startPostgres, startRedis } from '../../packages/server/test/support/services.ts';
import { childPids, CpuMeter, procCpuMs, procTreeCpuMs } from '../lib/proc.ts';

test('PostgreSQL and Redis: started for a run, their CPU read from /proc, stopped by pid', { timeout: 120_000 }, async () => {
  const [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  try {
    const pgSource = { cpuMs: () => procTreeCpuMs(postgres.pid) };
    const redisSource = { cpuMs: () => procCpuMs(redis.pid) };
    assert.ok(Number.isFinite(pgSource.cpuMs()), 'PostgreSQL CPU readable');
    assert.ok(Number.isFinite(redisSource.cpuMs()), 'Redis CPU readable');
    // The postmaster's workers (checkpointer, walwriter, …) are its children.
    assert.ok(childPids(postgres.pid).length > 0, 'the postmaster has child processes');

    const meter = new CpuMeter([pgSource, redisSource]).start();
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    const backends = childPids(postgres.pid).length;
    // Work in a backend: a sum over 3M rows.
    await client.query('SELECT sum(x) FROM generate_series(1, 3000000) AS x');
    // A backend that exits counts too (reaped by the postmaster: its cutime).
    const other = new pg.Client({ connectionString: postgres.url });
    await other.connect();
    await other.query('SELECT sum(x) FROM generate_series(1, 3000000) AS x');
    await other.end();
    const r = new Redis(redis.url, { lazyConnect: true });
    await r.connect();
    const batch = r.pipeline();
    for (let i = 0; i < 50_000; i++) batch.incr(`k${i % 100}`);
    await batch.exec();
    await r.quit();
    const m = meter.stop();
    assert.ok(m.cpuMs[0]! > 0, `PostgreSQL used CPU: ${m.cpuMs[0]} ms`);
    assert.ok(m.cpuMs[1]! > 0, `Redis used CPU: ${m.cpuMs[1]} ms`);
    assert.ok(childPids(postgres.pid).length >= backends, 'the open connection is a backend under the postmaster');
    await client.end();
  } finally {
    const dirs = [postgres.dir, redis.dir];
    const pids = [postgres.pid, redis.pid];
    await Promise.all([postgres.stop(), redis.stop()]);
    for (const pid of pids) assert.ok(!running(pid), `process ${pid} stopped`);
    for (const d of dirs) assert.ok(!existsSync(d), `${d} removed`);
  }
});

/** Whether a process exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
