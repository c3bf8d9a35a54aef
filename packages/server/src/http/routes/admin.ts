/** `/api/v2/admin`: the operator creates tenants and their apps (API keys). */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { fail } from '../../domain/errors.ts';
import { errors } from '../schemas.ts';

const Tenant = Type.Object({ id: Type.String(), name: Type.String(), created_at: Type.Number() });
const App = Type.Object({ id: Type.String(), tenant_id: Type.String(), name: Type.String(), created_at: Type.Number(), revoked_at: Type.Union([Type.Number(), Type.Null()]) });

export function adminRoutes(app: Api, core: Core): void {
  app.post('/api/v2/admin/tenants', {
    config: { auth: 'admin' },
    schema: {
      tags: ['admin'], summary: 'Create a tenant (operator, X-Admin-Token)',
      body: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }), name: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ tenant: Tenant }), ...errors(400, 401, 409) },
    },
  }, async (req) => ({ tenant: await core.auth.createTenant(req.body.id, req.body.name) }));

  app.post('/api/v2/admin/tenants/:tenant_id/apps', {
    config: { auth: 'admin' },
    schema: {
      tags: ['admin'], summary: 'Create an app with a new API key (shown once)',
      params: Type.Object({ tenant_id: Type.String({ minLength: 1, maxLength: 64 }) }),
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ app: App, api_key: Type.String() }), ...errors(400, 401, 404) },
    },
  }, async (req) => core.auth.createApp(req.params.tenant_id, req.body.name));

  app.delete('/api/v2/admin/tenants/:tenant_id/apps/:app_id', {
    config: { auth: 'admin' },
    schema: {
      tags: ['admin'], summary: 'Revoke an app\'s API key',
      params: Type.Object({ tenant_id: Type.String({ minLength: 1, maxLength: 64 }), app_id: Type.String({ minLength: 1, maxLength: 64 }) }),
      response: { 200: Type.Object({ revoked: Type.Boolean() }), ...errors(401, 404) },
    },
  }, async (req) => {
    if (!(await core.auth.revokeApp(req.params.tenant_id, req.params.app_id))) throw fail('app.not_found');
    return { revoked: true };
  });
}
