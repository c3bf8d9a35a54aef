/**
 * Consultations (topics) under `/api/v2/sessions`, the topic paths of the family-doctor IM
 * server: start, one by id, ended, end, enter, the lists the caller may see (by session,
 * patient, care team, state) and their counts and reply statistics. Their messages:
 * `topic-messages.ts`; a patient's consultation times, the clinic's statistics and the
 * reconciliation report: `topic-statistics.ts`.
 */
import Type from 'typebox';
import { Topic } from '@careline/protocol';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import type { TopicQuery, TopicState } from '../../domain/types.ts';
import { Id, Limit, Nullable, Period, ResponseTimes, SessionTopic, emptyBody, errors } from '../schemas.ts';

const Int = Type.Integer();
const TopicPage = Type.Object({ topics: Type.Array(Topic), next_cursor: Nullable(Type.String()) });
const Counts = Type.Object({ unreplied: Int, in_progress: Int, replied: Int, ended_unreplied: Int });
const StateName = Type.Union([
  Type.Literal('unreplied'), Type.Literal('in_progress'), Type.Literal('replied'), Type.Literal('ended_unreplied'),
  Type.Literal('0'), Type.Literal('1'), Type.Literal('2'),
], { description: 'unreplied (0), in_progress (1), replied (2); ended_unreplied is counted in none of them' });
const STATE_BY_CODE: Record<string, TopicState> = { 0: 'unreplied', 1: 'in_progress', 2: 'replied' };
const state = (s: string): TopicState => STATE_BY_CODE[s] ?? (s as TopicState);
/** A list's query for the domain: the state by name, 20 by default, with `extra` (a session type). */
const listQuery = <Q extends Omit<TopicQuery, 'state' | 'limit'> & { state?: string; limit?: number }>(query: Q, extra: Partial<TopicQuery> = {}): TopicQuery => {
  const { state: s, ...q } = query;
  return { ...q, ...extra, limit: q.limit ?? 20, ...(s !== undefined ? { state: state(s) } : {}) };
};
const ListQuery = {
  limit: Limit(20, 200),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  ...Period,
};

