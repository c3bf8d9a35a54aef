/**
 * Third-party apps (seed 003's "第三方服务获取token"): the tenant's integrator or admin creates
 * an app (an id and a secret, shown once, stored as SHA-256); the app exchanges them for a
 * short-lived access token (OAuth2 client credentials, `POST /api/v2/oauth/token`), which
 * authorizes the server API as the tenant's API key does. A token is an HS256 JWT under a key
 * of its own (derived from `auth.tokenSecret`, so it is never taken for a user token), and
 * every check reads the app's row: a revoked app's tokens are refused at once, on every node.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Storage } from './ports.ts';
import type { OAuthApp, Principal } from './types.ts';
import { fail } from './errors.ts';
import { hashKey } from './auth.ts';
import { newId, randomToken } from './ids.ts';
import { Hs256, TokenError } from './tokens.ts';
import { requireTenantAdmin } from './access.ts';

/** Access tokens start with this, so the HTTP layer tells them from user tokens without trying both. */
export const APP_TOKEN_PREFIX = 'cat_';

export type PublicOAuthApp = Omit<OAuthApp, 'secret_hash'>;
const publicApp = ({ secret_hash: _h, ...rest }: OAuthApp): PublicOAuthApp => rest;

export interface OAuthAppDeps {
  storage: Pick<Storage, 'oauthApps' | 'tenants'>;
  tokenSecret: string;
  tokenTtlSeconds: number;
  now?: () => number;
}

export class OAuthAppService {
  readonly #d: OAuthAppDeps;
  readonly #jwt: Hs256;
  readonly #now: () => number;

  constructor(deps: OAuthAppDeps) {
    this.#d = deps;
    this.#jwt = new Hs256(createHmac('sha256', deps.tokenSecret).update('careline app access tokens').digest('base64url'));
    this.#now = deps.now ?? Date.now;
  }

  /** Creates an app; its secret is returned once and stored only as a hash. */
  async create(p: Principal, name: string): Promise<{ app: PublicOAuthApp; client_id: string; client_secret: string }> {
    requireTenantAdmin(p);
    const app: OAuthApp = {
      id: `app_${newId().toLowerCase()}`, tenant_id: p.tenantId, name, secret_hash: '', created_at: this.#now(), revoked_at: null,
    };
    const client_secret = `cas_${randomToken(32)}`;
    app.secret_hash = hashKey(client_secret);
    await this.#d.storage.oauthApps.create(app);
    return { app: publicApp(app), client_id: app.id, client_secret };
  }

  async list(p: Principal): Promise<PublicOAuthApp[]> {
    requireTenantAdmin(p);
    return (await this.#d.storage.oauthApps.list(p.tenantId)).map(publicApp);
  }

  /** Revokes the app: its tokens are refused from now on (every check reads the app). */
  async revoke(p: Principal, id: string): Promise<void> {
    requireTenantAdmin(p);
    if (!(await this.#d.storage.oauthApps.revoke(p.tenantId, id, this.#now()))) throw fail('app.not_found', undefined, { id });
  }

  /** The client-credentials grant: the app's id and secret for an access token. */
  async issueToken(grantType: string, clientId: string, clientSecret: string): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number }> {
    if (grantType !== 'client_credentials') throw fail('app.grant_unsupported', undefined, { error: 'unsupported_grant_type' });
    const app = clientId ? await this.#d.storage.oauthApps.find(clientId) : null;
    const given = Buffer.from(hashKey(clientSecret));
    const ok = app !== null && timingSafeEqual(given, Buffer.from(app.secret_hash));
    if (!app || !ok) throw fail('app.invalid_client', undefined, { error: 'invalid_client' });
    if (app.revoked_at !== null) throw fail('app.revoked', undefined, { error: 'invalid_client' });
    const now = this.#now();
    const ttl = this.#d.tokenTtlSeconds;
    const token = this.#jwt.sign({ typ: 'app', cid: app.id, tid: app.tenant_id, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + ttl, jti: randomToken(9) });
    return { access_token: `${APP_TOKEN_PREFIX}${token}`, token_type: 'Bearer', expires_in: ttl };
  }

  /** Verifies an access token and that its app is still there and not revoked. */
  async authenticate(token: string): Promise<Principal & { kind: 'app' }> {
    if (!token.startsWith(APP_TOKEN_PREFIX)) throw fail('app.token_invalid');
    let claims;
    try {
      claims = this.#jwt.verify(token.slice(APP_TOKEN_PREFIX.length), this.#now());
    } catch (err) {
      if (err instanceof TokenError && err.reason === 'expired') throw fail('app.token_expired');
      throw fail('app.token_invalid');
    }
    const { typ, cid, tid } = claims;
    if (typ !== 'app' || typeof cid !== 'string' || typeof tid !== 'string') throw fail('app.token_invalid');
    const app = await this.#d.storage.oauthApps.find(cid);
    if (!app || app.tenant_id !== tid) throw fail('app.token_invalid');
    if (app.revoked_at !== null) throw fail('app.revoked');
    return { kind: 'app', tenantId: tid, appId: cid };
  }
}
