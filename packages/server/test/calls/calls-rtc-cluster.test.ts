/**
 * WebRTC signalling across nodes (docs/calls.md, "WebRTC"): two `careline start` processes on
 * one PostgreSQL and one Redis, the caller's SDK client on one node and the callee's on the
 * other. The offer, the answer and the ICE candidates cross the bus to the other participant
 * only; each side gets its own TURN credential; a signal to a participant who has not joined
 * is refused on either node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RtcEventFrame } from '@careline/sdk';
import { startCluster, type ClusterTenant, type TestCluster } from '../support/cluster.ts';

const T = { timeout: 120_000 };
const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
const CAND = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

let c: TestCluster;
let t: ClusterTenant;
before(async () => {
  c = await startCluster({
    nodes: 2,
    env: { CARELINE_CALLS_TURN_URLS: 'turn:127.0.0.1:3478?transport=udp', CARELINE_CALLS_TURN_SECRET: 'cluster-secret', CARELINE_CALLS_POLL_MS: '100' },
  });
  await c.waitBalanced();
  t = await c.tenant();
}, { timeout: 120_000 });
after(async () => {
  await c?.stop();
}, { timeout: 60_000 });

async function until<V>(what: string, f: () => V | undefined | false | null, timeoutMs = 15_000): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('WebRTC signalling across nodes', () => {
  test('offer, answer and candidates cross nodes to the other participant only; each side has its own TURN credential', T, async () => {
    const [n1, n2] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
    const doc = await t.user('r-doc', 'doctor');
    const pat = await t.user('r-pat', 'patient');
    const nurse = await t.user('r-nurse', 'staff');
    const conv = await t.conversation({ participants: [doc.id, pat.id, nurse.id], type: 4 });
    const caller = c.pinned(n1!, doc.token);
    const callee = c.pinned(n2!, pat.token);
    const third = c.pinned(n1!, nurse.token);
    await Promise.all([caller.connect(), callee.connect(), third.connect()]);
    const got = { caller: [] as RtcEventFrame[], callee: [] as RtcEventFrame[], third: [] as RtcEventFrame[] };
    caller.calls.on('rtc', (f) => got.caller.push(f));
    callee.calls.on('rtc', (f) => got.callee.push(f));
    third.calls.on('rtc', (f) => got.third.push(f));

    const call = await caller.calls.invite(conv, { video: true });
    await until('ringing on node 2', () => callee.calls.active.some((x) => x.id === call.id));
    await callee.calls.accept(call.id);
    const [iceDoc, icePat] = [await caller.calls.iceServers(call.id), await callee.calls.iceServers(call.id)];
    assert.equal(iceDoc[0]!.username!.split(':')[1], doc.id);
    assert.equal(icePat[0]!.username!.split(':')[1], pat.id);
    assert.deepEqual(iceDoc[0]!.urls, ['turn:127.0.0.1:3478?transport=udp']);

    await caller.calls.signal(call.id, pat.id, { kind: 'offer', sdp: SDP });
    const offer = await until('the offer on node 2', () => got.callee.find((f) => f.kind === 'offer'));
    assert.equal(offer.from, doc.id);
    assert.equal(offer.from_connection, caller.calls.connectionId);
    await callee.calls.signal(call.id, doc.id, { kind: 'answer', sdp: SDP }, offer.from_connection);
    await callee.calls.signal(call.id, doc.id, { kind: 'candidate', candidate: CAND }, offer.from_connection);
    await until('the answer and a candidate on node 1', () => got.caller.some((f) => f.kind === 'answer') && got.caller.some((f) => f.kind === 'candidate'));
    assert.deepEqual(got.caller.find((f) => f.kind === 'candidate')!.candidate, CAND);

    // The nurse still rings: no signal to or from her, on either node.
    await assert.rejects(caller.calls.signal(call.id, nurse.id, { kind: 'offer', sdp: SDP }), { code: 'call.rtc_not_joined' });
    await assert.rejects(third.calls.signal(call.id, pat.id, { kind: 'offer', sdp: SDP }), { code: 'call.rtc_not_joined' });
    await assert.rejects(callee.calls.signal(call.id, doc.id, { kind: 'answer' }), { code: 'call.rtc_invalid' });
    assert.equal(got.third.length, 0);
    await caller.calls.hangup(call.id);
    await Promise.all([caller.close(), callee.close(), third.close()]);
  });
});
