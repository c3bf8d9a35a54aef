/**
 * The Redis connection a node-heartbeat store (presence, the push-node registry) runs on:
 * reconnecting quickly (at most a second apart), failing commands at once while it is down
 * rather than queueing them, and reporting an outage once — its first error or the loss of a
 * connection that was up — until it is ready again. `onReady` runs at each (re)connection:
 * the store writes its state back then.
 */
import { Redis } from 'ioredis';

export interface RedisLinkOptions {
  url: string;
  /** The connection's name in Redis (CLIENT LIST). */
  name: string;
  /** What the store says in its reports ("presence", "node registry"). */
  what: string;
  /** What the store does while the link is down, said when it is lost. */
  whileDown: string;
  onError: (err: unknown) => void;
  /** Whether the store is closed (a closed store reports nothing). */
  closed: () => boolean;
  onReady: () => void;
}

export interface RedisLink {
  redis: Redis;
  /** The connection was ready once: an outage after that is a loss. */
  everReady(): boolean;
}

export function redisLink(o: RedisLinkOptions): RedisLink {
  const redis = new Redis(o.url, {
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    connectionName: o.name,
  });
  let reported = false;
  let everReady = false;
  redis.on('error', (err: unknown) => {
    if (reported || o.closed()) return;
    reported = true;
    o.onError(new Error(`${o.what}: Redis connection: ${String((err as Error)?.message ?? err)}`, { cause: err }));
  });
  redis.on('close', () => {
    if (reported || o.closed() || !everReady) return;
    reported = true;
    o.onError(new Error(`${o.what}: lost the Redis connection; ${o.whileDown}`));
  });
  redis.on('ready', () => {
    reported = false;
    everReady = true;
    o.onReady();
  });
  return { redis, everReady: () => everReady };
}
