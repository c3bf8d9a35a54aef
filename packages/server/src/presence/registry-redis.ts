/**
 * The push-node registry in Redis, with seed 002's names:
 * - `pushers`: sorted set, a node's public address → its last heartbeat (ms); the node writes
 *   it every third of `ttlSeconds`, and every node removes the addresses whose heartbeat is
 *   older than the TTL (by score), so a dead node drops out;
 * - `uid-pusher-addr-{uid}`: string, the address of the node holding the user's connection.
 *   A user id is unique within its tenant only, so `{uid}` is `tenantId:userId` (a user id
 *   holds no `:`). It expires after the TTL unless the node refreshes it; the most recent node
 *   to register a user takes the key, a node unregistering removes it only if it is its own,
 *   and a node still holding the user takes it back at its next refresh.
 */
import type { Redis } from 'ioredis';
import { redisLink, type RedisLink } from './redis-link.ts';
import type { NodeRegistry } from '../domain/ports.ts';

export const PUSHERS = 'pushers';
export const pusherKey = (tenantId: string, userId: string) => `uid-pusher-addr-${tenantId}:${userId}`;

/** KEYS: key. ARGV: address. Deletes the key if it holds this address. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS: key. ARGV: address, ttl ms. Sets the key to this address if free or already ours; else leaves another node's claim. */
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if not v or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
`;

export interface RedisNodeRegistryOptions {
  url: string;
  /** This node's public address (`cluster.publicAddress`). */
  address: string;
  /** A node whose heartbeat is older than this drops out; keys it wrote expire after it. */
  ttlSeconds: number;
  onError?: (err: unknown) => void;
}

type Scripted = Redis & {
  registryRelease(key: string, address: string): Promise<number>;
  registryClaim(key: string, address: string, ttlMs: number): Promise<number>;
};

export class RedisNodeRegistry implements NodeRegistry {
  readonly address: string;
  readonly #ttlMs: number;
  readonly #redis: Scripted;
  readonly #onError: (err: unknown) => void;
  /** The users this node holds (`tenantId:userId`): refreshed with each heartbeat. */
  readonly #users = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  #beating: Promise<void> | null = null;
  readonly #link: RedisLink;
  #closed = false;

  constructor(o: RedisNodeRegistryOptions) {
    this.address = o.address;
    this.#ttlMs = Math.max(1, Math.round(o.ttlSeconds * 1000));
    this.#onError = o.onError ?? (() => {});
    this.#link = redisLink({
      url: o.url, name: `careline-registry:${o.address}`, what: 'node registry', whileDown: 'registrations are written when it is back',
      onError: this.#onError, closed: () => this.#closed, onReady: () => void this.heartbeat(),
    });
    const redis = this.#link.redis;
    redis.defineCommand('registryRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('registryClaim', { numberOfKeys: 1, lua: CLAIM });
    this.#redis = redis as Scripted;
    this.#timer = setInterval(() => void this.heartbeat(), Math.max(10, Math.floor(this.#ttlMs / 3)));
    this.#timer.unref();
    void this.heartbeat();
  }

  async register(tenantId: string, userId: string): Promise<void> {
    this.#users.add(`${tenantId}:${userId}`);
    // Redis away: the heartbeat when it is back writes the key.
    if (!this.#up()) return;
    await this.#redis.set(pusherKey(tenantId, userId), this.address, 'PX', this.#ttlMs);
  }

  async unregister(tenantId: string, userId: string): Promise<void> {
    this.#users.delete(`${tenantId}:${userId}`);
    // Redis away: the key expires after the TTL (no heartbeat refreshes it now).
    if (!this.#up()) return;
    await this.#redis.registryRelease(pusherKey(tenantId, userId), this.address);
  }

  async lookup(tenantId: string, userId: string): Promise<string | null> {
    const address = await this.#redis.get(pusherKey(tenantId, userId));
    if (address === null) return null;
    const hb = await this.#redis.zscore(PUSHERS, address);
    return hb !== null && Number(hb) >= Date.now() - this.#ttlMs ? address : null;
  }

  async nodes(): Promise<{ address: string; heartbeat: number }[]> {
    const flat = await this.#redis.zrangebyscore(PUSHERS, Date.now() - this.#ttlMs, '+inf', 'WITHSCORES');
    const out: { address: string; heartbeat: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ address: flat[i]!, heartbeat: Number(flat[i + 1]) });
    return out;
  }

  /**
   * This node's heartbeat in `pushers`, its users' keys refreshed (or taken back), and the
   * stale addresses removed. Runs every third of the TTL and when the connection is (back) up.
   */
  heartbeat(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return (this.#beating ??= this.#beat()
      .catch((err: unknown) => {
        if (!this.#closed) this.#onError(err);
      })
      .finally(() => (this.#beating = null)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#beating;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /** Whether to send now: the connection is up, or has never been (commands wait for the first connection). */
  #up(): boolean {
    return !this.#link.everReady() || this.#redis.status === 'ready';
  }

  async #beat(): Promise<void> {
    if (!this.#up()) return;
    const now = Date.now();
    const r = this.#redis;
    const p = r.pipeline();
    p.zadd(PUSHERS, now, this.address);
    p.zremrangebyscore(PUSHERS, '-inf', `(${now - this.#ttlMs}`);
    for (const u of this.#users) {
      const at = u.lastIndexOf(':');
      (p as unknown as Scripted).registryClaim(pusherKey(u.slice(0, at), u.slice(at + 1)), this.address, this.#ttlMs);
    }
    const results = await p.exec();
    for (const [err] of results ?? []) if (err) throw err;
  }
}
