/** The push retry delay: doubling from the base, capped, with jitter between half and all of it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jitterBackoff } from '../../src/push/index.ts';

test('jitterBackoff doubles per attempt, stays within [d/2, d], and never passes the cap', () => {
  const low = jitterBackoff(1000, 60_000, () => 0);
  const high = jitterBackoff(1000, 60_000, () => 1);
  assert.deepEqual([1, 2, 3, 4].map(low), [500, 1000, 2000, 4000]);
  assert.deepEqual([1, 2, 3, 4].map(high), [1000, 2000, 4000, 8000]);
  assert.equal(high(20), 60_000);
  assert.equal(low(20), 30_000);
  const real = jitterBackoff(1000, 60_000);
  for (let i = 0; i < 200; i++) {
    const d = real(3);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});
