/** The NodeRegistry contract for the single-process registry and the Redis one (seed 002's keys, checked in Redis). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryNodeRegistry } from '../../src/presence/registry-memory.ts';
import { RedisNodeRegistry } from '../../src/presence/registry-redis.ts';
import { startRedis } from '../support/services.ts';
import { registryContract } from './registry-contract.ts';

registryContract('MemoryNodeRegistry', async () => {
  const made: MemoryNodeRegistry[] = [];
  return {
    nodes: async (addresses) => {
      const nodes = addresses.map((address) => new MemoryNodeRegistry({ address }));
      made.push(...nodes);
      return nodes;
    },
    beat: async () => {},
    close: async () => {
      for (const r of made) await r.close();
    },
  };
}, { shared: false });

registryContract('RedisNodeRegistry', async () => {
  const redis = await startRedis();
  const made: RedisNodeRegistry[] = [];
  return {
    nodes: async (addresses, ttlSeconds) => {
      const nodes = addresses.map((address) => new RedisNodeRegistry({ url: redis.url, address, ttlSeconds }));
      made.push(...nodes);
      await Promise.all(nodes.map((n) => n.heartbeat()));
      return nodes;
    },
    beat: (i) => made[i]!.heartbeat(),
    close: async () => {
      for (const r of made) await r.close();
      await redis.stop();
    },
  };
}, { shared: true });

test('RedisNodeRegistry writes seed 002\'s keys: `pushers` (address → heartbeat) and `uid-pusher-addr-{tenant}:{user}` (address); stale addresses are removed by score', { timeout: 30_000 }, async () => {
  const redis = await startRedis();
  const raw = new Redis(redis.url);
  const a = new RedisNodeRegistry({ url: redis.url, address: 'http://a:1', ttlSeconds: 1 });
  const b = new RedisNodeRegistry({ url: redis.url, address: 'http://b:1', ttlSeconds: 1 });
  try {
    await Promise.all([a.heartbeat(), b.heartbeat()]);
    await b.register('tenant-1', 'alice');
    assert.equal(await raw.get('uid-pusher-addr-tenant-1:alice'), 'http://b:1');
    assert.ok(Number(await raw.pttl('uid-pusher-addr-tenant-1:alice')) > 0, 'the key expires unless refreshed');
    assert.deepEqual((await raw.zrange('pushers', '0', '-1')).sort(), ['http://a:1', 'http://b:1']);
    await b.close();
    // A's heartbeats remove B's address once its score is older than the TTL.
    const end = Date.now() + 10_000;
    let members: string[] = [];
    while (Date.now() < end) {
      members = await raw.zrange('pushers', '0', '-1');
      if (members.length === 1 && (await raw.exists('uid-pusher-addr-tenant-1:alice')) === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(members, ['http://a:1']);
    assert.equal(await raw.get('uid-pusher-addr-tenant-1:alice'), null, 'the dead node\'s keys expired');
  } finally {
    await a.close();
    await b.close();
    raw.disconnect();
    await redis.stop();
  }
});
