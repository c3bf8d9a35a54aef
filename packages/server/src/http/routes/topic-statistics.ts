/**
 * Consultation figures beyond the session paths: a patient's consultation times, statistics
 * per care team or doctor for the clinic, and the reconciliation report that compares the
 * host's consultations with Careline's (integrators).
 */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { fail } from '../../domain/errors.ts';
import { Id, Nullable, Period, ResponseTimes, errors } from '../schemas.ts';

const Str = Type.String();
const Int = Type.Integer();

export function topicStatisticsRoutes(app: Api, core: Core): void {
  const t = core.topics;

  app.get('/api/v2/users/:user_id/consult/time', {
    config: { auth: 'any' },
    schema: {
      tags: ['users'], summary: 'A patient\'s consultation times: how many, the newest start and end, the open one',
      params: Type.Object({ user_id: Id }),
      response: {
        200: Type.Object({
          user_id: Str, total: Int, last_topic_id: Nullable(Str), last_started_at: Nullable(Type.Number()), last_ended_at: Nullable(Type.Number()), open_topic_id: Nullable(Str),
        }),
        ...errors(401, 403, 404),
      },
    },
  }, async (req) => {
    await core.users.get(req.principal, req.params.user_id);
    return t.consultTime(req.principal, req.params.user_id);
  });

  app.get('/api/v2/statistics/topics', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'Consultations per care team or per doctor over a period, with first-response times (care team: the consultations they see; clinic admins and integrators: the tenant)',
      querystring: Type.Object({
        group_by: Type.Union([Type.Literal('team'), Type.Literal('doctor')]), team_id: Type.Optional(Id), doctor_id: Type.Optional(Id), ...Period,
      }),
      response: {
        200: Type.Object({
          rows: Type.Array(Type.Object({
            team_id: Type.Optional(Nullable(Str)), doctor_id: Type.Optional(Nullable(Str)), count: Int, unreplied: Int, in_progress: Int, replied: Int,
            ended_unreplied: Int, first_response_ms: ResponseTimes,
          })),
        }),
        ...errors(400, 401, 403),
      },
    },
  }, async (req) => {
    const { group_by, ...q } = req.query;
    return { rows: await t.stats(req.principal, group_by, q) };
  });

  app.post('/api/v2/management/topics/reconcile', {
    config: { auth: 'app' },
    schema: {
      tags: ['topics'], summary: 'Compare the host\'s consultations of a period with Careline\'s: missing here, missing in the host, different fields',
      body: Type.Object({
        since: Type.Integer({ minimum: 0 }), until: Type.Integer({ minimum: 0 }),
        topics: Type.Array(Type.Object({
          id: Id, session_id: Type.Optional(Id), status: Type.Optional(Type.Integer()), reply: Type.Optional(Type.Integer()),
          patient_id: Type.Optional(Id), team_id: Type.Optional(Id), doctor_id: Type.Optional(Id),
        }, { additionalProperties: false }), { maxItems: 100_000 }),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          since: Type.Number(), until: Type.Number(), checked: Int, here: Int, missing_here: Type.Array(Str), missing_in_host: Type.Array(Str),
          different: Type.Array(Type.Object({ id: Str, field: Str, host: Type.Unknown(), here: Type.Unknown() })),
        }),
        ...errors(400, 401, 403),
      },
    },
  }, async (req) => {
    if (req.body.until <= req.body.since) throw fail('request.invalid', 'until must be after since.');
    return t.reconcile(req.principal, req.body.since, req.body.until, req.body.topics);
  });
}
