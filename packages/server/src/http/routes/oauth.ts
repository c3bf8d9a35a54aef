/**
 * Third-party apps (seed 003's "第三方服务获取token"): `/api/v2/management/oauth-apps` (the
 * tenant's integrator or an admin creates, lists and revokes apps) and
 * `POST /api/v2/oauth/token`, the OAuth2 client-credentials grant (RFC 6749 §4.4): the app's
 * id and secret, in the body (form or JSON) or as HTTP Basic, for a short-lived Bearer token
 * that the API takes as the tenant's API key.
 */
import Type from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { fail } from '../../domain/errors.ts';
import { errors, Id, Nullable } from '../schemas.ts';

const OAuthApp = Type.Object({ id: Type.String(), tenant_id: Type.String(), name: Type.String(), created_at: Type.Number(), revoked_at: Nullable(Type.Number()) });

/** `Authorization: Basic base64(client_id:client_secret)` (each form-urlencoded, RFC 6749 §2.3.1), if given. */
function basic(req: FastifyRequest): { id: string; secret: string } | null {
  const h = req.headers.authorization;
  const m = h ? /^Basic\s+(\S+)$/i.exec(h) : null;
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) throw fail('app.invalid_client', 'Basic credentials are "client_id:client_secret".', { error: 'invalid_client' });
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: dec(text.slice(0, i)), secret: dec(text.slice(i + 1)) };
}

export async function oauthRoutes(app: Api, core: Core): Promise<void> {
  const a = core.oauthApps;
  const tags = ['apps'];

  app.post('/api/v2/management/oauth-apps', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'Create a third-party app (client id and secret; the secret is shown once)',
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ app: OAuthApp, client_id: Type.String(), client_secret: Type.String() }), ...errors(400, 401, 403) },
    },
  }, async (req) => a.create(req.principal, req.body.name));

  app.get('/api/v2/management/oauth-apps', {
    config: { auth: 'any' },
    schema: { tags, summary: 'The tenant\'s third-party apps', response: { 200: Type.Object({ apps: Type.Array(OAuthApp) }), ...errors(401, 403) } },
  }, async (req) => ({ apps: await a.list(req.principal) }));

  app.delete('/api/v2/management/oauth-apps/:app_id', {
    config: { auth: 'any' },
    schema: {
      tags, summary: 'Revoke a third-party app: its tokens are refused at once, on every node',
      params: Type.Object({ app_id: Id }),
      response: { 200: Type.Object({ revoked: Type.Boolean() }), ...errors(401, 403, 404) },
    },
  }, async (req) => {
    await a.revoke(req.principal, req.params.app_id);
    return { revoked: true };
  });

  // The token endpoint takes the standard form body too, in its own scope (other routes stay JSON only).
  await app.register(async (scope: Api) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    scope.post('/api/v2/oauth/token', {
      config: { auth: 'none' },
      schema: {
        tags, summary: 'Exchange an app\'s id and secret for an access token (OAuth2 client credentials)',
        description: 'Form (`application/x-www-form-urlencoded`) or JSON body with `grant_type=client_credentials`; the credentials as `client_id` and `client_secret` in the body or as HTTP Basic. The token goes in `Authorization: Bearer <access_token>` and acts as the tenant\'s API key (X-On-Behalf-Of included) until `expires_in` seconds pass or the app is revoked.',
        body: Type.Object({
          grant_type: Type.String({ maxLength: 64 }),
          client_id: Type.Optional(Type.String({ maxLength: 128 })),
          client_secret: Type.Optional(Type.String({ maxLength: 256 })),
          scope: Type.Optional(Type.String({ maxLength: 1024 })),
        }),
        response: {
          200: Type.Object({ access_token: Type.String(), token_type: Type.Literal('Bearer'), expires_in: Type.Integer() }),
          ...errors(400, 401),
        },
      },
    }, async (req) => {
      const b = basic(req);
      const id = b?.id ?? req.body.client_id ?? '';
      const secret = b?.secret ?? req.body.client_secret ?? '';
      return a.issueToken(req.body.grant_type, id, secret);
    });
  });
}
