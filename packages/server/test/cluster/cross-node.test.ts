/**
 * What crosses nodes: three `careline start` processes on one PostgreSQL and one Redis, behind
 * HAProxy. A user's devices are connected to given nodes (directly, so that the test knows
 * which), the writes go through the balancer: a message sent on one node reaches the
 * recipient's devices on the other two once each; read receipts, typing, presence,
 * notifications and tenant broadcasts, member enter/leave, "connected elsewhere" and logout all
 * reach connections on other nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CarelineClient, CarelineEvents } from '@careline/sdk';
import { startCluster, type ClusterNode, type ClusterTenant, type TestCluster } from '../support/cluster.ts';
import { WsClient, type Frame } from '../support/ws-client.ts';

const T = { timeout: 60_000 };

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 3 });
  await c.waitBalanced();
}, { timeout: 120_000 });
after(async () => {
  for (const s of sockets) s.close();
  await c?.stop();
}, { timeout: 60_000 });

/** The i-th node (0, 1, 2). */
const node = (i: number): ClusterNode => c.nodes[i % c.nodes.length]!;
const wsUrl = (n: ClusterNode) => n.url.replace(/^http/, 'ws') + '/ws';

const sockets: WsClient[] = [];
/** A raw WebSocket to one node, after its hello (every frame it gets is kept, duplicates included). */
async function socket(n: ClusterNode, token: string): Promise<WsClient> {
  const s = await WsClient.open(wsUrl(n), token);
  sockets.push(s);
  return s;
}

/** Every event of one kind a client emits. */
function record<K extends keyof CarelineEvents>(client: CarelineClient, kind: K): CarelineEvents[K][] {
  const out: CarelineEvents[K][] = [];
  client.on(kind, (e) => out.push(e));
  return out;
}

async function until<V>(what: string | (() => string), f: () => V | undefined | false | null, timeoutMs = 10_000): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A doctor and a patient of a new tenant in one p2p conversation. */
async function pair(): Promise<{ t: ClusterTenant; dr: { id: string; token: string }; pt: { id: string; token: string }; conv: string }> {
  const t = await c.tenant();
  const dr = await t.user('dr-1', 'doctor');
  const pt = await t.user('pt-1', 'patient');
  const conv = await t.conversation({ participants: [dr.id, pt.id] });
  return { t, dr, pt, conv };
}

/** Per seq, how many `message` frames of the conversation a socket got. */
function counts(s: WsClient, conv: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const f of s.messages(conv)) m.set(f.seq as number, (m.get(f.seq as number) ?? 0) + 1);
  return m;
}

