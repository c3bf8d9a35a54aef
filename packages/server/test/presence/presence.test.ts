/** The PresenceStore contract for the single-process store and the Redis store (a Redis started for the test). */
import { MemoryPresence } from '../../src/presence/memory.ts';
import { RedisPresence } from '../../src/presence/redis.ts';
import { startRedis } from '../support/services.ts';
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
