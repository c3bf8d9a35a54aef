/**
 * Resolves the caller of a request into a `Principal`: a user token (`Authorization: Bearer`),
 * or an API key (`X-Api-Key`), optionally acting for one of the tenant's users
 * (`X-On-Behalf-Of`). A third-party app's access token (`Authorization: Bearer cat_…`, from
 * `POST /api/v2/oauth/token`) counts as the tenant's API key.
 */
import type { FastifyRequest } from 'fastify';
import type { Core } from '../core.ts';
import type { Principal } from '../domain/types.ts';
import { fail } from '../domain/errors.ts';
import { APP_TOKEN_PREFIX } from '../domain/oauth-apps.ts';

export type AuthMode = 'user' | 'app' | 'any' | 'admin' | 'none';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
}

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export function bearer(req: FastifyRequest): string | undefined {
  const h = header(req, 'authorization');
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  if (!m) throw fail('auth.invalid_token', 'Authorization must be "Bearer <token>".');
  return m[1];
}

export async function resolvePrincipal(core: Core, req: FastifyRequest, mode: AuthMode): Promise<Principal | undefined> {
  if (mode === 'none') return undefined;
  if (mode === 'admin') {
    core.auth.checkAdminToken(header(req, 'x-admin-token'));
    return undefined;
  }
  const key = header(req, 'x-api-key');
  const token = bearer(req);
  // A third-party app's access token (OAuth2 client credentials) stands for the tenant's API key.
  const appToken = key === undefined && token?.startsWith(APP_TOKEN_PREFIX) ? token : undefined;
  if (appToken !== undefined && mode === 'user') throw fail('auth.forbidden', 'This call needs the user\'s own token (Authorization: Bearer).');
  if ((key !== undefined || appToken !== undefined) && mode !== 'user') {
    const app = key !== undefined ? await core.auth.authenticateApiKey(key) : await core.oauthApps.authenticate(appToken!);
    const onBehalf = header(req, 'x-on-behalf-of');
    if (onBehalf === undefined || onBehalf === '') return app;
    const user = await core.storage.users.getUser(app.tenantId, onBehalf);
    if (!user) throw fail('user.not_found', `X-On-Behalf-Of: no user ${onBehalf}`);
    if (user.disabled) throw fail('user.disabled', `X-On-Behalf-Of: user ${onBehalf} is disabled`);
    return { kind: 'user', tenantId: app.tenantId, userId: user.id, role: user.role, sessionId: `app:${app.appId}` };
  }
  if (token !== undefined && mode !== 'app') return core.auth.authenticateToken(token);
  if (mode === 'app') throw fail(key === undefined && token !== undefined ? 'auth.forbidden' : 'auth.missing', 'This call needs an API key (X-Api-Key).');
  if (mode === 'user' && key !== undefined) throw fail('auth.forbidden', 'This call needs the user\'s own token (Authorization: Bearer).');
  throw fail('auth.missing');
}
