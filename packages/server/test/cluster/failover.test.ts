/**
 * Failures in a running cluster (three `careline start` processes on one PostgreSQL and one
 * Redis, behind HAProxy), each while SDK clients send without pause through the balancer:
 *
 *  - `kill -9` of a node: its clients reconnect through the balancer to a live node, and the
 *    storm ends with 0 acked messages lost, 0 duplicated, 0 seq gaps (read back from history)
 *    and every message received once; the dead node's users go offline for watchers on other
 *    nodes by the presence TTL;
 *  - Redis restarted: nodes keep serving their own clients while it is gone, reconnect, and
 *    clients that missed cross-node events recover by catch-up;
 *  - PostgreSQL restarted: writes fail with `server.unavailable` and /readyz is 503 while it is
 *    gone, and everything recovers without restarting a node.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startCluster, type ClusterNode, type TestCluster } from '../support/cluster.ts';
import { storm, type StormResult } from '../support/storm.ts';

const TTL_SECONDS = 3;
const T = { timeout: 180_000 };

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 3, env: { CARELINE_PRESENCE_TTL_SECONDS: String(TTL_SECONDS) } });
  await c.waitBalanced();
}, { timeout: 120_000 });
after(async () => {
  await c?.stop();
}, { timeout: 60_000 });
// A test that failed half-way may leave a node down: the next one starts with all of them up.
afterEach(async () => {
  for (const n of c?.nodes ?? []) if (!n.running()) await n.restart();
  await c?.waitBalanced();
}, { timeout: 90_000 });

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

async function readyz(n: ClusterNode): Promise<number> {
  try {
    const res = await fetch(`${n.url}/readyz`, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Waits until a node's /readyz answers `status`; the timeout names the last answer (0: none within 3 s). */
async function untilStatus(n: ClusterNode, status: number, timeoutMs: number): Promise<void> {
  let last = -1;
  try {
    await until(`${n.name} /readyz ${status}`, async () => (last = await readyz(n)) === status, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message} (last answer: ${last})\n${n.log().slice(-3000)}`);
  }
}

/** Every node still runs, as the same process: none died or was restarted (a dead one's log in the message). */
function assertAllUp(pids: number[]): void {
  for (const [i, n] of c.nodes.entries()) {
    assert.ok(n.running(), `${n.name} died:\n${n.log().slice(-3000)}`);
    assert.equal(n.pid, pids[i], `${n.name} was not restarted`);
  }
}

/** The storm's invariants: nothing acked lost, nothing stored twice, no gap, each message received once. */
function assertClean(r: StormResult): void {
  const m = r.summary;
  assert.ok(r.acked > 0, `messages were acked: ${m}`);
  assert.equal(r.lost, 0, `acked and lost: ${m}`);
  assert.equal(r.duplicated, 0, `stored twice: ${m}`);
  assert.equal(r.gaps, 0, `seq gaps: ${m}`);
  assert.equal(r.storedNotAcked, 0, `stored but never acked: ${m}`);
  assert.equal(r.failedSends, 0, `sends given up: ${m}`);
  assert.equal(r.deliveryDuplicated, 0, `received twice: ${m}`);
  assert.equal(r.deliveryMissed, 0, `never received: ${m}`);
  assert.equal(r.acked, r.stored, `every stored message is an acked one: ${m}`);
}

describe('a node killed with SIGKILL', () => {
  test('SDK clients sending through the balancer reconnect to a live node: 0 acked lost, 0 duplicated, 0 seq gaps', T, async (ctx) => {
    const victim = c.nodes[1]!;
    let live: string[] = [];
    const r = await storm(c, {
      action: async () => {
        await victim.kill9();
        // The balancer takes it out (health checks on /readyz) while the clients reconnect.
        await until('the balancer marks the node DOWN', async () => (await c.balancer.serverStates())[victim.name] === 'DOWN');
        live = c.nodes.filter((n) => n.running()).map((n) => n.name);
      },
    });
    ctx.diagnostic(r.summary);
    assertClean(r);
    assert.deepEqual(live, ['node-1', 'node-3']);
    assert.ok(r.reconnects > 0, `the dead node's clients reconnected: ${r.summary}`);
    assert.ok(r.ackedDuringAction > 0, `sends went on while the node was dying: ${r.summary}`);
    await victim.restart();
    await c.waitBalanced();
  });

  test('the dead node\'s users go offline for watchers on other nodes within the presence TTL', T, async () => {
    const t = await c.tenant();
    const dr = await t.user('dr', 'doctor');
    const pt = await t.user('pt', 'patient');
    const victim = c.nodes[2]!;
    const watcher = c.pinned(c.nodes[0]!, dr.token);
    const seen: { user_id: string; online: boolean }[] = [];
    watcher.on('presence', (p) => seen.push(p));
    await watcher.connect();
    watcher.subscribePresence([pt.id]);
    const patient = c.pinned(victim, pt.token, { reconnect: { baseMs: 60_000, maxMs: 60_000 } });
    await patient.connect();
    await until('online', () => seen.find((p) => p.user_id === pt.id && p.online));
    const from = seen.length; // (a watch may begin with the user's state before: offline)
    await victim.kill9();
    const killedAt = Date.now();
    await until('offline after the node died', () => seen.slice(from).find((p) => p.user_id === pt.id && !p.online), 3 * TTL_SECONDS * 1000 + 5000);
    assert.ok(Date.now() - killedAt <= 3 * TTL_SECONDS * 1000 + 5000);
    const status = await t.call('GET', `/api/v2/users/${pt.id}/status`, { token: dr.token });
    assert.equal(status.status, 200, JSON.stringify(status.body));
    assert.equal(status.body.online, false);
    await patient.close();
    await victim.restart();
    await c.waitBalanced();
  });
});

