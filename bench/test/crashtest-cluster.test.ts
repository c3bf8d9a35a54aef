/**
 * The short crash test over a cluster (part of `npm test`): three nodes on one PostgreSQL and
 * one Redis, 3 cycles of kill -9 of one node picked at random while the clients send; they
 * move to another node and resend there. Nothing acked may be lost or stored twice, no seq
 * gap, every client gets each message once. `npm run crashtest -- --backend postgres --nodes 3`
 * runs the long version.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCrashTest } from '../crash/crash.ts';

test('crash test, 3 nodes on PostgreSQL + Redis: kill -9 of one node per cycle loses nothing and doubles nothing', { timeout: 180_000 }, async () => {
  const r = await runCrashTest({ backend: 'postgres', nodes: 3, cycles: 3, clients: 18, window: 4, minUpMs: 300, maxUpMs: 1200 });
  const counts = `acked ${r.acked}, stored ${r.stored}, lost ${r.lost}, duplicated ${r.duplicated}, gaps ${r.gaps}, ack≠row ${r.ackMismatch}, stored-not-acked ${r.storedNotAcked}, deliveries missed ${r.deliveryMissed}, doubled ${r.deliveryDuplicated}; kills per node ${r.kills.join(' / ')}${r.doubleSamples.length ? `; doubled: ${r.doubleSamples.join(' | ')}` : ''}`;
  assert.equal(r.kills.reduce((a, b) => a + b, 0), 3, counts);
  assert.ok(r.acked > 0, `nothing was acked: ${counts}`);
  assert.equal(r.lost, 0, counts);
  assert.equal(r.duplicated, 0, counts);
  assert.equal(r.gaps, 0, counts);
  assert.equal(r.ackMismatch, 0, counts);
  assert.equal(r.storedNotAcked, 0, counts);
  assert.equal(r.deliveryMissed, 0, counts);
  assert.equal(r.deliveryDuplicated, 0, counts);
  assert.ok(r.ok, counts);
});
