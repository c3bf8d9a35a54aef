/**
 * The front desk across nodes: two `careline start` processes on one PostgreSQL and one Redis.
 * Two staff members claim the same chat at once from two nodes (one wins, the other gets
 * desk.already_claimed); a visit tracked on one node reaches staff polling on the other; the
 * visitor's heartbeat on one node shows it online on the other; an SLA escalation happens once
 * although both nodes run SLA checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCluster, type ClusterTenant, type TestCluster } from '../support/cluster.ts';

let c: TestCluster;
let t: ClusterTenant;
let key: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<V>(what: string, f: () => Promise<V | undefined | false | null>, timeoutMs = 15_000): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

before(async () => {
  c = await startCluster({
    nodes: 2,
    env: { CARELINE_DESK_POLL_MS: '100', CARELINE_DESK_VISITORS_PER_IP: '10000', CARELINE_DESK_VISITORS_PER_FINGERPRINT: '10000', CARELINE_WS_HEARTBEAT_MS: '2000' },
  });
  await c.waitBalanced();
  t = await c.tenant();
  const k = await t.call('POST', '/api/desk/widget-keys', { body: { name: 'site' } });
  assert.equal(k.status, 200, JSON.stringify(k.body));
  key = k.body.key;
}, { timeout: 120_000 });
after(async () => {
  await c?.stop();
}, { timeout: 60_000 });

async function newVisitor(base: string): Promise<{ uid: string; token: string; version: string }> {
  const r = await t.call('GET', `/api/state/init?fp=fp-${Math.random().toString(36).slice(2)}`, { apiKey: null, headers: { 'x-desk-key': key }, base });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { uid: r.body.uid, token: r.body.token, version: r.body.state.version };
}

async function ask(base: string, v: { uid: string; token: string }): Promise<string> {
  const r = await t.call('POST', '/api/message', { token: v.token, base, body: { cid: t.tenantId, type: 'request_chat', from: { id: v.uid, role: 'user' }, event: { uids: [v.uid] } } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.chat.id;
}

describe('front desk across nodes', { timeout: 120_000 }, () => {
  it('two staff members claiming one chat at once from two nodes: exactly one wins, the other gets desk.already_claimed', async () => {
    const [n0, n1] = c.nodes.map((n) => n.url) as [string, string];
    const a = await t.user('desk-a', 'staff');
    const b = await t.user('desk-b', 'staff');
    const wins = { 'desk-a': 0, 'desk-b': 0 } as Record<string, number>;
    for (let i = 0; i < 8; i++) {
      const v = await newVisitor(i % 2 ? n0 : n1);
      const chatId = await ask(i % 2 ? n1 : n0, v);
      const [ra, rb] = await Promise.all([
        t.call('POST', `/api/desk/chats/${chatId}/claim`, { token: a.token, base: n0 }),
        t.call('POST', '/api/message', { token: b.token, base: n1, body: { cid: t.tenantId, type: 'join_chat', from: { id: 'desk-b', role: 'staff' }, event: { chat: { id: chatId } } } }),
      ]);
      const statuses = [ra.status, rb.status].sort();
      assert.deepEqual(statuses, [200, 409], JSON.stringify([ra.body, rb.body]));
      const loser = ra.status === 409 ? ra : rb;
      const winner = ra.status === 200 ? 'desk-a' : 'desk-b';
      assert.equal(loser.body.code, 'desk.already_claimed');
      assert.equal(loser.body.details.staff_id, winner);
      wins[winner]!++;
      const chat = await t.call('GET', `/api/desk/chats/${chatId}`, { token: a.token, base: n1 });
      assert.equal(chat.body.chat.staff_id, winner);
      const parts = (await t.call('GET', `/api/v2/sessions/${chatId}/participants`, {})).body.participants.map((p: any) => p.user_id);
      assert.deepEqual(parts.sort(), [v.uid, winner].sort(), 'only the winner joined the conversation');
      await t.call('POST', `/api/desk/chats/${chatId}/close`, { token: winner === 'desk-a' ? a.token : b.token, body: { outcome: 'resolved' }, base: n0 });
    }
    assert.equal(wins['desk-a']! + wins['desk-b']!, 8);
  });

  it('a visit tracked on one node tells staff polling on the other; the heartbeat on one node shows the visitor online on the other', async () => {
    const [n0, n1] = c.nodes.map((n) => n.url) as [string, string];
    const staff = await t.user('desk-c', 'staff');
    const init = await t.call('GET', '/api/state/init', { token: staff.token, base: n1 });
    const v = await newVisitor(n0);
    const pull = t.call('GET', `/pull?timeout=10000&version=${init.body.state.version}`, { token: staff.token, base: n1 });
    await sleep(300);
    await t.call('GET', '/api/ping', { token: v.token, base: n0 });
    const tr = await t.call('POST', '/api/user/track', { token: v.token, base: n0, body: { uid: v.uid, cid: t.tenantId, url: 'https://clinic.example/hours', title: 'Opening hours' } });
    assert.equal(tr.status, 200);
    const r = await pull;
    assert.equal(r.status, 200);
    assert.ok(r.body.data.some((d: any) => d.type === 'users_changed' && d.event.uids.includes(v.uid)), JSON.stringify(r.body.data));
    const online = await until('visitor online on the other node', async () => {
      const o = await t.call('GET', '/api/users/online', { token: staff.token, base: n1 });
      return o.body.data?.find((x: any) => x.uid === v.uid);
    });
    assert.equal(online.url, 'https://clinic.example/hours');
    // A chat message on one node reaches the visitor polling on the other.
    const chatId = await ask(n0, v);
    await t.call('POST', `/api/desk/chats/${chatId}/claim`, { token: staff.token, base: n1 });
    const vInit = await t.call('GET', '/api/state/init', { token: v.token, base: n1 });
    const vPull = t.call('GET', `/pull?timeout=10000&version=${vInit.body.state.version}`, { token: v.token, base: n1 });
    await sleep(300);
    await t.call('POST', '/api/message', { token: staff.token, base: n0, body: { cid: t.tenantId, type: 'text', from: { id: 'desk-c', role: 'staff' }, chat: { id: chatId }, text: 'Open until 18:00.' } });
    const got = await vPull;
    assert.ok(got.body.data.some((d: any) => d.type === 'text' && d.text === 'Open until 18:00.'), JSON.stringify(got.body.data));
    await t.call('POST', `/api/desk/chats/${chatId}/close`, { token: staff.token, body: { outcome: 'resolved' }, base: n0 });
  });

  it('escalates an unclaimed chat once although both nodes run SLA checks', async () => {
    const [n0] = c.nodes.map((n) => n.url) as [string, string];
    const lead = await t.user('desk-lead', 'staff');
    const sla = await t.call('PUT', '/api/desk/sla', { body: { sla_seconds: 1, lead_id: 'desk-lead' } });
    assert.equal(sla.status, 200, JSON.stringify(sla.body));
    const v = await newVisitor(n0);
    const chatId = await ask(n0, v);
    await until('the lead notified', async () => {
      const r = await t.call('GET', '/api/v2/notifications', { token: lead.token });
      return (r.body.notifications ?? []).some((n: any) => n.kind === 'DESK_ESCALATED' && n.data.chat_id === chatId);
    });
    await sleep(1500);
    const r = await t.call('GET', '/api/v2/notifications', { token: lead.token });
    assert.equal(r.body.notifications.filter((n: any) => n.kind === 'DESK_ESCALATED' && n.data.chat_id === chatId).length, 1);
  });
});
