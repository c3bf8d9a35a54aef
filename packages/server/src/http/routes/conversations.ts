/**
 * `/api/v2/sessions`: conversations (the paths of the family-doctor IM server): create, list
 * (sticky first, by type, recent), count, one conversation, sticky, status and name, isExist.
 * Registered before the other `/api/v2/sessions` routes (http/app.ts).
 */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import type { ConversationView as ConversationViewT, Principal } from '../../domain/types.ts';
import { Conversation, ConversationView, Limit, ParticipantEntry, SessionIdParams, commaIds, errors } from '../schemas.ts';

const Sessions = Type.Object({ sessions: Type.Array(ConversationView), next_cursor: Type.Union([Type.String(), Type.Null()]) });
const TypeCode = Type.Integer({ minimum: -2147483648, maximum: 2147483647 });

export function conversationRoutes(app: Api, core: Core): void {
  const c = core.conversations;
  /** A page of conversations, answered once the audit records of the patient conversations in it are committed. */
  const shown = async <T extends { sessions: ConversationViewT[] }>(p: Principal, action: string, page: T): Promise<T> => {
    await core.audit.shown(p, action, page.sessions);
    return page;
  };

  app.get('/api/v2/sessions', {
    config: { auth: 'any' },
    schema: {
      tags: ['sessions'], summary: 'The caller\'s conversations, sticky first then newest activity (cursor-paged)',
      querystring: Type.Object({ limit: Limit(50, 200), cursor: Type.Optional(Type.String({ maxLength: 512 })), business_type: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 })) }),
      response: { 200: Sessions, ...errors(400, 401) },
    },
  }, async (req) => shown(req.principal, 'sessions.list', await c.list(req.principal, { limit: req.query.limit ?? 50, cursor: req.query.cursor, business_type: req.query.business_type })));

  app.post('/api/v2/sessions', {
    config: { auth: 'any' },
    schema: {
      tags: ['sessions'], summary: 'Create a conversation (idempotent: the same id returns the existing one)',
      body: Type.Object({
        session_id: Type.Optional(Type.String({ maxLength: 128 })),
        session_type: TypeCode,
        session_name: Type.Optional(Type.String({ maxLength: 256 })),
        business_type: Type.Optional(Type.Integer()),
        participants: Type.Array(ParticipantEntry, { maxItems: 5000 }),
        parts: Type.Optional(Type.Object({
          patient: Type.Optional(Type.String({ maxLength: 128 })), team: Type.Optional(Type.String({ maxLength: 128 })),
          consult: Type.Optional(Type.String({ maxLength: 128 })), consult_type: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer()])),
          room: Type.Optional(Type.String({ maxLength: 128 })),
        }, { additionalProperties: false })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ session: Conversation, created: Type.Boolean() }), ...errors(400, 401, 404, 409) },
    },
  }, async (req) => c.create(req.principal, req.body));

  app.get('/api/v2/sessions/:session_id/session', {
    config: { auth: 'any' },
    schema: { tags: ['sessions'], summary: 'One conversation as the caller sees it', params: SessionIdParams, response: { 200: Type.Object({ session: ConversationView }), ...errors(401, 403, 404) } },
  }, async (req) => {
    const session = await c.get(req.principal, req.params.session_id);
    await core.audit.shown(req.principal, 'sessions.get', [session]);
    return { session };
  });

  app.get('/api/v2/sessions/sessionListByType', {
    config: { auth: 'any' },
    schema: {
      tags: ['sessions'], summary: 'The caller\'s conversations of one type',
      querystring: Type.Object({ type: TypeCode, limit: Limit(50, 200), cursor: Type.Optional(Type.String({ maxLength: 512 })) }),
      response: { 200: Sessions, ...errors(400, 401) },
    },
  }, async (req) => shown(req.principal, 'sessions.list', await c.list(req.principal, { type: req.query.type, limit: req.query.limit ?? 50, cursor: req.query.cursor })));

  app.get('/api/v2/sessions/sessionCountByType', {
    config: { auth: 'any' },
    schema: { tags: ['sessions'], summary: 'How many conversations of one type the caller has', querystring: Type.Object({ type: TypeCode }), response: { 200: Type.Object({ count: Type.Integer() }), ...errors(400, 401) } },
  }, async (req) => ({ count: await c.count(req.principal, { type: req.query.type }) }));

  for (const method of ['put', 'delete'] as const) {
    app[method]('/api/v2/sessions/:session_id/sticky', {
      config: { auth: 'any' },
      schema: { tags: ['sessions'], summary: method === 'put' ? 'Stick a conversation to the top (for the caller)' : 'Unstick it', params: SessionIdParams, response: { 200: Type.Object({ sticky: Type.Boolean() }), ...errors(400, 401, 403, 404) } },
    }, async (req) => ({ sticky: await c.setSticky(req.principal, req.params.session_id, method === 'put') }));
  }

  for (const method of ['put', 'post'] as const) {
    app[method]('/api/v2/sessions/:session_id/status', {
      config: { auth: 'any' },
      schema: {
        tags: ['sessions'], summary: 'Set the conversation\'s status', params: SessionIdParams,
        body: Type.Object({ status: Type.Integer({ minimum: -2147483648, maximum: 2147483647 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ session: Conversation }), ...errors(400, 401, 403, 404) },
      },
    }, async (req) => ({ session: await c.update(req.principal, req.params.session_id, { status: req.body.status }) }));

    app[method]('/api/v2/sessions/:session_id/name', {
      config: { auth: 'any' },
      schema: {
        tags: ['sessions'], summary: 'Rename the conversation', params: SessionIdParams,
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ session: Conversation }), ...errors(400, 401, 403, 404) },
      },
    }, async (req) => ({ session: await c.update(req.principal, req.params.session_id, { name: req.body.name }) }));
  }

  app.get('/api/v2/sessions/recent', {
    config: { auth: 'any' },
    schema: {
      tags: ['sessions'], summary: 'Recent conversations; type=patient keeps those with a patient, type=doctor those without',
      querystring: Type.Object({ type: Type.Optional(Type.Union([Type.Literal('patient'), Type.Literal('doctor')])), limit: Limit(20, 200) }),
      response: { 200: Sessions, ...errors(400, 401) },
    },
  }, async (req) => shown(req.principal, 'sessions.recent', await c.list(req.principal, {
    limit: req.query.limit ?? 20,
    business_type: req.query.type === 'patient' ? 2 : req.query.type === 'doctor' ? 1 : undefined,
  })));

  app.get('/api/v2/sessions/isExist', {
    config: { auth: 'any' },
    schema: {
      tags: ['sessions'], summary: 'Whether a conversation exists (moves nobody\'s read cursor)',
      querystring: Type.Object({
        session_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        session_type: Type.Optional(TypeCode),
        participants: Type.Optional(Type.String({ maxLength: 4096, description: 'Comma-separated user ids' })),
      }),
      response: { 200: Type.Object({ exists: Type.Boolean(), session_id: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401) },
    },
  }, async (req) => c.exists(req.principal, { ...req.query, participants: req.query.participants ? commaIds(req.query.participants) : undefined }));
}
