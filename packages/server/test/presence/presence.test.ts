/** The PresenceStore contract for the single-process store and the Redis store (a Redis started for the test), and the Redis store across a Redis restart. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PresenceChange } from '../../src/domain/ports.ts';
import { MemoryPresence } from '../../src/presence/memory.ts';
import { RedisPresence } from '../../src/presence/redis.ts';
import { startRedis } from '../support/services.ts';
import { until } from '../bus/bus-contract.ts';
import { presenceContract } from './presence-contract.ts';

presenceContract('MemoryPresence', async () => {
  const p = new MemoryPresence();
  return { nodes: async (n) => Array.from({ length: n }, () => p), close: () => p.close() };
});

presenceContract('RedisPresence', async () => {
  const redis = await startRedis();
  const made: RedisPresence[] = [];
  return {
    nodes: async (n, ttlSeconds) => {
      const nodes = Array.from({ length: n }, (_, i) => new RedisPresence({ url: redis.url, nodeId: `node-${i}`, ttlSeconds }));
      made.push(...nodes);
      // Each node's heartbeat is written before it counts anyone.
      await Promise.all(nodes.map((p) => p.refresh()));
      return nodes;
    },
    crash: (i) => made[i]!.close(),
    close: async () => {
      for (const p of made) await p.close();
      await redis.stop();
    },
  };
});

test('RedisPresence: Redis restarted (empty): each node writes its counts back, its users are online again and reported so; meanwhile it answers from its own counts', { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const errors: unknown[] = [];
  const a = new RedisPresence({ url: redis.url, nodeId: 'a', ttlSeconds: 1, onError: (e) => errors.push(e) });
  const b = new RedisPresence({ url: redis.url, nodeId: 'b', ttlSeconds: 1, onError: (e) => errors.push(e) });
  try {
    await Promise.all([a.refresh(), b.refresh()]);
    const changes: PresenceChange[] = [];
    a.onChange((c) => changes.push(c));
    assert.equal(await a.connected('t1', 'pat', Date.now()), true);
    assert.equal(await b.connected('t1', 'doc', Date.now()), true);
    await redis.restart();
    // Back: within a refresh round both nodes' users are counted again.
    await until(() => changes.some((c) => c.userId === 'pat' && c.online), 10_000, 'A to report its user online again');
    let s = await b.status('t1', 'pat');
    const end = Date.now() + 10_000;
    while ((!s.online || !(await b.status('t1', 'doc')).online) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      s = await b.status('t1', 'pat');
    }
    assert.deepEqual({ online: s.online, connections: s.connections }, { online: true, connections: 1 });
    assert.equal((await a.status('t1', 'doc')).online, true);
    assert.equal(await a.disconnected('t1', 'pat', Date.now()), true);
    assert.equal((await b.status('t1', 'pat')).online, false);
    // Redis away: answers from the node's own counts.
    await redis.stop();
    assert.equal(await a.connected('t1', 'nurse', Date.now()), true);
    assert.deepEqual(await a.status('t1', 'nurse'), { online: true, last_seen: null, connections: 1 });
    assert.equal(await a.disconnected('t1', 'nurse', Date.now()), true);
    assert.ok(errors.length > 0, 'the failures are reported');
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});
