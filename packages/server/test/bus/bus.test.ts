/** The EventBus contract for the in-process bus and the Redis bus (a Redis started for the test). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../src/bus/bus-memory.ts';
import { Redis } from 'ioredis';
import { BUS_CHANNEL, RedisBus } from '../../src/bus/bus-redis.ts';
import { startRedis } from '../support/services.ts';
import { busContract, ev, until } from './bus-contract.ts';

busContract('MemoryBus', async () => {
  const bus = new MemoryBus();
  return { nodes: async (n) => Array.from({ length: n }, () => bus), close: () => bus.close() };
});

/** Buses on one Redis, each a node; resolves when each has confirmed its subscription. */
async function redisNodes(url: string, n: number, errors: unknown[]): Promise<RedisBus[]> {
  const buses = Array.from({ length: n }, (_, i) => new RedisBus({ url, nodeId: `node-${i}-${Math.random().toString(36).slice(2)}`, onError: (e) => errors.push(e) }));
  // Ready when each node hears an event of the next one.
  const seen = buses.map(() => false);
  const offs = buses.map((b, i) => b.subscribe((e) => { if (e.kind === 'settings.changed' && e.tenant_id === `ping-${(i + 1) % n}`) seen[i] = true; }));
  await until(() => {
    buses.forEach((b, i) => b.publish({ kind: 'settings.changed', tenant_id: `ping-${i}` }));
    return seen.every(Boolean);
  }, 10_000, 'the buses to connect');
  offs.forEach((off) => off());
  // And each has settled (an event dropped before its publisher was up makes it resume once, now).
  await until(() => buses.every((b) => b.connected), 10_000, 'the buses to settle');
  return buses;
}

busContract('RedisBus', async () => {
  const redis = await startRedis();
  const buses: RedisBus[] = [];
  return {
    nodes: async (n) => {
      const made = n === 1 ? [new RedisBus({ url: redis.url, nodeId: 'solo' })] : await redisNodes(redis.url, n, []);
      buses.push(...made);
      return made;
    },
    restart: () => redis.restart(),
    close: async () => {
      for (const b of buses) await b.close();
      await redis.stop();
    },
  };
});

test('RedisBus: while Redis is away events to other nodes are dropped, counted and reported, not queued', { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const errors: unknown[] = [];
  const [a, b] = await redisNodes(redis.url, 2, errors);
  try {
    const gotB: string[] = [];
    b!.subscribe((e) => gotB.push(e.kind));
    let resumed = 0;
    b!.onResume(() => resumed++);
    await redis.stop();
    // Until the bus has seen the link go: then an event is dropped before publish returns.
    await until(() => {
      const before = a!.dropped;
      a!.publish(ev('A', 1));
      return a!.dropped === before + 1;
    }, 10_000, 'a drop');
    const dropped = a!.dropped;
    for (let i = 0; i < 100; i++) a!.publish(ev('A', i));
    assert.equal(a!.dropped, dropped + 100, 'every event during the outage is dropped, none kept');
    assert.ok(errors.some((e) => /dropped/.test(String((e as Error).message))), 'the drops are reported');
    assert.ok(errors.length < 20, `reported once per outage, not per event or retry (${errors.length})`);
    assert.equal(resumed, 0);
  } finally {
    await a!.close();
    await b!.close();
    await redis.stop();
  }
});

test('RedisBus: the events of one turn go out as one Redis message, in order; a single-event message (older nodes) is still read', { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const errors: unknown[] = [];
  const [a, b] = await redisNodes(redis.url, 2, errors);
  const raw = new Redis(redis.url);
  const old = new Redis(redis.url);
  try {
    const onChannel: string[] = [];
    raw.on('message', (_c: string, m: string) => onChannel.push(m));
    await raw.subscribe(BUS_CHANNEL);
    const gotB: number[] = [];
    b!.subscribe((e) => { if (e.kind === 'settings.changed' && e.tenant_id === 'turn') gotB.push(gotB.length); });
    const order: string[] = [];
    b!.subscribe((e) => { if (e.kind === 'settings.changed' && e.tenant_id.startsWith('t-')) order.push(e.tenant_id); });
    for (let i = 0; i < 200; i++) a!.publish({ kind: 'settings.changed', tenant_id: 'turn' });
    for (let i = 0; i < 5; i++) a!.publish({ kind: 'settings.changed', tenant_id: `t-${i}` });
    await until(() => gotB.length === 200 && order.length === 5, 10_000, 'the events on the other node');
    assert.deepEqual(order, ['t-0', 't-1', 't-2', 't-3', 't-4']);
    const messages = onChannel.filter((m) => m.includes('"turn"'));
    assert.equal(messages.length, 1, 'one Redis message for the turn');
    assert.equal((JSON.parse(messages[0]!) as { es: unknown[] }).es.length, 205);
    // A node of an earlier version publishes one event per message.
    await old.publish(BUS_CHANNEL, JSON.stringify({ n: 'old-node', e: { kind: 'settings.changed', tenant_id: 't-old' } }));
    await until(() => order.includes('t-old'), 10_000, 'the older shape');
    assert.ok(!errors.some((e) => /unreadable/.test(String(e))), 'every message on the channel was read');
  } finally {
    raw.disconnect();
    old.disconnect();
    await a!.close();
    await b!.close();
    await redis.stop();
  }
});

