/** `/api/v2/sessions`: conversations, participants, messages, read state (the paths of the family-doctor IM server). */
import Type from 'typebox';
import { OutgoingMessage } from '@careline/protocol';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { fail } from '../../domain/errors.ts';
import type { ConversationView as ConversationViewT, Principal } from '../../domain/types.ts';
import {
  Conversation, ConversationView, Limit, Message, MessageIdParams, Participant, ParticipantEntry, ParticipantParams, SessionIdParams, emptyBody, errors,
} from '../schemas.ts';

const Sessions = Type.Object({ sessions: Type.Array(ConversationView), next_cursor: Type.Union([Type.String(), Type.Null()]) });
const Participants = Type.Object({ participants: Type.Array(Participant) });
const Avatars = Type.Object({ avatars: Type.Array(Type.Object({ user_id: Type.String(), avatar: Type.Union([Type.String(), Type.Null()]) })) });
const Page = Type.Object({ messages: Type.Array(Message), has_more: Type.Boolean() });
const TypeCode = Type.Integer({ minimum: -2147483648, maximum: 2147483647 });
const ids = (s: string) => [...new Set(s.split(',').map((x) => x.trim()).filter(Boolean))];

export function sessionRoutes(app: Api, core: Core): void {
  const c = core.conversations;
  const m = core.messages;
  /** A page of conversations, answered once the audit records of the patient conversations in it are committed. */
  const shown = async <T extends { sessions: ConversationViewT[] }>(p: Principal, action: string, page: T): Promise<T> => {
    await core.audit.shown(p, action, page.sessions);
    return page;
  };

  // ---- conversations -----------------------------------------------------------------------
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
  }, async (req) => c.exists(req.principal, { ...req.query, participants: req.query.participants ? ids(req.query.participants) : undefined }));

  // ---- messages -----------------------------------------------------------------------------
  app.get('/api/v2/sessions/:session_id/messages', {
    config: { auth: 'any' },
    schema: {
      tags: ['messages'], summary: 'History, ascending by seq: the newest page, or before/after a seq (cursor paging)',
      description: 'Without `before` and `after` this is seed 000\'s message fetch, and it is the caller\'s read: their read cursor '
        + 'moves to the newest seq returned (forward only; the other participants get a `read` receipt), so unread counts the '
        + 'messages after their last fetch, as the seed did. Paging with `before` or `after` (history, gap filling) moves no cursor; '
        + 'nor does an API key without `X-On-Behalf-Of`.',
      params: SessionIdParams,
      querystring: Type.Object({ before: Type.Optional(Type.Integer({ minimum: 1 })), after: Type.Optional(Type.Integer({ minimum: 0 })), limit: Limit(50, 5000) }),
      response: { 200: Page, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => {
    const page = await m.history(req.principal, req.params.session_id, req.query);
    // The seed's fetch (no paging cursor) is the member's read; Careline's paging is not.
    if (req.query.before === undefined && req.query.after === undefined) await m.fetched(req.principal, req.params.session_id, page.messages.at(-1)?.seq ?? 0);
    return page;
  });

  app.post('/api/v2/sessions/:session_id/messages', {
    config: { auth: 'any' },
    schema: {
      tags: ['messages'], summary: 'Send a message (answered after it is committed; the same client_id again stores nothing)',
      params: SessionIdParams,
      body: Type.Object({
        client_id: Type.Optional(OutgoingMessage.properties.client_id),
        type: OutgoingMessage.properties.type,
        content: OutgoingMessage.properties.content,
        sender_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'API key only: send as this participant (default: system)' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ message: Message, duplicate: Type.Boolean() }), ...errors(400, 401, 403, 404, 409, 413) },
    },
  }, async (req) => {
    const { sender_id, ...out } = req.body;
    if (sender_id !== undefined && req.principal.kind !== 'app') throw fail('auth.forbidden', 'Only an API key may set sender_id.');
    return m.send(req.principal, req.params.session_id, out, sender_id !== undefined ? { senderId: sender_id } : {});
  });

  app.get('/api/v2/sessions/:session_id/messages/:message_id', {
    config: { auth: 'any' },
    schema: { tags: ['messages'], summary: 'One message', params: MessageIdParams, response: { 200: Type.Object({ message: Message }), ...errors(401, 403, 404) } },
  }, async (req) => ({ message: await m.get(req.principal, req.params.session_id, req.params.message_id) }));

  app.post('/api/v2/sessions/:session_id/messages/:message_id/recall', {
    config: { auth: 'any' },
    schema: { tags: ['messages'], summary: 'Recall a message within the recall window (leaves a tombstone)', params: MessageIdParams, response: { 200: Type.Object({ message: Message }), ...errors(401, 403, 404, 409) } },
  }, async (req) => ({ message: await m.recall(req.principal, req.params.session_id, req.params.message_id) }));

  app.post('/api/v2/sessions/:session_id/messages/:message_id/forward', {
    config: { auth: 'any' },
    schema: {
      tags: ['messages'], summary: 'Forward a message to other conversations of the caller', params: MessageIdParams,
      body: Type.Object({
        to: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 50 }),
        client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 48 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ messages: Type.Array(Message) }), ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req) => ({ messages: await m.forward(req.principal, req.params.session_id, req.params.message_id, req.body.to, req.body.client_id) }));

  app.post('/api/v2/sessions/:session_id/read', {
    config: { auth: 'any' },
    preValidation: emptyBody,
    schema: {
      tags: ['messages'], summary: 'Move the caller\'s read cursor (default: to the newest message)', params: SessionIdParams,
      body: Type.Optional(Type.Object({ seq: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false })),
      response: { 200: Type.Object({ read_seq: Type.Integer(), unread: Type.Integer() }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => m.markRead(req.principal, req.params.session_id, req.body?.seq));

  app.get('/api/v2/sessions/unread_message_count', {
    config: { auth: 'any' },
    schema: {
      tags: ['messages'], summary: 'Unread messages over all the caller\'s conversations',
      response: { 200: Type.Object({ count: Type.Integer(), sessions: Type.Array(Type.Object({ session_id: Type.String(), unread: Type.Integer() })) }), ...errors(400, 401) },
    },
  }, async (req) => m.unreadTotal(req.principal));

  app.get('/api/v2/sessions/:session_id/unread_message_count', {
    config: { auth: 'any' },
    schema: { tags: ['messages'], summary: 'Unread messages in one conversation', params: SessionIdParams, response: { 200: Type.Object({ count: Type.Integer() }), ...errors(400, 401, 403, 404) } },
  }, async (req) => ({ count: await m.unreadIn(req.principal, req.params.session_id) }));

  app.get('/api/v2/sessions/:session_id/messages/unread', {
    config: { auth: 'any' },
    schema: {
      tags: ['messages'], summary: 'The unread messages of one conversation, oldest first (does not mark them read)', params: SessionIdParams,
      querystring: Type.Object({ limit: Limit(200, 5000) }),
      response: { 200: Type.Object({ messages: Type.Array(Message), count: Type.Integer() }), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => m.unreadMessages(req.principal, req.params.session_id, req.query.limit));

  // ---- participants -------------------------------------------------------------------------
  app.post('/api/v2/sessions/:session_id/participant/update', {
    config: { auth: 'any' },
    schema: {
      tags: ['participants'], summary: 'Replace participants: `participants` is the new full list; or `add` / `remove` some',
      params: SessionIdParams,
      body: Type.Object({
        participants: Type.Optional(Type.Array(ParticipantEntry, { maxItems: 5000 })),
        add: Type.Optional(Type.Array(ParticipantEntry, { maxItems: 5000 })),
        remove: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 5000 })),
      }, { additionalProperties: false }),
      response: { 200: Participants, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({ participants: await c.changeParticipants(req.principal, req.params.session_id, req.body) }));

  app.get('/api/v2/sessions/:session_id/participants', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'All participants', params: SessionIdParams, response: { 200: Participants, ...errors(401, 403, 404) } },
  }, async (req) => ({ participants: await c.participants(req.principal, req.params.session_id) }));

  app.post('/api/v2/sessions/:session_id/participants', {
    config: { auth: 'any' },
    schema: {
      tags: ['participants'], summary: 'Add participants', params: SessionIdParams,
      body: Type.Object({ participants: Type.Array(ParticipantEntry, { minItems: 1, maxItems: 5000 }) }, { additionalProperties: false }),
      response: { 200: Participants, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({ participants: await c.changeParticipants(req.principal, req.params.session_id, { add: req.body.participants }) }));

  app.get('/api/v2/sessions/:session_id/participants/avatars', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'Avatars of all participants', params: SessionIdParams, response: { 200: Avatars, ...errors(401, 403, 404) } },
  }, async (req) => ({ avatars: (await c.participants(req.principal, req.params.session_id)).map((p) => ({ user_id: p.user_id, avatar: p.avatar })) }));

  app.get('/api/v2/sessions/:session_id/participants/:participant_id', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'Some participants (ids separated by commas)', params: ParticipantParams, response: { 200: Participants, ...errors(401, 403, 404) } },
  }, async (req) => ({ participants: await c.participants(req.principal, req.params.session_id, ids(req.params.participant_id)) }));

  app.put('/api/v2/sessions/:session_id/participants/:participant_id', {
    config: { auth: 'any' },
    preValidation: emptyBody,
    schema: {
      tags: ['participants'], summary: 'Add these users (ids separated by commas), or change their role', params: ParticipantParams,
      body: Type.Optional(Type.Object({ role: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })) }, { additionalProperties: false })),
      response: { 200: Participants, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => ({
    participants: await c.changeParticipants(req.principal, req.params.session_id, {
      add: ids(req.params.participant_id).map((id) => ({ id, ...(req.body?.role ? { role: req.body.role } : {}) })),
    }),
  }));

  app.delete('/api/v2/sessions/:session_id/participants/:participant_id', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'Remove participants (ids separated by commas)', params: ParticipantParams, response: { 200: Participants, ...errors(400, 401, 403, 404) } },
  }, async (req) => {
    const list = ids(req.params.participant_id);
    const present = await c.participants(req.principal, req.params.session_id);
    const missing = list.filter((id) => !present.some((p) => p.user_id === id));
    if (missing.length) throw fail('participant.not_found', undefined, { missing });
    return { participants: await c.changeParticipants(req.principal, req.params.session_id, { remove: list }) };
  });

  app.get('/api/v2/sessions/:session_id/participants/:participant_id/avatars', {
    config: { auth: 'any' },
    schema: { tags: ['participants'], summary: 'Avatars of some participants (ids separated by commas)', params: ParticipantParams, response: { 200: Avatars, ...errors(401, 403, 404) } },
  }, async (req) => ({
    avatars: (await c.participants(req.principal, req.params.session_id, ids(req.params.participant_id))).map((p) => ({ user_id: p.user_id, avatar: p.avatar })),
  }));
}
