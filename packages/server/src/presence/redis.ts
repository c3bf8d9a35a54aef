/**
 * Presence across nodes, in Redis. Each node counts its own connections per user and keeps
 * those counts in Redis under keys that expire unless the node refreshes them (every third of
 * `ttlSeconds`), with a heartbeat per node; a user is online while some node with a fresh
 * heartbeat counts a connection of theirs. So the users of a node that died go offline by
 * themselves after the TTL, and the first live node to see its heartbeat stale takes over its
 * cleanup (one Lua script, so exactly one node does it) and reports the users that went offline
 * through `onChange` (the real-time layer publishes `presence.changed` for them).
 *
 * Keys (`{member}` is `tenantId:userId`; a user id holds no `:`):
 * - `careline:presence:nodes`: sorted set, node id → its last heartbeat (ms);
 * - `careline:presence:user:{member}`: hash, node id → that node's connections of the user
 *   (expires after the TTL unless refreshed by a node holding the user);
 * - `careline:presence:node:{nodeId}`: hash, member → connections (the node's index, for the
 *   cleanup of a dead node; expires after twice the TTL);
 * - `careline:presence:seen:{member}`: when the user was last seen (ms).
 *
 * The node's own counts, in memory, are the truth it writes back at each refresh: after Redis
 * restarted (empty) or the node was taken for dead (a long pause), the refresh restores them and
 * reports its users online again. While Redis is away, `connected`, `disconnected` and `status`
 * answer from the node's own counts (the first/last connection here) and the failure goes to
 * `onError`.
 * The scripts reach keys they compute (standalone Redis; not Redis Cluster).
 */
import type { Redis } from 'ioredis';
import { redisLink, type RedisLink } from './redis-link.ts';
import type { PresenceChange, PresenceStore } from '../domain/ports.ts';

const P = 'careline:presence:';
const NODES = `${P}nodes`;
const userKey = (member: string) => `${P}user:${member}`;
const nodeKey = (nodeId: string) => `${P}node:${nodeId}`;
const seenKey = (member: string) => `${P}seen:${member}`;

/** Sum of a user's connections on live nodes (heartbeat at or after `stale`; `self` counts as live). */
const LIVE = `
local function live(uk, stale, self)
  local t = 0
  local f = redis.call('HGETALL', uk)
  for i = 1, #f, 2 do
    if f[i] == self then
      t = t + tonumber(f[i + 1])
    else
      local s = redis.call('ZSCORE', KEYS[1], f[i])
      if s and tonumber(s) >= stale then t = t + tonumber(f[i + 1]) end
    end
  end
  return t
end
`;

/** KEYS: nodes, user hash, node hash, seen. ARGV: node id, member, now, stale before, ttl ms. 1 if the user was offline everywhere before. */
const CONNECT = `${LIVE}
local stale = tonumber(ARGV[4])
local before = live(KEYS[2], stale, ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]) * 2)
redis.call('SET', KEYS[4], ARGV[3])
if before == 0 then return 1 end
return 0
`;

/** Same keys and arguments as CONNECT. 1 if the user is now offline everywhere. */
const DISCONNECT = `${LIVE}
local stale = tonumber(ARGV[4])
if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[2]) end
redis.call('SET', KEYS[4], ARGV[3])
if live(KEYS[2], stale, '') == 0 then return 1 end
return 0
`;

/** KEYS: nodes, user hash, seen. ARGV: stale before. {live connections, last seen or false}. */
const STATUS = `${LIVE}
return { live(KEYS[2], tonumber(ARGV[1]), ''), redis.call('GET', KEYS[3]) }
`;

/**
 * Takes over a dead node's cleanup, once: removes it from the node set if its heartbeat is
 * still stale, and its counts from its users. KEYS: nodes, the dead node's hash. ARGV: its id,
 * stale before, user key prefix, seen key prefix. {its last heartbeat, members now offline…},
 * or an empty list (alive again, or already taken over by another node).
 */
