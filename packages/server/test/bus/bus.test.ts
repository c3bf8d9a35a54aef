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
