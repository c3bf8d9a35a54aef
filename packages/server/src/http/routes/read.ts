/**
 * Read state under `/api/v2/sessions`: move the caller's read cursor, unread counts (over all
 * conversations and in one), the unread messages of a conversation.
 */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { Limit, Message, SessionIdParams, emptyBody, errors } from '../schemas.ts';

export function readRoutes(app: Api, core: Core): void {
  const m = core.messages;

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
}