describe('Redis restarted mid-traffic', () => {
  test('nodes serve their own clients while it is gone; afterwards nothing is lost, doubled or missed', T, async (ctx) => {
    // Two users on one node: their conversation needs no Redis.
    const t = await c.tenant();
    const a = await t.user('a', 'doctor');
    const b = await t.user('b', 'patient');
    const conv = await t.conversation({ participants: [a.id, b.id] });
    const ca = c.pinned(c.nodes[0]!, a.token);
    const cb = c.pinned(c.nodes[0]!, b.token);
    const got: string[] = [];
    cb.on('message', (m) => got.push(String((m.content as { text?: string }).text)));
    await Promise.all([ca.connect(), cb.connect()]);
    const pids = c.nodes.map((n) => n.pid);

    const r = await storm(c, {
      action: () => c.redis!.restart({
        whileDown: async () => {
          const ack = await ca.send(conv, { type: 1, content: { text: 'while Redis is down' } });
          assert.equal(ack.seq, 1);
          await until('delivered on the same node without Redis', () => got.includes('while Redis is down'), 10_000);
          await sleep(1000);
        },
      }),
    });
    ctx.diagnostic(r.summary);
    assertClean(r);
    assertAllUp(pids);
  });
});

describe('PostgreSQL restarted mid-traffic', () => {
  test('writes fail with server.unavailable and /readyz is 503 while it is gone; everything recovers without a node restart', T, async (ctx) => {
    const t = await c.tenant();
    const a = await t.user('a', 'doctor');
    const b = await t.user('b', 'patient');
    const conv = await t.conversation({ participants: [a.id, b.id] });
    const pids = c.nodes.map((n) => n.pid);
    const codes: string[] = [];

    const r = await storm(c, {
      action: () => c.pg!.restart({
        whileDown: async () => {
          for (const n of c.nodes) await untilStatus(n, 503, 15_000);
          // A write straight to a node (the balancer has no ready node to send it to).
          const w = await t.call('POST', `/api/v2/sessions/${conv}/messages`, { base: c.nodes[0]!.url, body: { type: 1, content: { text: 'no database' }, sender_id: a.id } });
          assert.equal(w.status, 503, JSON.stringify(w.body));
          codes.push(w.body.code);
          await sleep(1000);
        },
      }),
    });
    assert.deepEqual(codes, ['server.unavailable']);
    for (const n of c.nodes) await untilStatus(n, 200, 30_000);
    ctx.diagnostic(r.summary);
    assertClean(r);
    assertAllUp(pids);
    const w = await t.call('POST', `/api/v2/sessions/${conv}/messages`, { body: { type: 1, content: { text: 'database back' }, sender_id: a.id } });
    assert.equal(w.status, 200, JSON.stringify(w.body));
    assert.equal(w.body.message.seq, 1, 'the refused write stored nothing');
  });
});
