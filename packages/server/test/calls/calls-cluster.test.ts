/**
 * Calls across nodes: two `careline start` processes on one PostgreSQL and one Redis (behind
 * HAProxy), SDK clients pinned to given nodes.
 *
 *  - the caller on one node, the callee's devices on both: ringing everywhere, the answer on
 *    one node is `other_answer` on the other device, the call outlives the heartbeat timeout
 *    while its participants beat, and ends with its record;
 *  - `kill -9` of the node holding a participant during a call, and of the node holding the
 *    caller while it rings: the other node's call timer ends the call (lost / timeout) and the
 *    survivor is told; no live call is left and the record is written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallInfo, CallUpdate, CarelineClient } from '@careline/sdk';
import { startCluster, type ClusterTenant, type TestCluster } from '../support/cluster.ts';

const HB_TIMEOUT_MS = 2000;
const T = { timeout: 120_000 };

let c: TestCluster;
let t: ClusterTenant;
before(async () => {
  c = await startCluster({
    nodes: 2,
    env: {
      CARELINE_CALLS_RING_TIMEOUT_MS: '4000', CARELINE_CALLS_HEARTBEAT_MS: '300', CARELINE_CALLS_HEARTBEAT_TIMEOUT_MS: String(HB_TIMEOUT_MS),
      CARELINE_CALLS_POLL_MS: '100',
    },
  });
  await c.waitBalanced();
  t = await c.tenant();
}, { timeout: 120_000 });
after(async () => {
  await c?.stop();
}, { timeout: 60_000 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<V>(what: string, f: () => V | undefined | false | null | Promise<V | undefined | false | null>, timeoutMs = 15_000): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function watch(client: CarelineClient): { updates: CallUpdate[]; ringing: CallInfo[]; ended: CallInfo[] } {
  const w = { updates: [] as CallUpdate[], ringing: [] as CallInfo[], ended: [] as CallInfo[] };
  client.calls.on('call', (u) => w.updates.push(u));
  client.calls.on('ringing', (x) => w.ringing.push(x));
  client.calls.on('ended', (x) => w.ended.push(x));
  return w;
}

async function lastMessage(conv: string, token: string) {
  const r = await t.call('GET', `/api/v2/sessions/${encodeURIComponent(conv)}/messages?limit=5`, { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.messages.at(-1);
}

describe('calls across nodes', () => {
  test('caller on node 1, the callee on both nodes: ringing on every device, other_answer across nodes, hangup with its record', T, async () => {
    const [n1, n2] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
    const doc = await t.user('x-doc', 'doctor');
    const pat = await t.user('x-pat', 'patient');
    const conv = await t.conversation({ participants: [doc.id, pat.id] });
    const caller = c.pinned(n1!, doc.token);
    const phone = c.pinned(n2!, pat.token);
    const laptop = c.pinned(n1!, await t.login(pat.id));
    await Promise.all([caller.connect(), phone.connect(), laptop.connect()]);
    const [wc, wp, wl] = [watch(caller), watch(phone), watch(laptop)];

    const call = await caller.calls.invite(conv, { video: true });
    await until('ringing on both devices', () => wp.ringing.length === 1 && wl.ringing.length === 1);
    await phone.calls.accept(call.id);
    await until('other_answer on the laptop (node 1)', () => wl.updates.some((u) => u.status === 'other_answer' && u.by === pat.id));
    await until('accept at the caller', () => wc.updates.some((u) => u.status === 'accept'));
    assert.equal(wl.updates.filter((u) => u.status === 'accept').length, 0);
    // Both participants beat: the call outlives the heartbeat timeout.
    await sleep(HB_TIMEOUT_MS + 1000);
    assert.equal((await caller.calls.get(call.id)).state, 'active');
    const done = await phone.calls.hangup(call.id);
    assert.equal(done.state, 'ended');
    await until('the caller hears the end', () => wc.ended.some((x) => x.id === call.id && x.end_reason === 'hangup'));
    const rec = await lastMessage(conv, doc.token);
    assert.equal(rec.type, 1002);
    assert.equal(rec.content.status, 'hangup');
    assert.equal(rec.content.answered, true);
    assert.equal(rec.seq, done.record!.seq);
  });

  test('kill -9 of the node holding a participant during a call: the call ends (lost) on the other node, with its record', T, async () => {
    const [n1, n2] = c.nodes;
    const doc = await t.user('k-doc', 'doctor');
    const pat = await t.user('k-pat', 'patient');
    const conv = await t.conversation({ participants: [doc.id, pat.id] });
    const caller = c.pinned(n1!, doc.token);
    const callee = c.pinned(n2!, pat.token);
    await Promise.all([caller.connect(), callee.connect()]);
    const wc = watch(caller);
    const wp = watch(callee);
    const call = await caller.calls.invite(conv);
    await until('ringing', () => wp.ringing.length === 1);
    await callee.calls.accept(call.id);
    await until('accepted', () => wc.updates.some((u) => u.status === 'accept'));
    await n2!.kill9();
    // The callee's app reached only that node: no more heartbeats from it.
    const ended = await until('the call ends', () => wc.ended.find((x) => x.id === call.id), HB_TIMEOUT_MS + 15_000);
    assert.equal(ended.end_reason, 'lost');
    const r = await t.call('GET', `/api/v2/calls/${call.id}`, { token: doc.token });
    assert.equal(r.body.call.state, 'ended');
    assert.equal((await t.call('GET', '/api/v2/calls', { token: pat.token })).body.calls.length, 0, 'no live call left');
    const rec = await lastMessage(conv, doc.token);
    assert.deepEqual([rec.type, rec.content.status, rec.content.roomId], [1002, 'lost', call.id]);
    await callee.close();
    await n2!.restart();
    await c.waitBalanced();
  });

  test('kill -9 of the caller\'s node while it rings: the other node ends the call and the callee stops ringing', T, async () => {
    const [n1, n2] = c.nodes;
    const doc = await t.user('r-doc', 'doctor');
    const pat = await t.user('r-pat', 'patient');
    const conv = await t.conversation({ participants: [doc.id, pat.id] });
    const caller = c.pinned(n1!, doc.token);
    const callee = c.pinned(n2!, pat.token);
    await Promise.all([caller.connect(), callee.connect()]);
    const wp = watch(callee);
    const call = await caller.calls.invite(conv, { video: true });
    await until('ringing', () => wp.ringing.length === 1);
    await n1!.kill9();
    const ended = await until('the call ends', () => wp.ended.find((x) => x.id === call.id), 20_000);
    // The caller went silent (lost) before the ring timeout, or the ring timed out: either way it is over.
    assert.ok(ended.end_reason === 'lost' || ended.end_reason === 'timeout', String(ended.end_reason));
    assert.equal((await t.call('GET', `/api/v2/calls/${call.id}`, { token: pat.token, base: n2!.url })).body.call.state, 'ended');
    const rec = await lastMessage(conv, pat.token);
    assert.deepEqual([rec.type, rec.content.answered, rec.sender_id], [1002, false, doc.id]);
    await caller.close();
    await n1!.restart();
    await c.waitBalanced();
  });
});