describe('messages across nodes', () => {
  test('a message sent on node 1 reaches the recipient\'s devices on nodes 2 and 3, and the sender\'s other device, once each', T, async () => {
    const { t, dr, pt, conv } = await pair();
    const ptIos = await t.login(pt.id, { platform: 'ios' });
    const drWeb2 = await t.login(dr.id, { platform: 'ios' });
    const sender = await socket(node(0), dr.token);
    const ptOn2 = await socket(node(1), pt.token);
    const ptOn3 = await socket(node(2), ptIos);
    const drOn3 = await socket(node(2), drWeb2);

    const N = 40;
    for (let i = 1; i <= N; i++) {
      const ack = await sender.say(conv, `m${i}`, `dr-${i}`);
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
      assert.equal(ack.seq, i);
    }
    for (const [who, s] of [['patient on node 2', ptOn2], ['patient on node 3', ptOn3], ['doctor\'s other device on node 3', drOn3]] as const) {
      await until(() => `${who}: ${N} messages (got ${s.messages(conv).length})`, () => s.messages(conv).length >= N);
      await sleep(300); // anything doubled would come right behind
      const got = counts(s, conv);
      assert.equal(got.size, N, `${who}: every seq`);
      assert.ok([...got.values()].every((n) => n === 1), `${who}: each once`);
      assert.deepEqual(s.messages(conv).map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1), `${who}: in order`);
    }
    // The sender's own connection gets acks, not its messages back.
    assert.equal(sender.messages(conv).length, 0);
  });

  test('a message sent through the REST API of any node (through the balancer) reaches sockets on every node once', T, async () => {
    const { t, dr, pt, conv } = await pair();
    const on = await Promise.all([0, 1, 2].map(async (i) => socket(node(i), await t.login(pt.id, { platform: ['web', 'ios', 'windows'][i]! }))));
    for (let i = 1; i <= 9; i++) {
      const r = await t.call('POST', `/api/v2/sessions/${conv}/messages`, { body: { type: 1, content: { text: `rest ${i}` }, sender_id: dr.id } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    for (const s of on) {
      await until(() => `9 messages (got ${s.messages(conv).length})`, () => s.messages(conv).length >= 9);
    }
    await sleep(300);
    for (const s of on) assert.deepEqual(s.messages(conv).map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('history pages across nodes', () => {
  test('a latest page node 2 keeps in memory follows messages sent and recalled on node 1 at once (not after its TTL)', T, async () => {
    const { t, dr, pt, conv } = await pair();
    const page = async (i: number) => {
      const r = await t.call('GET', `/api/v2/sessions/${conv}/messages?limit=20`, { token: pt.token, base: node(i).url });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.messages as { seq: number; id: string; content: { text?: string } | null }[];
    };
    const sendOn = async (i: number, text: string) => {
      const r = await t.call('POST', `/api/v2/sessions/${conv}/messages`, { body: { type: 1, content: { text } }, token: dr.token, base: node(i).url });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.message as { id: string; seq: number };
    };
    await sendOn(0, 'first');
    // Read twice: the second read of a conversation within the TTL keeps a copy.
    for (let i = 0; i < 2; i++) assert.deepEqual((await page(1)).map((m) => m.content?.text), ['first'], 'node 2 keeps the page');
    const second = await sendOn(0, 'second');
    await sendOn(2, 'third');
    // Well within the copies' TTL (cache.memberTtlMs, 10 s): only the events can bring them.
    const deadline = Date.now() + 3000;
    let texts: (string | undefined)[] = [];
    while (Date.now() < deadline) {
      texts = (await page(1)).map((m) => m.content?.text);
      if (texts.length === 3) break;
      await sleep(50);
    }
    assert.deepEqual(texts, ['first', 'second', 'third']);
    const r = await t.call('POST', `/api/v2/sessions/${conv}/messages/${second.id}/recall`, { token: dr.token, base: node(0).url });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    let tomb: { content: unknown } | undefined;
    while (Date.now() < deadline + 3000) {
      tomb = (await page(1)).find((m) => m.id === second.id);
      if (tomb?.content === null) break;
      await sleep(50);
    }
    assert.equal(tomb?.content, null, 'the recall shows on node 2');
    assert.deepEqual(await page(1), await page(2), 'node 2 and node 3 agree');
  });
});

describe('read receipts, typing and presence across nodes', () => {
  test('a read on node 2 reaches the other participant on node 1 and the reader\'s device on node 3', T, async () => {
    const { t, dr, pt, conv } = await pair();
    await t.call('POST', `/api/v2/sessions/${conv}/messages`, { body: { type: 1, content: { text: 'hello' }, sender_id: dr.id } });
    const drOn1 = c.pinned(node(0), dr.token);
    const ptOn2 = c.pinned(node(1), pt.token);
    const ptOn3 = c.pinned(node(2), await t.login(pt.id, { platform: 'ios' }));
    const drReads = record(drOn1, 'read');
    const ptReads = record(ptOn3, 'read');
    await Promise.all([drOn1.connect(), ptOn2.connect(), ptOn3.connect()]);
    ptOn2.markRead(conv, 1);
    await until('the doctor hears of the read', () => drReads.find((r) => r.user_id === pt.id && r.seq === 1));
    await until('the patient\'s other device hears of it', () => ptReads.find((r) => r.user_id === pt.id && r.seq === 1));
  });

  test('typing on node 3 reaches the other participant on node 1', T, async () => {
    const { t, dr, pt, conv } = await pair();
    void t;
    const drOn1 = c.pinned(node(0), dr.token);
    const ptOn3 = c.pinned(node(2), pt.token);
    const typing = record(drOn1, 'typing');
    await Promise.all([drOn1.connect(), ptOn3.connect()]);
    assert.equal(ptOn3.typing(conv, 'typing'), true);
    await until('typing', () => typing.find((e) => e.user_id === pt.id && e.state === 'typing' && e.conversation_id === conv));
    ptOn3.typing(conv, 'stopped');
    await until('stopped', () => typing.find((e) => e.user_id === pt.id && e.state === 'stopped'));
  });

  test('presence: a user connecting on node 2 is online for a watcher on node 1, and offline once gone', T, async () => {
    const { t, dr, pt } = await pair();
    const drOn1 = c.pinned(node(0), dr.token);
    const seen = record(drOn1, 'presence');
    await drOn1.connect();
    drOn1.subscribePresence([pt.id]);
    await sleep(300);
    const ptOn2 = c.pinned(node(1), pt.token);
    await ptOn2.connect();
    await until('online', () => seen.find((p) => p.user_id === pt.id && p.online));
    // Also as any node answers REST: the user's status is online whichever node is asked.
    for (let i = 0; i < 3; i++) {
      const r = await t.call('GET', `/api/v2/users/${pt.id}/status`, { token: dr.token, base: node(i).url });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(JSON.stringify(r.body).includes('"online":true'), true, `node ${i + 1}: ${JSON.stringify(r.body)}`);
    }
    await ptOn2.close();
    await until('offline', () => seen.find((p) => p.user_id === pt.id && !p.online));
  });
});

describe('notifications across nodes', () => {
  test('a notification to a user reaches their devices on two other nodes once; a tenant broadcast reaches everyone on every node once', T, async () => {
    const { t, dr, pt } = await pair();
    const ptOn2 = await socket(node(1), pt.token);
    const ptOn3 = await socket(node(2), await t.login(pt.id, { platform: 'ios' }));
    const drOn1 = await socket(node(0), dr.token);
    const notes = (s: WsClient) => s.frames.filter((f) => f.type === 'notification').map((f) => f.notification as Frame);

    const one = await t.call('POST', '/api/v2/management/notifications', { body: { kind: 'S2C_SIGNED_PUSH', target: { user: pt.id }, title: 'Signed' } });
    assert.equal(one.status, 200, JSON.stringify(one.body));
    const all = await t.call('POST', '/api/v2/management/notifications', { body: { kind: 'S2C_SYSTEM_PUSH', target: { tenant: true }, title: 'Clinic closed on Friday' } });
    assert.equal(all.status, 200, JSON.stringify(all.body));

    for (const s of [ptOn2, ptOn3]) await until(() => `2 notifications (got ${notes(s).length})`, () => notes(s).length >= 2);
    await until(() => `the broadcast on node 1 (got ${notes(drOn1).length})`, () => notes(drOn1).length >= 1);
    await sleep(300);
    for (const s of [ptOn2, ptOn3]) assert.deepEqual(notes(s).map((n) => n.kind), ['S2C_SIGNED_PUSH', 'S2C_SYSTEM_PUSH']);
    assert.deepEqual(notes(drOn1).map((n) => n.kind), ['S2C_SYSTEM_PUSH']);
  });
});

describe('membership, connections and sessions across nodes', () => {
  test('member enter and leave reach participants on other nodes', T, async () => {
    const t = await c.tenant();
    const doc = await t.user('doc', 'doctor');
    const pat = await t.user('pat', 'patient');
    await t.user('nurse', 'staff');
    const conv = await t.conversation({ participants: [doc.id, pat.id], type: 4, name: 'Ward 3' });
    const docOn1 = await socket(node(0), doc.token);
    const patOn2 = await socket(node(1), pat.token);
    const added = await t.call('POST', `/api/v2/sessions/${conv}/participants`, { body: { participants: ['nurse'] } });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    for (const s of [docOn1, patOn2]) {
      assert.deepEqual(await s.next((f) => f.type === 'event' && f.kind === 'S2C_TEAMMEMBER_ENTER'), { type: 'event', kind: 'S2C_TEAMMEMBER_ENTER', conversation_id: conv, user_ids: ['nurse'] });
    }
    const removed = await t.call('DELETE', `/api/v2/sessions/${conv}/participants/nurse`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    for (const s of [docOn1, patOn2]) {
      assert.deepEqual(await s.next((f) => f.type === 'event' && f.kind === 'S2C_TEAMMEMBER_LEAVE'), { type: 'event', kind: 'S2C_TEAMMEMBER_LEAVE', conversation_id: conv, user_ids: ['nurse'] });
    }
  });

  test('"connected elsewhere" under kick: a new connection on node 2 closes the older one on node 1', T, async () => {
    const { t, pt } = await pair();
    const set = await t.call('PUT', '/api/v2/management/settings', { body: { connection_policy: 'kick' } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const first = c.pinned(node(0), await t.login(pt.id, { platform: 'web' }));
    const events = record(first, 'event');
    const states = record(first, 'state');
    await first.connect();
    const second = c.pinned(node(1), await t.login(pt.id, { platform: 'web' }));
    await second.connect();
    await until('S2C_DIFFERENT_CONNECTION on node 1', () => events.find((e) => e.kind === 'S2C_DIFFERENT_CONNECTION'));
    const closed = await until('the older connection closed', () => states.find((s) => s.state === 'closed'));
    assert.equal(closed.error?.code, 'connection.replaced');
    assert.equal(second.state, 'open');
  });

  test('logout through the balancer closes the session\'s connections on every node', T, async () => {
    const { t, pt } = await pair();
    const token = await t.login(pt.id, { platform: 'web' });
    const on = [0, 1, 2].map((i) => c.pinned(node(i), token));
    const states = on.map((cl) => record(cl, 'state'));
    await Promise.all(on.map((cl) => cl.connect()));
    const r = await t.call('POST', '/api/v2/users/logout', { token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    for (const [i, s] of states.entries()) {
      const closed = await until(`node ${i + 1}: closed`, () => s.find((x) => x.state === 'closed'));
      assert.equal(closed.error?.code, 'auth.token_revoked', `node ${i + 1}`);
    }
  });
});
