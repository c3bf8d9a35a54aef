/**
 * The push scenario at a tiny scale: every offline user's message gets exactly one push,
 * none refused as malformed by the local APNs and FCM, the baseline sends as many, and the
 * figures are filled in. (The figures themselves are for `npm run bench -- --only push`.)
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { pushTable, runPushBench } from '../push.ts';

it('push bench at a tiny scale: one push per message, nothing lost or doubled, a baseline', { timeout: 180_000 }, async () => {
  const r = await runPushBench({ users: 40, doctors: 4, sendRate: 200, workers: 4, chatPairs: 2, chatRate: 20, quietMs: 500, timeoutMs: 60_000 });
  assert.deepEqual({ pushes: r.careline.pushes, lost: r.careline.lost, doubled: r.careline.doubled, rejected: r.careline.rejected }, { pushes: 40, lost: 0, doubled: 0, rejected: 0 });
  assert.deepEqual([r.careline.apns, r.careline.fcm], [20, 20]);
  assert.equal(r.careline.delayMs.n, 40);
  assert.ok(r.careline.reqPerSec > 0);
  assert.deepEqual({ pushes: r.baseline.pushes, rejected: r.baseline.rejected }, { pushes: 40, rejected: 0 });
  assert.ok(r.baseline.reqPerSec > 0);
  assert.ok(r.chat.quiet.n > 0 && r.chat.duringPush.n > 0, JSON.stringify(r.chat));
  assert.match(pushTable(r), /push requests\/s/);
});