const REAP = `${LIVE}
local stale = tonumber(ARGV[2])
local hb = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not hb or tonumber(hb) >= stale then return {} end
redis.call('ZREM', KEYS[1], ARGV[1])
local members = redis.call('HKEYS', KEYS[2])
redis.call('DEL', KEYS[2])
local out = { hb }
for _, m in ipairs(members) do
  local uk = ARGV[3] .. m
  redis.call('HDEL', uk, ARGV[1])
  if live(uk, stale, '') == 0 then
    out[#out + 1] = m
    redis.call('SET', ARGV[4] .. m, hb)
  end
end
return out
`;

export interface RedisPresenceOptions {
  /** redis://host:port[/db] */
  url: string;
  /** This node's id, unique in the cluster. */
  nodeId: string;
  /** How long a node's counts live without a refresh (the node refreshes every third of it). */
  ttlSeconds: number;
  /** A Redis command failed (the store answered from this node's counts), or a refresh failed. */
  onError?: (err: unknown) => void;
}

type Scripted = Redis & {
  presenceConnect(nodes: string, user: string, node: string, seen: string, ...args: (string | number)[]): Promise<number>;
  presenceDisconnect(nodes: string, user: string, node: string, seen: string, ...args: (string | number)[]): Promise<number>;
  presenceStatus(nodes: string, user: string, seen: string, stale: number): Promise<[number, string | null]>;
  presenceReap(nodes: string, node: string, ...args: (string | number)[]): Promise<string[]>;
};

/** Thrown instead of sending while the connection is down (already reported once, by the connection). */
const OUTAGE = new Error('presence: Redis is not connected');

const split = (member: string) => {
  const at = member.lastIndexOf(':');
  return { tenantId: member.slice(0, at), userId: member.slice(at + 1) };
};

export class RedisPresence implements PresenceStore {
  readonly #nodeId: string;
  readonly #ttlMs: number;
  readonly #redis: Scripted;
  readonly #onError: (err: unknown) => void;
  /** This node's connections per member: the truth each refresh writes back. */
  readonly #local = new Map<string, number>();
  #handlers: ((c: PresenceChange) => void)[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #link: RedisLink;
  /** The heartbeat was written once: being absent later means this node's counts were lost. */
  #beat = false;
  #refreshing: Promise<void> | null = null;
  #closed = false;

