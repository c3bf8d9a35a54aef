/**
 * The load balancer of the cluster (HAProxy, config from scripts/lib/services.ts), on its own:
 * three real `careline start` processes, each on its own SQLite file (they share nothing, so
 * this checks the balancer, not the cluster): the config is valid, HTTP requests are spread
 * over the nodes, WebSockets upgrade through it and carry frames both ways, a node killed
 * with SIGKILL is taken out by the health checks on /readyz (and requests meanwhile go to the
 * others), and it is taken back once it is restarted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startCluster, type TestCluster } from '../support/cluster.ts';
import { locateHaproxy } from '../support/services.ts';
import { haproxyConfig } from '../../../../scripts/lib/services.ts';

const T = { timeout: 60_000 };

test('the generated HAProxy config is valid (haproxy -c)', T, () => {
  const dir = mkdtempSync(join(tmpdir(), 'careline-haproxy-check-'));
  try {
    const file = join(dir, 'haproxy.cfg');
    const config = haproxyConfig({ port: 8080, servers: [1, 2, 3].map((i) => ({ name: `node-${i}`, port: 4000 + i })), statsSocket: join(dir, 'stats.sock') });
    writeFileSync(file, config);
    const out = execFileSync(locateHaproxy(), ['-c', '-f', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /Configuration file is valid/);
    // What the cluster relies on is in it.
    for (const line of ['mode http', 'timeout tunnel 1h', 'option redispatch', 'retries 3', 'balance leastconn', 'http-check send meth GET uri /readyz', 'http-check expect status 200', 'bind 127.0.0.1:8080',
      'use_backend careline_polls if long_poll', 'balance url_param client']) {
      assert.ok(config.includes(line), `config has "${line}"`);
    }
    // The three nodes in each backend (WebSockets and REST; long-polls).
    assert.equal(config.match(/^ {4}server node-\d 127\.0\.0\.1:400\d check$/gm)?.length, 6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Which node answers a request through the balancer (its service id). */
async function answeredBy(url: string): Promise<string> {
  const res = await fetch(`${url}/monitor/api/ping`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { service_id: string }).service_id;
}

