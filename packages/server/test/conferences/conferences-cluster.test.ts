/**
 * Conferences on a cluster: three `careline start` processes on one PostgreSQL and one Redis
 * (behind HAProxy), one Janus for all (started here from Debian's package).
 *
 *  - pages (conference sockets) on two nodes, the action on the third: every page gets it;
 *  - the end of time with three nodes running: each conference ends once (one `time`
 *    transition, made by one node), its room is destroyed; a node killed (`kill -9`) mid-way
 *    leaves the rest to the others.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startCluster, type ClusterTenant, type TestCluster } from '../support/cluster.ts';
import { startJanus, type JanusService } from '../support/janus.ts';
import { JanusClient } from '../../src/conferences/janus.ts';

const T = { timeout: 120_000 };
let c: TestCluster;
let t: ClusterTenant;
let janus: JanusService;
let media: JanusClient;
const sockets: WebSocket[] = [];

before(async () => {
  janus = await startJanus();
  media = new JanusClient({ url: janus.httpUrl, apiSecret: janus.apiSecret, adminUrl: janus.adminUrl, adminSecret: janus.adminSecret, timeoutMs: 5000 });
  c = await startCluster({
    nodes: 3,
    env: {
      CARELINE_CONFERENCES_JANUS_URL: janus.httpUrl, CARELINE_CONFERENCES_JANUS_API_SECRET: janus.apiSecret,
      CARELINE_CONFERENCES_JANUS_ADMIN_URL: janus.adminUrl, CARELINE_CONFERENCES_JANUS_ADMIN_SECRET: janus.adminSecret,
      CARELINE_CONFERENCES_POLL_MS: '100', CARELINE_CONFERENCES_LEASE_MS: '3000',
    },
  });
  await c.waitBalanced();
  t = await c.tenant();
}, { timeout: 120_000 });
after(async () => {
  for (const s of sockets) s.terminate();
  await c?.stop();
  await janus?.stop();
}, { timeout: 60_000 });

async function until<V>(what: string, f: () => V | undefined | false | null | Promise<V | undefined | false | null>, timeoutMs = 20_000): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function create(durationSeconds: number, base?: string): Promise<{ id: string; doc: string; pat: string }> {
  const r = await t.call('POST', '/api/v2/conferences', {
    ...(base ? { base } : {}),
    body: {
      user_id: 'doc', user_role: 'specialist',
      info: {
        title: 'Visit', starts_at: Date.now(), duration_seconds: durationSeconds, vertical: 'medicine', language: 'en',
        participants: [{ user_id: 'doc', name: 'Doctor', role: 'specialist' }, { user_id: 'pat', name: 'Patient', role: 'client' }],
      },
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const tok = (u: string) => r.body.participants.find((p: any) => p.user_id === u).access_token;
  return { id: r.body.conference.id, doc: tok('doc'), pat: tok('pat') };
}

async function access(base: string, accessToken: string, action: string) {
  const x = await t.call('POST', '/api/v2/conference-access/exchange', { base, apiKey: null, body: { access_token: accessToken } });
  assert.equal(x.status, 200, JSON.stringify(x.body));
  const r = await t.call('POST', `/api/v2/conference-access/${action}`, { base, token: x.body.conference_token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

function page(nodeUrl: string, accessToken: string): { frames: any[] } {
  const frames: any[] = [];
  const ws = new WebSocket(`${nodeUrl.replace(/^http/, 'ws')}/api/v2/conference-access/ws?access_token=${accessToken}`);
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  ws.on('error', () => {});
  sockets.push(ws);
  return { frames };
}

describe('conferences across nodes', () => {
  test('pages on two nodes get the changes made on the third', T, async () => {
    const [n1, n2, n3] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]];
    const conf = await create(600, n3!.url);
    const p1 = page(n1!.url, conf.pat);
    const p2 = page(n2!.url, conf.doc);
    await until('both hellos', () => p1.frames.some((f) => f.type === 'conference.hello') && p2.frames.some((f) => f.type === 'conference.hello'));
    await access(n3!.url, conf.doc, 'open');
    await access(n3!.url, conf.pat, 'join');
    await t.call('POST', `/api/v2/conferences/${conf.id}/finish`, { base: n3!.url });
    for (const p of [p1, p2]) {
      await until('the finish on the page', () => p.frames.some((f) => f.type === 'conference.status' && f.status === 'finished'));
      assert.deepEqual(p.frames.filter((f) => f.type === 'conference.status').map((f) => f.status), ['open', 'started', 'finished']);
    }
  });

  test('the end of time: each conference ends once, by one node, even with a node killed mid-way', T, async () => {
    const n = 6;
    const confs: { id: string; room: number }[] = [];
    for (let i = 0; i < n; i++) {
      const node = c.nodes[i % 3]!;
      const conf = await create(600, node.url);
      await access(node.url, conf.doc, 'open');
      const joined = await access(node.url, conf.pat, 'join');
      confs.push({ id: conf.id, room: joined.media.room });
    }
    // Then their ends are moved close, one second apart (each PATCH moves its end-of-time job).
    const t0 = Date.now();
    for (const [i, x] of confs.entries()) {
      const cur = (await t.call('GET', `/api/v2/conferences/${x.id}`)).body.conference;
      const r = await t.call('PATCH', `/api/v2/conferences/${x.id}`, { base: c.nodes[i % 3]!.url, body: { duration_seconds: Math.ceil((t0 + 3000 + i * 1000 - cur.starts_at) / 1000) } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const watcher = page(c.nodes[1]!.url, (await create(600)).doc);
    for (const x of confs) assert.equal(await media.roomExists(x.room), true);
    // A node dies while conferences are still to end.
    await until('the first conference over', async () => (await t.call('GET', `/api/v2/conferences/${confs[0]!.id}`, { base: c.nodes[1]!.url })).body.conference.status === 'finished');
    await c.nodes[0]!.kill9();
    const survivors = new Set([c.nodes[1]!.name, c.nodes[2]!.name]);
    for (const x of confs) {
      const conf = await until(`${x.id} finished`, async () => {
        const r = await t.call('GET', `/api/v2/conferences/${x.id}`, { base: c.nodes[2]!.url });
        return r.body.conference?.status === 'finished' ? r.body.conference : null;
      }, 30_000);
      assert.equal(conf.end_reason, 'time');
      const tr = (await t.call('GET', `/api/v2/conferences/${x.id}/transitions`, { base: c.nodes[2]!.url })).body.transitions;
      const ends = tr.filter((y: any) => y.to === 'finished');
      assert.equal(ends.length, 1, `one end for ${x.id}: ${JSON.stringify(tr)}`);
      assert.equal(ends[0].by, 'system');
      assert.ok(c.nodes.some((node) => node.name === ends[0].node), ends[0].node);
      await until(`room of ${x.id} destroyed`, async () => !(await media.roomExists(x.room)));
    }
    // Ended after the kill: by a node still running.
    const late = await t.call('GET', `/api/v2/conferences/${confs.at(-1)!.id}/transitions`, { base: c.nodes[1]!.url });
    assert.ok(survivors.has(late.body.transitions.at(-1).node));
    assert.ok(watcher.frames.some((f) => f.type === 'conference.hello'));
  });
});
