/**
 * Long-polling on several nodes (PostgreSQL + Redis, real `careline start` processes): a poll
 * held by node B answers a send committed through node A; a poll cut by a `kill -9` of its
 * node is resumed with the same cursor on another node, and nothing is missing or doubled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCluster, type ClusterTenant, type TestCluster } from '../support/cluster.ts';

type Answer = { frames: { type: string; [k: string]: any }[]; cursor: string };

describe('long-poll on a cluster', { timeout: 240_000 }, () => {
  let c: TestCluster;
  let t: ClusterTenant;
  let doc: { id: string; token: string };
  let pat: { id: string; token: string };
  let conv: string;

  const poll = async (base: string, token: string, q: Record<string, string | number>, signal?: AbortSignal): Promise<Answer> => {
    const qs = new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]));
    const res = await fetch(`${base}/api/v2/poll?${qs}`, { headers: { authorization: `Bearer ${token}` }, signal: signal ?? AbortSignal.timeout(20_000) });
    assert.equal(res.status, 200);
    return (await res.json()) as Answer;
  };
  const send = async (base: string, token: string, id: string, text: string) => {
    const res = await fetch(`${base}/api/v2/poll/send`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ type: 'send', id, conversation_id: conv, message: { client_id: id, type: 1, content: { text } } }]),
      signal: AbortSignal.timeout(20_000),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Answer;
    const ack = body.frames.find((f) => f.type === 'ack');
    assert.ok(ack, JSON.stringify(body));
    return ack;
  };
  const seqs = (a: Answer) => a.frames.filter((f) => f.type === 'message').map((f) => f.message.seq as number);

  before(async () => {
    c = await startCluster({ nodes: 3 });
    t = await c.tenant();
    doc = await t.user('doc', 'doctor');
    pat = await t.user('pat', 'patient');
    conv = await t.conversation({ participants: ['doc', 'pat'] });
  });
  after(async () => {
    await c?.stop();
  });

  it('a poll held by node B answers a send committed through node A', async () => {
    const [a, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
    const first = await poll(b.url, doc.token, { hello: 1 });
    const held = poll(b.url, doc.token, { cursor: first.cursor, timeout: 15_000 });
    await new Promise((r) => setTimeout(r, 300));
    const ack = await send(a.url, pat.token, 'x-node-1', 'from A');
    const got = await held;
    assert.deepEqual(seqs(got), [ack.seq]);
    assert.equal(got.frames.find((f) => f.type === 'message')!.message.content.text, 'from A');
  });

  it('a poll cut by kill -9 of its node resumes on another node from the same cursor, nothing lost or doubled', async () => {
    const [a, b, n3] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]];
    const first = await poll(n3.url, doc.token, { hello: 1 });
    const cursor = first.cursor;
    // A poll held on node 3; node 3 dies with it.
    const ac = new AbortController();
    const held = poll(n3.url, doc.token, { cursor, timeout: 15_000 }, ac.signal).then(() => 'answered', () => 'cut');
    await new Promise((r) => setTimeout(r, 300));
    await n3.kill9();
    assert.equal(await held, 'cut');
    // Messages keep coming through node A meanwhile.
    const acks = [];
    for (let i = 0; i < 5; i++) acks.push(await send(a.url, pat.token, `after-kill-${i}`, `m${i}`));
    // The client polls node B with the cursor it had: every message after it, once, in order.
    const resumed = await poll(b.url, doc.token, { cursor });
    const want = acks.map((x) => x.seq as number);
    assert.deepEqual(seqs(resumed), want);
    // And from the cursor it got: nothing more (the timeout answer).
    const after = await poll(b.url, doc.token, { cursor: resumed.cursor, timeout: 300 });
    assert.deepEqual(seqs(after), []);
  });
});
