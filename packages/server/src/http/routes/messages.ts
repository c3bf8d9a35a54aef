/**
 * `/api/v2/sessions/:session_id/messages`: history (seed 000's fetch, which is the caller's
 * read), send, one message, recall, forward.
 */
import Type from 'typebox';
import { OutgoingMessage } from '@careline/protocol';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { fail } from '../../domain/errors.ts';
import { Limit, Message, MessageIdParams, SessionIdParams, errors } from '../schemas.ts';

const Page = Type.Object({ messages: Type.Array(Message), has_more: Type.Boolean() });

export function messageRoutes(app: Api, core: Core): void {
  const m = core.messages;

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
  }, async (req, reply) => {
    // The page comes as JSON text built from the stored messages (`Page` is still its schema).
    // The seed's fetch (no paging cursor) is the member's read; Careline's paging is not.
    const q = req.query;
    const page = await m.historyJson(req.principal, req.params.session_id, q, { moveCursor: q.before === undefined && q.after === undefined });
    return reply.type('application/json; charset=utf-8').send(page.json as never);
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
}
