/**
 * Request limits (`rateLimit.*` in the config), counted by @fastify/rate-limit in fixed windows
 * of `rateLimit.windowSeconds`:
 *
 * - **failed authentication, per client address**: a wrong API key, operator token or metrics
 *   token, or a malformed or forged user token, over REST or the WebSocket upgrade. Once an
 *   address reaches `failedAuthPerIp`, every call of it that needs credentials is refused
 *   *before* they are checked — a guess that would have been right learns nothing — until the
 *   window ends. Expired and revoked tokens are not guesses (only the server can sign one) and
 *   do not count: a client holding an old token never locks its address out.
 * - **normal use**: per API key (`apiKeyRequests`, high: an integrator's backend creates and
 *   logs in users in bulk), per user with a user token (`userRequests`), per client address on
 *   the paths that need no credentials (`publicPerIp`), and logins per user (`loginsPerUser`:
 *   each one opens a login session).
 *
 * Every refusal is `request.rate_limited` (429) with `details.retry_after` (seconds) and a
 * Retry-After header. The counters are the library's in-memory store, per node; given a Redis
 * client (several nodes: `install(app, config, redis)`), they are the library's Redis store,
 * under `careline:ratelimit:`, shared by every node on that Redis, so a client counts the same
 * whichever node it reaches. While that Redis does not answer, requests are let through (a
 * node keeps serving) rather than refused.
 */
import type { IncomingMessage } from 'node:http';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ErrorCode } from '@careline/protocol';
import type { Config } from '../config/schema.ts';
import { fail } from '../domain/errors.ts';
import type { Principal } from '../domain/types.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route logs a user in (`body.user_id`): counted against `rateLimit.loginsPerUser`. */
    login?: boolean;
    /**
     * The route has `auth: 'none'` but authenticates its caller with a user token itself (the
     * long-poll and SSE routes): counted there per user and against failed authentications,
     * not against `rateLimit.publicPerIp` — a hospital's staff behind one address poll often.
     */
    authenticatesItself?: boolean;
  }
}

/** Refusals that mean "these credentials are wrong" — what a guess gets. */
const GUESSES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['auth.invalid_token', 'auth.invalid_api_key', 'auth.invalid_admin_token', 'auth.invalid_metrics_token', 'app.token_invalid']);

/** What a counter is asked about: the key alone (the library reads it through `keyGenerator`). */
interface Keyed {
  key: string;
  routeOptions: { config: Record<string, never> };
}
type Counter = ReturnType<FastifyInstance['createRateLimit']>;

/** The prefix of the counters' keys in Redis. */
export const RATE_LIMIT_NAMESPACE = 'careline:ratelimit:';

const keyOf = (req: FastifyRequest) => (req as unknown as Keyed).key;
const NO_ROUTE = { config: {} } as const;

export class RateLimits {
  readonly #cfg: Config['rateLimit'];
  readonly #trustProxy: boolean;
  #failed!: Counter;
  #public!: Counter;
  #apiKey!: Counter;
  #user!: Counter;
  #login!: Counter;

  private constructor(cfg: Config['rateLimit'], trustProxy: boolean) {
    this.#cfg = cfg;
    this.#trustProxy = trustProxy;
  }

  /**
   * Registers the plugin (no limit of its own on any route) and builds the counters: in this
   * process, or in `redis` (shared by the nodes that use it).
   */
  static async install(app: FastifyInstance, config: Readonly<Config>, redis?: Redis): Promise<RateLimits> {
    const limits = new RateLimits(config.rateLimit, config.http.trustProxy);
    const cfg = config.rateLimit;
    await app.register(rateLimit, redis ? { global: false, redis, nameSpace: RATE_LIMIT_NAMESPACE, skipOnError: true } : { global: false });
    const counter = (max: number): Counter =>
      app.createRateLimit({ max, timeWindow: cfg.windowSeconds * 1000, keyGenerator: keyOf, cache: cfg.trackedKeys } as Parameters<FastifyInstance['createRateLimit']>[0]);
    limits.#failed = counter(cfg.failedAuthPerIp);
    limits.#public = counter(cfg.publicPerIp);
    limits.#apiKey = counter(cfg.apiKeyRequests);
    limits.#user = counter(cfg.userRequests);
    limits.#login = counter(cfg.loginsPerUser);
    return limits;
  }

  /** The client address of an HTTP request (an IPv6 address counts by its /64). */
  ip(req: FastifyRequest): string {
    return normalizeIP(req.ip);
  }

  /** The client address of a raw request (the WebSocket upgrade), by the rule Fastify uses for `req.ip`. */
  ipOf(req: IncomingMessage): string {
    const forwarded = this.#trustProxy ? req.headers['x-forwarded-for'] : undefined;
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    return normalizeIP(first || req.socket.remoteAddress || 'unknown');
  }

  /** Refuses a caller whose address reached the failed-authentication limit; counts nothing. */
  async mayAuthenticate(ip: string): Promise<void> {
    if (!this.#cfg.enabled) return;
    await this.#take(this.#failed, `auth:${ip}`, false);
  }

  /** Counts a refusal against the address when it is a guess (wrong credentials). */
  async refused(ip: string, code: ErrorCode): Promise<void> {
    if (!this.#cfg.enabled || !GUESSES.has(code)) return;
    await this.#failed({ key: `auth:${ip}`, routeOptions: NO_ROUTE } as unknown as FastifyRequest);
  }

  /** A request to a path that needs no credentials. */
  async publicRequest(ip: string): Promise<void> {
    if (this.#cfg.enabled) await this.#take(this.#public, `ip:${ip}`);
  }

  /** An authenticated request: per API key (also when acting on behalf of a user), else per user. */
  async principal(p: Principal): Promise<void> {
    if (!this.#cfg.enabled) return;
    if (p.kind === 'app') return this.#take(this.#apiKey, `app:${p.appId}`);
    if (p.sessionId.startsWith('app:')) return this.#take(this.#apiKey, p.sessionId);
    return this.#take(this.#user, `user:${p.tenantId}\u0000${p.userId}`);
  }

  /** A login of `userId` in the tenant. */
  async login(tenantId: string, userId: string): Promise<void> {
    if (this.#cfg.enabled) await this.#take(this.#login, `login:${tenantId}\u0000${userId}`);
  }

  /** Counts one (or, with `count` false, only looks) and refuses once past the limit. */
  async #take(counter: Counter, key: string, count = true): Promise<void> {
    const r = await counter({ key, routeOptions: NO_ROUTE } as unknown as FastifyRequest, { increment: count });
    if (r.isAllowed) return;
    const over = count ? r.isExceeded : r.remaining <= 0;
    if (!over) return;
    const retry_after = Math.max(1, r.ttlInSeconds);
    throw fail('request.rate_limited', `Too many requests; retry in ${retry_after} s.`, { retry_after });
  }
}
