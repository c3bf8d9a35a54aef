/**
 * Who is calling: API keys (integrators), user tokens (signed, expiring, revocable) and the
 * operator's admin token. Tokens are HS256 JWTs naming a login session (`jti`); logout revokes
 * the session, so a revoked token fails even before it expires. A token says who the user is,
 * not what they may do: the role and the disabled flag are the user's row's (the `role` claim
 * is informative only).
 *
 * A check reads the login session and the user in one read, and keeps what it read (per
 * session id, in this process): a client's next requests are checked without reading them
 * again. What would change the answer reaches every node's copy through the bus as it
 * happens — a logout (`session.revoked`), a user disabled or given another role
 * (`user.changed`) — and drops it at once; a bus that lost its link drops every copy (events may
 * have been missed). On a cluster a copy is also read again after `auth.sessionCacheMs`, the
 * bound on a copy whose event a dead node or a lost link never delivered; on one node (the
 * in-process bus, which loses nothing) it stands until an event drops it — a client
 * reconnecting after minutes (a reconnect storm) is not read again. The expiry of the token
 * and of its session is checked at every request.
 * A token's signature is checked once per node: the verifier remembers the last 50,000 tokens
 * it accepted (the same text again is taken with only its expiry checked; `tokens.ts`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { EventBus, Storage } from './ports.ts';
import type { App, AuthSession, Principal, Tenant, User } from './types.ts';
import { fail } from './errors.ts';
import { setNewest } from './bounded.ts';
import { newId, randomToken } from './ids.ts';
import { Hs256, TokenError } from './tokens.ts';

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

export interface AuthDeps {
  storage: Pick<Storage, 'tenants' | 'users' | 'sessions'>;
  bus: EventBus;
  tokenSecret: string;
  tokenTtlSeconds: number;
  adminToken: string;
  /** How long a login session and its user, once read, are taken without reading them again (ms; 0: read at every check). */
  sessionCacheMs?: number;
  now?: () => number;
}

type SessionRead = { session: AuthSession; user: User | null };

/** The most login sessions kept read (the oldest go first). */
const SESSION_CACHE_MAX = 50_000;
/** The most user tokens remembered as verified (`Hs256`'s `remember`; about 0.35 KiB each): as many as the sessions kept. */
const TOKENS_REMEMBERED = 50_000;

/** A verified user token with what the WebSocket endpoint needs to open a connection. */
export interface Authenticated {
  principal: Principal & { kind: 'user' };
  user: User;
  /** The login session's platform (for the "connected elsewhere" policy). */
  platform: string | null;
  /** When the token stops being accepted (ms): its `exp`, or its session's end if that is sooner. */
  expiresAt: number;
}

export class AuthService {
  readonly #d: AuthDeps;
  readonly #jwt: Hs256;
  readonly #now: () => number;

  /** Login sessions read lately, with their user, per session id (see the file's head). */
  readonly #read = new Map<string, { found: SessionRead; at: number }>();
  readonly #cacheMs: number;

