/** `/api/v2/users` (login, logout, user, status), `/api/v2/management/users`, `/api/v2/application`. */
import Type from 'typebox';
import { UserRoles } from '@careline/protocol';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { fail } from '../../domain/errors.ts';
import { User, UserIdParams, errors } from '../schemas.ts';

export function userRoutes(app: Api, core: Core): void {
  app.post('/api/v2/users/login', {
    config: { auth: 'app', login: true },
    schema: {
      tags: ['users'], summary: 'Log a user in (integrator backend, API key): returns a user token',
      body: Type.Object({
        user_id: Type.String({ minLength: 1, maxLength: 128 }),
        platform: Type.Optional(Type.String({ maxLength: 32, description: 'ios, android, web, windows…' })),
        device_id: Type.Optional(Type.String({ maxLength: 128 })),
        ttl_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 90 * 24 * 3600 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ token: Type.String(), expires_at: Type.Number(), user: User }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => {
    const { token, expires_at, user } = await core.auth.login(req.principal.tenantId, req.body.user_id, req.body);
    return { token, expires_at, user };
  });

  app.post('/api/v2/users/logout', {
    config: { auth: 'user' },
    schema: { tags: ['users'], summary: 'Revoke the caller\'s token; its connections close', response: { 200: Type.Object({ ok: Type.Boolean() }), ...errors(401) } },
  }, async (req) => {
    const p = req.principal;
    if (p.kind !== 'user' || p.sessionId.startsWith('app:')) throw fail('auth.forbidden', 'Log out with the user\'s own token.');
    await core.auth.logout(p);
    return { ok: true };
  });

  app.get('/api/v2/users/:user_id', {
    config: { auth: 'any' },
    schema: { tags: ['users'], summary: 'A user of the tenant', params: UserIdParams, response: { 200: Type.Object({ user: User }), ...errors(401, 404) } },
  }, async (req) => ({ user: await core.users.get(req.principal, req.params.user_id) }));

  app.get('/api/v2/users/:user_id/status', {
    config: { auth: 'any' },
    schema: {
      tags: ['users'], summary: 'Whether a user is online', params: UserIdParams,
      response: {
        200: Type.Object({ user_id: Type.String(), online: Type.Boolean(), last_seen: Type.Union([Type.Number(), Type.Null()]), connections: Type.Integer() }),
        ...errors(401, 404),
      },
    },
  }, async (req) => core.users.status(req.principal, req.params.user_id));

  app.put('/api/v2/management/users/:user_id', {
    config: { auth: 'app' },
    schema: {
      tags: ['management'], summary: 'Create or update a user (integrator, API key)', params: UserIdParams,
      body: Type.Object({
        role: Type.Union(UserRoles.filter((r) => r !== 'system').map((r) => Type.Literal(r))),
        name: Type.String({ minLength: 1, maxLength: 256 }),
        avatar: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
        disabled: Type.Optional(Type.Boolean()),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ user: User, created: Type.Boolean() }), ...errors(400, 401, 403) },
    },
  }, async (req) => core.users.upsert(req.principal, req.params.user_id, req.body));

  app.get('/api/v2/management/users', {
    config: { auth: 'app' },
    schema: {
      tags: ['management'],
      summary: 'The tenant\'s users in id order (integrator, API key): pass `next_after` as `after` for the next page (null on the last one)',
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        after: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'List the users whose id comes after this one' })),
        role: Type.Optional(Type.Union(UserRoles.filter((r) => r !== 'system').map((r) => Type.Literal(r)))),
        disabled: Type.Optional(Type.Boolean({ description: 'Only disabled (true) or only enabled (false) users' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ users: Type.Array(User), next_after: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403) },
    },
  }, async (req) => core.users.list(req.principal, { ...req.query, limit: req.query.limit ?? 100 }));

  app.get('/api/v2/application/badge_no', {
    config: { auth: 'any' },
    schema: {
      tags: ['application'], summary: 'Badge number: the caller\'s unread messages plus unread notifications',
      response: { 200: Type.Object({ badge_no: Type.Integer() }), ...errors(400, 401) },
    },
  }, async (req) => {
    const [messages, notifications] = await Promise.all([core.messages.unreadTotal(req.principal), core.notifications.unread(req.principal)]);
    return { badge_no: messages.count + notifications.total };
  });
}
