/**
 * Presence across nodes through the real-time layer: two `Realtime` nodes over one storage,
 * each with its own Redis bus, Redis presence store and Redis node registry (one Redis).
 * A user who connects on node B is seen online by a watcher on node A; a user who connects and
 * disconnects quickly is seen online then offline, in that order, every time; and when node B
 * dies without counting anyone out, node A's watcher sees its users go offline after the TTL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RedisBus } from '../../src/bus/bus-redis.ts';
import type { Core } from '../../src/core.ts';
import { Metrics } from '../../src/ops/metrics.ts';
import { RedisPresence } from '../../src/presence/redis.ts';
import { RedisNodeRegistry } from '../../src/presence/registry-redis.ts';
import { Realtime } from '../../src/realtime/realtime.ts';
import { MemoryTransport } from '../support/memory-transport.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startRedis, type Service } from '../support/services.ts';
import { sleep, type Frame } from '../support/ws-client.ts';

interface Node {
  realtime: Realtime;
  bus: RedisBus;
  presence: RedisPresence;
  registry: RedisNodeRegistry;
}

describe('presence across nodes (Redis bus, presence and registry)', { timeout: 60_000 }, () => {
  let s: TestServer;
  let redis: Service;
  const tok: Record<string, string> = {};
  const nodes: Node[] = [];
  const errors: unknown[] = [];
  const TTL = 3; // seconds: short for the test, long enough that a loaded machine does not take a live node for dead

  const node = (name: string): Node => {
    const bus = new RedisBus({ url: redis.url, nodeId: name });
    const presence = new RedisPresence({ url: redis.url, nodeId: name, ttlSeconds: TTL });
    const registry = new RedisNodeRegistry({ url: redis.url, address: `http://${name}:8080`, ttlSeconds: TTL });
    const core: Core = { ...s.server.core, bus, presence };
    const realtime = new Realtime({ core, metrics: new Metrics(), registry, log: { warn: () => {}, error: (obj) => errors.push(obj) } });
    const n = { realtime, bus, presence, registry };
    nodes.push(n);
    return n;
  };

  const open = async (n: Node, user: string) => {
    const t = new MemoryTransport();
    const auth = await s.server.core.auth.authenticate(tok[user]!);
    t.conn = n.realtime.open(t, auth, { holdUntilSync: false });
    await t.next((f) => f.type === 'hello');
    return t;
  };
  const presenceOf = (t: MemoryTransport, user: string) => t.frames.filter((f: Frame) => f.type === 'presence' && f.user_id === user && f.id === undefined);

  before(async () => {
    s = await startTestServer();
    redis = await startRedis();
    for (const id of ['pat', 'doc', 'nurse']) tok[id] = (await s.user(id, id === 'pat' ? 'patient' : 'doctor')).token;
  }, { timeout: 30_000 });
  after(async () => {
    for (const n of nodes) {
      n.realtime.shutdown();
      await n.realtime.settled();
      await n.bus.close();
      await n.presence.close();
      await n.registry.close();
    }
    await redis.stop();
    await s.stop();
  });

  it('online and offline cross nodes, in order, however quickly a user comes and goes; the node holding the user is findable', async () => {
    const a = node('node-a'), b = node('node-b');
    await Promise.all([a.presence.refresh(), b.presence.refresh(), a.registry.heartbeat(), b.registry.heartbeat()]);
    const doc = await open(a, 'doc');
    doc.input(JSON.stringify({ type: 'presence', id: 'w1', subscribe: ['pat'] }));
    const first = await doc.next((f) => f.type === 'presence' && f.id === 'w1');
    assert.equal(first.online, false);
    await sleep(100); // the watch is in place, and both buses are subscribed (each confirmed its subscription at startup)

    const pat = await open(b, 'pat');
    await doc.next((f) => f.type === 'presence' && f.user_id === 'pat' && f.online === true && f.id === undefined, 10_000);
    await b.realtime.settled();
    assert.equal(await a.registry.lookup(s.tenantId, 'pat'), 'http://node-b:8080');
    pat.terminate();
    await doc.next((f) => f.type === 'presence' && f.user_id === 'pat' && f.online === false, 10_000);

    // Quick comings and goings on node B: A's watcher sees on, off, on, off… never out of order.
    const ROUNDS = 10;
    for (let i = 0; i < ROUNDS; i++) (await open(b, 'pat')).terminate();
    await b.realtime.settled();
    const end = Date.now() + 10_000;
    while (presenceOf(doc, 'pat').length < 2 * (ROUNDS + 1) && Date.now() < end) await sleep(20);
    const seen = presenceOf(doc, 'pat').map((f) => f.online);
    assert.equal(seen.length, 2 * (ROUNDS + 1), JSON.stringify(seen));
    seen.forEach((online, i) => assert.equal(online, i % 2 === 0, `event ${i}: ${JSON.stringify(seen)}`));
    assert.equal((await a.presence.status(s.tenantId, 'pat')).online, false);
    assert.equal(await a.registry.lookup(s.tenantId, 'pat'), null);
    assert.deepEqual(errors, []);
  });

  it('a node that dies without counting anyone out: its users go offline after the TTL, and watchers on other nodes are told', async () => {
    const a = nodes[0]!;
    const c = node('node-c');
    await Promise.all([c.presence.refresh(), c.registry.heartbeat()]);
    const doc = await open(a, 'doc');
    doc.input(JSON.stringify({ type: 'presence', id: 'w2', subscribe: ['nurse'] }));
    await doc.next((f) => f.type === 'presence' && f.id === 'w2');
    await sleep(100);
    await open(c, 'nurse');
    await doc.next((f) => f.type === 'presence' && f.user_id === 'nurse' && f.online === true && f.id === undefined, 10_000);
    await c.realtime.settled();
    assert.equal(await a.registry.lookup(s.tenantId, 'nurse'), 'http://node-c:8080');
    // Node C dies: its stores stop (no refresh, no heartbeat), nothing is counted out.
    const diedAt = Date.now();
    await c.presence.close();
    await c.registry.close();
    await c.bus.close();
    const off = await doc.next((f) => f.type === 'presence' && f.user_id === 'nurse' && f.online === false && f.id === undefined, 15_000);
    assert.ok(off.last_seen !== null && off.last_seen <= diedAt, 'last seen: the dead node\'s last heartbeat');
    assert.equal((await a.presence.status(s.tenantId, 'nurse')).online, false);
    assert.equal(await a.registry.lookup(s.tenantId, 'nurse'), null);
    assert.deepEqual((await a.registry.nodes()).map((n) => n.address).sort(), ['http://node-a:8080', 'http://node-b:8080']);
    nodes.splice(nodes.indexOf(c), 1);
    c.realtime.terminateAll();
    c.realtime.shutdown();
  });
});
