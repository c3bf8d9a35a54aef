/**
 * The messages of a consultation (topic): from its start message to its end, ascending by seq,
 * paged with before/after; audited as `topic.messages`.
 */
import Type from 'typebox';
import { Topic } from '@careline/protocol';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { Id, Limit, Message, SessionTopic, errors } from '../schemas.ts';

const PageQuery = Type.Object({ before: Type.Optional(Type.Integer({ minimum: 1 })), after: Type.Optional(Type.Integer({ minimum: 0 })), limit: Limit(50, 5000) });
const MessagesPage = Type.Object({ messages: Type.Array(Message), has_more: Type.Boolean(), topic: Topic });

export function topicMessageRoutes(app: Api, core: Core): void {
  const t = core.topics;

  app.get('/api/v2/sessions/topic/:topic_id/messages', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'The messages of a topic, from its start to its end, ascending by seq (page with before/after)',
      params: Type.Object({ topic_id: Id }), querystring: PageQuery, response: { 200: MessagesPage, ...errors(400, 401, 404) },
    },
  }, async (req) => t.messages(req.principal, req.params.topic_id, req.query));

  app.get('/api/v2/sessions/:session_id/topics/:topic_id/messages', {
    config: { auth: 'any' },
    schema: {
      tags: ['topics'], summary: 'The messages of a topic of this session ("current": the newest topic)',
      params: SessionTopic, querystring: PageQuery, response: { 200: MessagesPage, ...errors(400, 401, 403, 404) },
    },
  }, async (req) => t.messages(req.principal, req.params.topic_id, req.query, req.params.session_id));
}
