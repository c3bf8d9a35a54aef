/**
 * `/api/v2/management/teams` (care teams) and `/api/v2/management/users/:user_id/tags`:
 * the audiences a notification can name. Integrators only (API key).
 */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { ID_RE } from '../../domain/ids.ts';
import { UserIdParams, errors } from '../schemas.ts';

const Team = Type.Object({
  id: Type.String(), name: Type.String(), members: Type.Array(Type.String()), created_at: Type.Number(), updated_at: Type.Number(),
});
const TeamParams = Type.Object({ team_id: Type.String({ pattern: ID_RE.source }) });
const Tags = Type.Object({ user_id: Type.String(), tags: Type.Array(Type.String()) });

export function audienceRoutes(app: Api, core: Core): void {
  const t = core.teams;

  app.put('/api/v2/management/teams/:team_id', {
    config: { auth: 'app' },
    schema: {
      tags: ['management'], summary: 'Create or replace a care team: `members` is the whole list (unknown users: user.not_found, nothing changed)',
      params: TeamParams,
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 256 }),
        members: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 100_000 }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ team: Team, created: Type.Boolean() }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => t.put(req.principal, req.params.team_id, req.body));

  app.get('/api/v2/management/teams/:team_id', {
    config: { auth: 'app' },
    schema: { tags: ['management'], summary: 'A care team with its members', params: TeamParams, response: { 200: Type.Object({ team: Team }), ...errors(401, 403, 404) } },
  }, async (req) => ({ team: await t.get(req.principal, req.params.team_id) }));

  app.delete('/api/v2/management/teams/:team_id', {
    config: { auth: 'app' },
    schema: { tags: ['management'], summary: 'Delete a care team (notifications already sent stay)', params: TeamParams, response: { 200: Type.Object({ deleted: Type.Boolean() }), ...errors(401, 403, 404) } },
  }, async (req) => {
    await t.delete(req.principal, req.params.team_id);
    return { deleted: true };
  });

  app.put('/api/v2/management/users/:user_id/tags', {
    config: { auth: 'app' },
    schema: {
      tags: ['management'], summary: 'Replace a user\'s tags (the audiences of `{ tag }` notifications)', params: UserIdParams,
      body: Type.Object({ tags: Type.Array(Type.String({ pattern: '^[^\\s,]{1,64}$' }), { maxItems: 100 }) }, { additionalProperties: false }),
      response: { 200: Tags, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({ user_id: req.params.user_id, tags: await t.setTags(req.principal, req.params.user_id, req.body.tags) }));

  app.get('/api/v2/management/users/:user_id/tags', {
    config: { auth: 'app' },
    schema: { tags: ['management'], summary: 'A user\'s tags', params: UserIdParams, response: { 200: Tags, ...errors(401, 403, 404) } },
  }, async (req) => ({ user_id: req.params.user_id, tags: await t.tags(req.principal, req.params.user_id) }));
}
