/**
 * `/api/v2/search/messages`: full-text search over the messages the caller may read — a
 * user's conversations, or the tenant for an integrator's key (a key with X-On-Behalf-Of
 * searches as that user). docs/search.md.
 */
import Type from 'typebox';
import type { Api } from '../api.ts';
import type { Core } from '../../core.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../../search/service.ts';
import { errors, Id, Limit, Message, Nullable } from '../schemas.ts';

const Highlight = Type.Object({
  field: Type.String({ description: 'The content field: text, title, content, fileName, name, or content.text / content.title / content.fileName of a forwarded message' }),
  text: Type.String({ description: 'The field\'s text cut to at most 160 characters around the first match, with … where it was cut' }),
  ranges: Type.Array(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 2, maxItems: 2 }), { description: '[start, end) of each match in `text`, in UTF-16 code units (JavaScript string indexes), sorted, not overlapping' }),
});

const When = Type.String({ minLength: 1, maxLength: 40, description: 'ms since the epoch, or an ISO 8601 date or date-time (a date alone is midnight UTC)' });

export function searchRoutes(app: Api, core: Core): void {
  app.get('/api/v2/search/messages', {
    config: { auth: 'any' },
    schema: {
      tags: ['search'],
      summary: 'Search the messages the caller may read, newest first (Chinese and English; substrings of 2 characters or more)',
      description: 'A message matches when its text (text, card title and content, file name…) contains every word of `q` (words are split '
        + 'at spaces; words of 1 character are left out; ASCII letters match either case). A user searches the conversations they are a '
        + 'participant of; an API key the whole tenant. System messages and recalled or deleted ones are never found. Searches that show '
        + 'messages of a conversation with a patient are audit-logged. A page may hold fewer than `limit` hits (even none) and still '
        + 'have a `next_cursor`: the server stopped after a bounded amount of work; follow the cursor until it is null.',
      querystring: Type.Object({
        q: Type.Optional(Type.String({ maxLength: 4096, description: 'The words to find (at most 200 characters and 8 words)' })),
        conversation_id: Type.Optional(Id),
        sender_id: Type.Optional(Id),
        type: Type.Optional(Type.Integer({ description: 'A message type code' })),
        from: Type.Optional(When),
        to: Type.Optional(When),
        cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: '`next_cursor` of the previous page of the same search' })),
        limit: Limit(DEFAULT_LIMIT, MAX_LIMIT),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          items: Type.Array(Type.Object({ message: Message, highlight: Nullable(Highlight) })),
          next_cursor: Nullable(Type.String()),
        }),
        ...errors(400, 401, 403, 404),
      },
    },
  }, async (req) => core.search.messages(req.principal, req.query));
}
