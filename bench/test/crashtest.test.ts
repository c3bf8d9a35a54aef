/**
 * The short crash test (part of `npm test`): 3 kill -9 cycles during a send storm; nothing
 * acked may be lost or stored twice, no seq gap, every client gets each message once.
 * `npm run crashtest` runs the long version (20 cycles by default; --cycles N).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCrashTest } from '../crash/crash.ts';

test('crash test: 3 kill -9 cycles lose nothing and double nothing', { timeout: 120_000 }, async () => {
  const r = await runCrashTest({ cycles: 3, clients: 16, window: 4, sync: 'FULL', minUpMs: 150, maxUpMs: 900 });
  const counts = `acked ${r.acked}, stored ${r.stored}, lost ${r.lost}, duplicated ${r.duplicated}, gaps ${r.gaps}, ack≠row ${r.ackMismatch}, stored-not-acked ${r.storedNotAcked}, deliveries missed ${r.deliveryMissed}, doubled ${r.deliveryDuplicated}`;
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