/** Opens a WebSocket and collects its frames until it closes. */
function open(url: string): Promise<{ ws: WebSocket; frames: any[]; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const frames: any[] = [];
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString())));
    ws.once('open', () => resolve({ ws, frames, closed }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

async function until<T>(what: string, f: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('HAProxy in front of three nodes (each on its own SQLite file)', () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster({ nodes: 3, backend: 'sqlite' });
    await c.waitBalanced();
  }, { timeout: 90_000 });
  after(async () => {
    await c?.stop();
  }, { timeout: 60_000 });

  test('HTTP requests through the balancer are spread over the three nodes', T, async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const id = await answeredBy(c.url);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['node-1', 'node-2', 'node-3']);
  });

  test('a WebSocket upgrades through the balancer and carries frames both ways', T, async () => {
    // The nodes share no database: a user is made on each node, and a connection is good on
    // the node whose login its token is (the others refuse it after the upgrade, with an error frame).
    const tokens: string[] = [];
    const convs: string[] = [];
    const tenantId = `t${Math.random().toString(36).slice(2, 10)}`;
    for (const n of c.nodes) {
      const admin = { 'x-admin-token': c.adminToken, 'content-type': 'application/json' };
      const post = async (path: string, body: unknown, headers: Record<string, string>, method = 'POST') => {
        const res = await fetch(n.url + path, { method, headers, body: JSON.stringify(body) });
        const json = (await res.json()) as any;
        assert.equal(res.status, 200, JSON.stringify(json));
        return json;
      };
      await post('/api/v2/admin/tenants', { id: tenantId, name: 'Balancer clinic' }, admin);
      const { api_key } = await post(`/api/v2/admin/tenants/${tenantId}/apps`, { name: 'tests' }, admin);
      const key = { 'x-api-key': api_key, 'content-type': 'application/json' };
      for (const u of ['pt-1', 'dr-1']) await post(`/api/v2/management/users/${u}`, { role: u.startsWith('pt') ? 'patient' : 'doctor', name: u }, key, 'PUT');
      tokens.push((await post('/api/v2/users/login', { user_id: 'pt-1' }, key)).token);
      convs.push((await post('/api/v2/sessions', { session_type: 2, participants: ['pt-1', 'dr-1'] }, key)).session.id);
    }
    const ws = c.url.replace(/^http/, 'ws') + '/ws';

    // Without a token: the upgrade passes through, the node answers with an error frame and a close code.
    const anon = await open(ws);
    const code = await anon.closed;
    assert.equal(anon.frames[0]?.type, 'error');
    assert.equal(anon.frames[0]?.code, 'auth.missing');
    assert.ok(code >= 4000, `closed with an application code: ${code}`);

    // With a token: one of at most 12 attempts lands on the token's node, gets hello, sends and is acked.
    // (Each token is tried three times in a row: the balancer turns through the nodes in threes too.)
    let acked: any;
    const firsts: string[] = [];
    for (let attempt = 0; attempt < 12 && !acked; attempt++) {
      const k = Math.floor(attempt / 3) % 3;
      const conn = await open(`${ws}?token=${tokens[k]}`);
      const first = await until('a first frame', () => conn.frames[0]);
      firsts.push(`${first.type}${first.code ? ` ${first.code}` : ''}`);
      if (first.type !== 'hello') {
        await conn.closed;
        continue;
      }
      conn.ws.send(JSON.stringify({ type: 'send', id: 'r1', conversation_id: convs[k], message: { client_id: `c-${attempt}`, type: 1, content: { text: 'through the balancer' } } }));
      acked = await until('the ack', () => conn.frames.find((f) => f.type === 'ack' && f.id === 'r1'));
      conn.ws.close();
      await conn.closed;
    }
    assert.ok(acked, `a connection reached its node within 12 attempts: ${firsts.join(', ')}`);
    assert.equal(acked.seq, 1);
  });

  test('one long-poll client\'s requests go to one node (by its client=), different clients to different nodes', T, async () => {
    // A login on node-1 only (the nodes share no database): a poll with its token is answered
    // 200 on node-1 and refused on the others, which shows which node answered.
    const n = c.nodes[0]!;
    const tenantId = `t${Math.random().toString(36).slice(2, 10)}`;
    const call = async (path: string, body: unknown, headers: Record<string, string>, method = 'POST') => {
      const res = await fetch(n.url + path, { method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = (await res.json()) as any;
      assert.equal(res.status, 200, JSON.stringify(json));
      return json;
    };
    await call('/api/v2/admin/tenants', { id: tenantId, name: 'Sticky clinic' }, { 'x-admin-token': c.adminToken });
    const { api_key } = await call(`/api/v2/admin/tenants/${tenantId}/apps`, { name: 'tests' }, { 'x-admin-token': c.adminToken });
    await call('/api/v2/management/users/pt-1', { role: 'patient', name: 'pt-1' }, { 'x-api-key': api_key }, 'PUT');
    const { token } = await call('/api/v2/users/login', { user_id: 'pt-1' }, { 'x-api-key': api_key });
    const byClient = new Map<string, Set<number>>();
    for (let k = 0; k < 12; k++) {
      const client = `tab-${k}`;
      const statuses = new Set<number>();
      for (let i = 0; i < 4; i++) {
        const path = i % 2 === 0 ? `/api/v2/poll?timeout=0&notifications=0&client=${client}` : `/api/v2/poll/send?client=${client}`;
        const res = await fetch(c.url + path, {
          method: i % 2 === 0 ? 'GET' : 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          ...(i % 2 === 0 ? {} : { body: JSON.stringify([{ type: 'ping', id: 'p' }]) }), signal: AbortSignal.timeout(10_000),
        });
        await res.arrayBuffer();
        statuses.add(res.status);
      }
      byClient.set(client, statuses);
    }
    for (const [client, statuses] of byClient) assert.equal(statuses.size, 1, `${client}: every request on one node (${[...statuses]})`);
    const firsts = new Set([...byClient.values()].map((s) => [...s][0]));
    assert.deepEqual([...firsts].sort(), [200, 401], 'some clients on node-1, some on the others');
  });

  test('a node killed with SIGKILL is taken out by the health checks and taken back once restarted', { timeout: 90_000 }, async () => {
    const victim = c.nodes[1]!;
    const pid = victim.pid;
    await victim.kill9();
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the process is gone');

    // Right after the kill, before any check noticed: a request that hits the dead node is
    // retried on another one (retries, option redispatch).
    const during: string[] = [];
    for (let i = 0; i < 9; i++) during.push(await answeredBy(c.url));
    assert.ok(!during.includes(victim.name), `no answer from the dead node: ${during.join(' ')}`);

    const states = await until('node-2 DOWN', async () => {
      const s = await c.balancer.serverStates();
      return s[victim.name] === 'DOWN' && s;
    }, 15_000);
    assert.equal(states['node-1'], 'UP');
    assert.equal(states['node-3'], 'UP');
    const afterDown = new Set<string>();
    for (let i = 0; i < 12; i++) afterDown.add(await answeredBy(c.url));
    assert.deepEqual([...afterDown].sort(), ['node-1', 'node-3']);

    await victim.restart();
    await c.waitBalanced(15_000);
    const back = new Set<string>();
    for (let i = 0; i < 30 && back.size < 3; i++) back.add(await answeredBy(c.url));
    assert.deepEqual([...back].sort(), ['node-1', 'node-2', 'node-3']);
  });
});
