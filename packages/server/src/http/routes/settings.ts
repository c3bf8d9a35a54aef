/** `/api/v2/management/settings`: the tenant's settings (integrators, API key). */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { errors } from '../schemas.ts';

const Policy = Type.Union([Type.Literal('notify'), Type.Literal('allow_many'), Type.Literal('kick')], {
  description: 'What a user\'s new connection does to their older connections of the same platform class (mobile: ios/android, web, desktop: windows/mac/linux). `notify` (default): they get an `S2C_DIFFERENT_CONNECTION` event and stay open. `kick`: they get the event, then close code 4503. `allow_many`: nothing; a user may be connected from any number of devices unnoticed.',
});
const PatientToPatient = Type.Boolean({
  description: 'Whether a patient may open a conversation with another patient (default `false`: patients reach their care team). See docs/access-policy.md.',
});
const Settings = Type.Object({ connection_policy: Policy, patient_to_patient: PatientToPatient, updated_at: Type.Union([Type.Number(), Type.Null()]) });

export function settingsRoutes(app: Api, core: Core): void {
  app.get('/api/v2/management/settings', {
    config: { auth: 'app' },
    schema: { tags: ['management'], summary: 'The tenant\'s settings', response: { 200: Type.Object({ settings: Settings }), ...errors(401, 403) } },
  }, async (req) => ({ settings: await core.settings.get(req.principal) }));

  app.put('/api/v2/management/settings', {
    config: { auth: 'app' },
    schema: {
      tags: ['management'], summary: 'Change the tenant\'s settings (the fields given)',
      body: Type.Object({ connection_policy: Type.Optional(Policy), patient_to_patient: Type.Optional(PatientToPatient) }, { additionalProperties: false }),
      response: { 200: Type.Object({ settings: Settings }), ...errors(400, 401, 403) },
    },
  }, async (req) => ({ settings: await core.settings.update(req.principal, req.body) }));
}