test('MemoryBus: one process, no link to other nodes', () => {
  assert.equal(new MemoryBus().link, null);
});

test('RedisBus link: the live nodes agree; messages reach one node, in order, after the events published before them, one Redis message per node a turn', { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const errors: unknown[] = [];
  const buses = Array.from({ length: 3 }, (_, i) => new RedisBus({ url: redis.url, nodeId: `link-${i}`, heartbeatMs: 100, onError: (e) => errors.push(e) }));
  const raw = new Redis(redis.url);
  try {
    const ids = ['link-0', 'link-1', 'link-2'];
    await until(() => buses.every((b) => b.link.nodes().join() === ids.join()), 10_000, 'every node to hear the others');
    const [a, b, c] = buses as [RedisBus, RedisBus, RedisBus];
    const onB: [string, unknown][] = [];
    const onC: [string, unknown][] = [];
    const seenB: string[] = [];
    b.link.onMessage((from, m) => { onB.push([from, m]); seenB.push(`m${(m as { i: number }).i}`); });
    c.link.onMessage((from, m) => onC.push([from, m]));
    b.subscribe((e) => { if (e.kind === 'settings.changed' && e.tenant_id === 'before') seenB.push('event'); });
    const onChannel: string[] = [];
    raw.on('message', (_c: string, m: string) => onChannel.push(m));
    await raw.subscribe('careline:node:link-1');
    a.publish({ kind: 'settings.changed', tenant_id: 'before' });
    for (let i = 0; i < 300; i++) a.link.send('link-1', { i });
    await until(() => onB.length === 300, 10_000, 'the messages on node 1');
    assert.deepEqual(onB.map(([, m]) => (m as { i: number }).i), Array.from({ length: 300 }, (_, i) => i), 'in order');
    assert.ok(onB.every(([from]) => from === 'link-0'), 'from the sender');
    assert.equal(seenB[0], 'event', 'the event published before them came first');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(onC.length, 0, 'only the node addressed');
    assert.equal(onChannel.length, 1, 'one Redis message for the turn');
    // A node that closes says so: the others drop it at once, not after three heartbeats.
    await c.close();
    await until(() => a.link.nodes().join() === 'link-0,link-1' && b.link.nodes().join() === 'link-0,link-1', 250, 'the closed node to drop out');
    // A node that stops without a word (its process died) drops out after three heartbeats.
    await raw.unsubscribe();
    const ghost = new Redis(redis.url);
    await ghost.publish(BUS_CHANNEL, JSON.stringify({ n: 'ghost', hb: 1 }));
    await until(() => a.link.nodes().includes('ghost'), 5_000, 'the ghost to be heard');
    ghost.disconnect();
    const heard = Date.now();
    await until(() => !a.link.nodes().includes('ghost') && !b.link.nodes().includes('ghost'), 5_000, 'the ghost to drop out');
    assert.ok(Date.now() - heard >= 200, 'not before it missed its heartbeats');
    // Unreadable messages on a node's channel are reported, and the next ones still read.
    await raw.publish('careline:node:link-1', 'not json');
    a.link.send('link-1', { i: 300 });
    await until(() => onB.length === 301, 5_000, 'the message after the bad one');
    assert.ok(errors.some((e) => /unreadable/.test(String(e))));
  } finally {
    raw.disconnect();
    for (const x of buses) await x.close();
    await redis.stop();
  }
});
