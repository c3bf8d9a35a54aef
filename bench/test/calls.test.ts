/**
 * The call set-up bench at a tiny scale on a 2-node cluster: every call rings and connects,
 * nothing is missing, the chat goes on beside it, and the table names each measure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callsBench, callsTable, latency } from '../calls.ts';

test('calls bench: 20 calls on 2 nodes ring, connect, and chat goes on', { timeout: 300_000 }, async () => {
  const r = await callsBench({ calls: 20, nodes: 2, chatPairs: 2, chatRate: 20, spreadMs: 200, chatAloneMs: 1000, phaseTimeoutMs: 30_000 });
  assert.equal(r.ringing.n, 20);
  assert.equal(r.ringing.missing, 0);
  assert.equal(r.connected.n, 20);
  assert.equal(r.connected.missing, 0);
  assert.ok(r.peakRinging >= 1 && r.peakRinging <= 20);
  assert.ok(r.ringing.p50 > 0 && r.ringing.p50 <= r.ringing.p99 && r.ringing.p99 <= r.ringing.max);
  assert.ok(r.chatAlone.n > 0 && r.chatDuringCalls.n > 0, JSON.stringify(r));
  assert.match(callsTable(r), /\| invite → ringing on the callee \(other node\) \| 20 \| 0 \|/);
});

test('calls bench: percentiles and missing counts', () => {
  assert.deepEqual(latency([3, 1, 2, 4], 5), { n: 4, missing: 1, p50: 3, p99: 4, max: 4 });
  assert.deepEqual(latency([], 2), { n: 0, missing: 2, p50: 0, p99: 0, max: 0 });
});