  constructor(deps: AuthDeps) {
    this.#d = deps;
    this.#jwt = new Hs256(deps.tokenSecret, { remember: TOKENS_REMEMBERED });
    this.#now = deps.now ?? Date.now;
    this.#cacheMs = deps.sessionCacheMs ?? 0;
    if (this.#cacheMs > 0) {
      deps.bus.subscribe((e) => {
        if (e.kind === 'session.revoked') this.#read.delete(e.session_id);
        else if (e.kind === 'user.changed') {
          for (const [id, r] of this.#read) if (r.found.session.user_id === e.user_id && r.found.session.tenant_id === e.tenant_id) this.#read.delete(id);
        }
      });
      deps.bus.onResume(() => this.#read.clear());
    }
  }

  /** The login session `id` and its user: as read within `sessionCacheMs`, else read now. */
  async #session(id: string): Promise<SessionRead | null> {
    if (this.#cacheMs === 0) return this.#d.storage.sessions.getSessionWithUser(id);
    const now = Date.now();
    const kept = this.#read.get(id);
    if (kept && now - kept.at < this.#cacheMs) return kept.found;
    const found = await this.#d.storage.sessions.getSessionWithUser(id);
    // Only a session that can still be used is kept; a refusal is read again next time.
    if (found && found.session.revoked_at === null && found.user && !found.user.disabled) setNewest(this.#read, id, { found, at: now }, SESSION_CACHE_MAX);
    else this.#read.delete(id);
    return found;
  }

  checkAdminToken(given: string | undefined): void {
    if (!given) throw fail('auth.missing');
    const a = Buffer.from(hashKey(given));
    const b = Buffer.from(hashKey(this.#d.adminToken));
    if (!timingSafeEqual(a, b)) throw fail('auth.invalid_admin_token');
  }

  async createTenant(id: string, name: string): Promise<Tenant> {
    const t: Tenant = { id, name, created_at: this.#now() };
    await this.#d.storage.tenants.createTenant(t);
    return t;
  }

  /** Creates an app with a new API key; the key is returned once and stored only as a hash. */
  async createApp(tenantId: string, name: string): Promise<{ app: Omit<App, 'key_hash'>; api_key: string }> {
    if (!(await this.#d.storage.tenants.getTenant(tenantId))) throw fail('tenant.not_found');
    const id = newId();
    const api_key = `ck_${randomToken(24)}`;
    const app: App = { id, tenant_id: tenantId, name, key_hash: hashKey(api_key), created_at: this.#now(), revoked_at: null };
    await this.#d.storage.tenants.createApp(app);
    const { key_hash: _omit, ...pub } = app;
    return { app: pub, api_key };
  }

  async revokeApp(tenantId: string, appId: string): Promise<boolean> {
    return this.#d.storage.tenants.revokeApp(tenantId, appId, this.#now());
  }

  async authenticateApiKey(key: string): Promise<Principal & { kind: 'app' }> {
    const app = await this.#d.storage.tenants.findAppByKeyHash(hashKey(key));
    if (!app || app.revoked_at !== null) throw fail('auth.invalid_api_key');
    return { kind: 'app', tenantId: app.tenant_id, appId: app.id };
  }

  /** Opens a login session for a user of the tenant and signs a token naming it. */
  async login(
    tenantId: string, userId: string, opts: { platform?: string; device_id?: string; ttl_seconds?: number } = {},
  ): Promise<{ token: string; expires_at: number; user: User; session_id: string }> {
    const user = await this.#d.storage.users.getUser(tenantId, userId);
    if (!user) throw fail('user.not_found');
    if (user.disabled) throw fail('user.disabled');
    const now = this.#now();
    const ttl = opts.ttl_seconds ?? this.#d.tokenTtlSeconds;
    const session: AuthSession = {
      id: newId(), tenant_id: tenantId, user_id: userId, platform: opts.platform ?? null, device_id: opts.device_id ?? null,
      created_at: now, expires_at: now + ttl * 1000, revoked_at: null,
    };
    await this.#d.storage.sessions.createSession(session);
    const token = this.#jwt.sign({
      tid: tenantId, role: user.role, sub: userId, jti: session.id, iat: Math.floor(now / 1000), exp: Math.floor(session.expires_at / 1000),
    });
    return { token, expires_at: session.expires_at, user, session_id: session.id };
  }

  /** Verifies a user token: signature, expiry, and that its session is not revoked. */
  async authenticateToken(token: string): Promise<Principal & { kind: 'user' }> {
    return (await this.authenticate(token)).principal;
  }

  /**
   * Verifies a user token as `authenticateToken` does, and returns the user and the login
   * session's platform read on the way (one read of both, for a connection to open with).
   */
  async authenticate(token: string): Promise<Authenticated> {
    let claims;
    try {
      claims = this.#jwt.verify(token, this.#now());
    } catch (err) {
      if (err instanceof TokenError && err.reason === 'expired') throw fail('auth.token_expired');
      throw fail('auth.invalid_token');
    }
    const { sub, jti, tid } = claims;
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof tid !== 'string') throw fail('auth.invalid_token');
    const found = await this.#session(jti);
    const session = found?.session;
    if (!session || session.tenant_id !== tid || session.user_id !== sub) throw fail('auth.invalid_token');
    if (session.revoked_at !== null) throw fail('auth.token_revoked');
    if (session.expires_at <= this.#now()) throw fail('auth.token_expired');
    const user = found!.user;
    if (!user) throw fail('user.not_found');
    if (user.disabled) throw fail('user.disabled');
    // The role is the user's as stored now, not the one the token was signed with.
    return {
      principal: { kind: 'user', tenantId: tid, userId: sub, role: user.role, sessionId: jti }, user, platform: session.platform,
      expiresAt: Math.min(claims.exp * 1000, session.expires_at),
    };
  }

  /** Revokes the caller's session; its connections are closed (4502). */
  async logout(p: Principal & { kind: 'user' }): Promise<void> {
    await this.#d.storage.sessions.revokeSession(p.sessionId, this.#now());
    this.#read.delete(p.sessionId);
    this.#d.bus.publish({ kind: 'session.revoked', tenant_id: p.tenantId, session_id: p.sessionId });
  }
}