export function topicRoutes(app: Api, core: Core): void {
  const t = core.topics;

  app.post('/api/v2/sessions/:session_id/topics', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'Start a consultation in the session (idempotent by topic id = the host\'s consult code); writes the type-6 start message',
      params: Type.Object({ session_id: Id }),
      body: Type.Object({
        topic_id: Id,
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
        description: Type.Optional(Type.String({ maxLength: 4000 })),
        patient_id: Type.Optional(Id), team_id: Type.Optional(Id), doctor_id: Type.Optional(Id),
        consult_type: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer()])),
        text: Type.Optional(Type.String({ minLength: 1, maxLength: 4000 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ topic: Topic, created: Type.Boolean() }), ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => t.start(req.principal, req.params.session_id, req.body));

  app.get('/api/v2/sessions/:session_id/topics', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'One topic by id (the path segment is the topic id, as in the original server)',
      params: Type.Object({ session_id: Type.String({ minLength: 1, maxLength: 128, description: 'The topic id' }) }),
      response: { 200: Type.Object({ topic: Topic }), ...errors(401, 404) },
    },
  }, async (req) => ({ topic: await t.get(req.principal, req.params.session_id) }));

  // Left out of the OpenAPI document: it is ambiguous with /sessions/:session_id/session there
  // (the router prefers the literal "topics"); the path above answers the same.
  app.get('/api/v2/sessions/topics/:topic_id', {
    config: { auth: 'any' },
    schema: { hide: true, tags: ['topics'], summary: 'One topic by id', params: Type.Object({ topic_id: Id }), response: { 200: Type.Object({ topic: Topic }), ...errors(401, 404) } },
  }, async (req) => ({ topic: await t.get(req.principal, req.params.topic_id) }));

  app.get('/api/v2/sessions/:session_id/topics/:topic_id/ended', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'Whether the topic has ended; topic_id "current" means the session\'s newest topic',
      params: SessionTopic, response: { 200: Type.Object({ ended: Type.Boolean(), topic: Topic }), ...errors(401, 403, 404) },
    },
  }, async (req) => t.ended(req.principal, req.params.session_id, req.params.topic_id));

  for (const method of ['put', 'post'] as const) {
    app[method]('/api/v2/sessions/:session_id/topics/:topic_id/ended', {
      config: { auth: 'any' },
      preValidation: emptyBody,
      schema: {
        tags: ['topics'], summary: 'End the topic (care team or integrator): writes the type-7 end message and the type-10 closing message; "current" allowed',
        params: SessionTopic,
        body: Type.Optional(Type.Object({ text: Type.Optional(Type.String({ minLength: 1, maxLength: 4000, description: 'Text of the type-10 message' })) }, { additionalProperties: false })),
        response: { 200: Type.Object({ topic: Topic }), ...errors(400, 401, 403, 404, 409) },
      },
    }, async (req) => ({ topic: await t.end(req.principal, req.params.session_id, req.params.topic_id, req.body ?? {}) }));

    app[method]('/api/v2/sessions/:session_id/topics/:topic_id/into', {
      config: { auth: 'any' },
      schema: {
        tags: ['topics'], summary: 'The patient enters the topic: a type-14 message from the system',
        params: SessionTopic, response: { 200: Type.Object({ topic: Topic }), ...errors(401, 403, 404, 409) },
      },
    }, async (req) => ({ topic: await t.enter(req.principal, req.params.session_id, req.params.topic_id) }));
  }

  app.get('/api/v2/sessions/topics', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'Topics the caller may see, newest first (a patient: their own; care team: their sessions\' and their care teams\'; integrator: all — docs/access-policy.md)',
      querystring: Type.Object({ session_id: Type.Optional(Id), patient_id: Type.Optional(Id), state: Type.Optional(StateName), ...ListQuery }),
      response: { 200: TopicPage, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => {
    return t.list(req.principal, listQuery(req.query));
  });

  app.get('/api/v2/sessions/healthTopics', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'Health consultations (topics of family-doctor sessions, type 1) the caller may see',
      querystring: Type.Object({ patient_id: Type.Optional(Id), state: Type.Optional(StateName), ...ListQuery }),
      response: { 200: TopicPage, ...errors(400, 401) },
    },
  }, async (req) => {
    return t.list(req.principal, listQuery(req.query, { session_type: 1 }));
  });

  app.get('/api/v2/sessions/healthTeamTopics', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'Health consultations of one care team: all of them for its members and the integrator, those in their own sessions for other care-team users',
      querystring: Type.Object({ team_id: Id, state: Type.Optional(StateName), ...ListQuery }),
      response: { 200: TopicPage, ...errors(400, 401, 403) },
    },
  }, async (req) => {
    return t.list(req.principal, listQuery(req.query, { session_type: 1 }));
  });

  app.get('/api/v2/sessions/topicListByType', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'Topics in one state: unreplied (status 0, reply 0), in progress (0, 1), replied (10, 1)',
      querystring: Type.Object({ type: StateName, team_id: Type.Optional(Id), doctor_id: Type.Optional(Id), ...ListQuery }),
      response: { 200: TopicPage, ...errors(400, 401, 403) },
    },
  }, async (req) => {
    const { type, ...q } = req.query;
    return t.list(req.principal, { ...q, state: state(type), limit: q.limit ?? 20 });
  });

  app.get('/api/v2/sessions/topicListCountByType', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'How many topics are unreplied, in progress and replied (ended without a reply: apart, in none of them)',
      querystring: Type.Object({ team_id: Type.Optional(Id), doctor_id: Type.Optional(Id), ...Period }),
      response: { 200: Counts, ...errors(400, 401, 403) },
    },
  }, async (req) => t.countByState(req.principal, req.query));

  app.get('/api/v2/sessions/topics/count/reply', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'Reply statistics: counts by state and first-response times',
      querystring: Type.Object({ team_id: Type.Optional(Id), doctor_id: Type.Optional(Id), ...Period }),
      response: { 200: Type.Object({ ...Counts.properties, total: Int, first_response_ms: ResponseTimes }), ...errors(400, 401, 403) },
    },
  }, async (req) => t.replyCount(req.principal, req.query));
}