  constructor(o: RedisPresenceOptions) {
    this.#nodeId = o.nodeId;
    this.#ttlMs = Math.max(1, Math.round(o.ttlSeconds * 1000));
    this.#onError = o.onError ?? (() => {});
    // Back after a loss (or first up): write this node's counts and heartbeat at once.
    this.#link = redisLink({
      url: o.url, name: `careline-presence:${o.nodeId}`, what: 'presence', whileDown: 'answering from this node\'s own counts until it is back',
      onError: this.#onError, closed: () => this.#closed, onReady: () => void this.refresh(),
    });
    const redis = this.#link.redis;
    redis.defineCommand('presenceConnect', { numberOfKeys: 4, lua: CONNECT });
    redis.defineCommand('presenceDisconnect', { numberOfKeys: 4, lua: DISCONNECT });
    redis.defineCommand('presenceStatus', { numberOfKeys: 3, lua: STATUS });
    redis.defineCommand('presenceReap', { numberOfKeys: 2, lua: REAP });
    this.#redis = redis as Scripted;
    this.#timer = setInterval(() => void this.refresh(), Math.max(10, Math.floor(this.#ttlMs / 3)));
    this.#timer.unref();
    // The heartbeat first, ahead of any count (queued until the connection is up).
    void this.refresh();
  }

  get nodeId(): string {
    return this.#nodeId;
  }

  async connected(tenantId: string, userId: string, now: number): Promise<boolean> {
    const member = `${tenantId}:${userId}`;
    const n = (this.#local.get(member) ?? 0) + 1;
    this.#local.set(member, n);
    try {
      this.#usable();
      const r = await this.#redis.presenceConnect(NODES, userKey(member), nodeKey(this.#nodeId), seenKey(member), this.#nodeId, member, now, now - this.#ttlMs, this.#ttlMs);
      return r === 1;
    } catch (err) {
      if (err !== OUTAGE) this.#onError(err);
      return n === 1;
    }
  }

  async disconnected(tenantId: string, userId: string, now: number): Promise<boolean> {
    const member = `${tenantId}:${userId}`;
    const n = (this.#local.get(member) ?? 0) - 1;
    if (n <= 0) this.#local.delete(member);
    else this.#local.set(member, n);
    try {
      this.#usable();
      const r = await this.#redis.presenceDisconnect(NODES, userKey(member), nodeKey(this.#nodeId), seenKey(member), this.#nodeId, member, now, now - this.#ttlMs, this.#ttlMs);
      return r === 1;
    } catch (err) {
      if (err !== OUTAGE) this.#onError(err);
      return n <= 0;
    }
  }

  async status(tenantId: string, userId: string): Promise<{ online: boolean; last_seen: number | null; connections: number }> {
    const member = `${tenantId}:${userId}`;
    try {
      this.#usable();
      const [connections, seen] = await this.#redis.presenceStatus(NODES, userKey(member), seenKey(member), Date.now() - this.#ttlMs);
      return { online: connections > 0, last_seen: seen === null ? null : Number(seen), connections: Number(connections) };
    } catch (err) {
      // Redis away: what this node knows (its own connections of the user).
      if (err !== OUTAGE) this.#onError(err);
      const connections = this.#local.get(member) ?? 0;
      return { online: connections > 0, last_seen: null, connections };
    }
  }

  onChange(handler: (change: PresenceChange) => void): () => void {
    this.#handlers = [...this.#handlers, handler];
    return () => {
      this.#handlers = this.#handlers.filter((h) => h !== handler);
    };
  }

  /**
   * The periodic work, also run when the connection is (back) up: the heartbeat, this node's
   * counts written back with a fresh TTL, and the cleanup of nodes whose heartbeat went stale.
   * Resolves when done (one at a time: a call during a refresh waits for it).
   */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return (this.#refreshing ??= this.#refresh()
      .catch((err: unknown) => {
        // While Redis is away the next 'ready' refreshes: nothing to report each round.
        if (!this.#closed && err !== OUTAGE) this.#onError(err);
      })
      .finally(() => (this.#refreshing = null)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#handlers = [];
    await this.#refreshing;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /** Once the connection has been up, a command while it is down fails now rather than waiting in a queue. */
  #usable(): void {
    if (this.#link.everReady() && this.#redis.status !== 'ready') throw OUTAGE;
  }

  async #refresh(): Promise<void> {
    this.#usable();
    const now = Date.now();
    const stale = now - this.#ttlMs;
    const r = this.#redis;
    // The heartbeat; absent before means Redis lost it (restarted) or another node took this one for dead.
    const added = await r.zadd(NODES, now, this.#nodeId);
    const snapshot = [...this.#local];
    const p = r.pipeline();
    const nk = nodeKey(this.#nodeId);
    p.del(nk);
    for (let i = 0; i < snapshot.length; i += 500) {
      const chunk = snapshot.slice(i, i + 500);
      p.hset(nk, Object.fromEntries(chunk));
      for (const [member, count] of chunk) {
        p.hset(userKey(member), this.#nodeId, count);
        p.pexpire(userKey(member), this.#ttlMs);
      }
    }
    p.pexpire(nk, this.#ttlMs * 2);
    const results = await p.exec();
    for (const [err] of results ?? []) if (err) throw err;
    const lost = added === 1 && this.#beat;
    this.#beat = true;
    if (lost) {
      // Counted again after being lost: say so (a duplicate "online" is harmless, a missing one is not).
      for (const [member] of snapshot) this.#emit({ ...split(member), online: true, lastSeen: now });
    }
    for (const dead of await r.zrangebyscore(NODES, '-inf', `(${stale}`)) {
      if (dead === this.#nodeId) continue;
      const out = await r.presenceReap(NODES, nodeKey(dead), dead, stale, `${P}user:`, `${P}seen:`);
      if (out.length === 0) continue;
      const hb = Number(out[0]);
      for (const member of out.slice(1)) this.#emit({ ...split(member), online: false, lastSeen: hb });
    }
  }

  #emit(c: PresenceChange): void {
    for (const h of this.#handlers) {
      try {
        h(c);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}
