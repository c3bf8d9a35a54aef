/** Schema pieces shared by the routes (request parts and replies), for validation and OpenAPI. */
import Type from 'typebox';
import { Conversation, ConversationView, Message, Participant, User } from '@careline/protocol';

export const ErrorReply = Type.Object(
  { code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) },
  { $id: undefined, description: 'Every error: a stable code (docs/errors.md) and a message.' },
);

export const SessionIdParams = Type.Object({ session_id: Type.String({ minLength: 1, maxLength: 128 }) });
export const MessageIdParams = Type.Object({
  session_id: Type.String({ minLength: 1, maxLength: 128 }),
  message_id: Type.String({ minLength: 1, maxLength: 64 }),
});
export const ParticipantParams = Type.Object({
  session_id: Type.String({ minLength: 1, maxLength: 128 }),
  participant_id: Type.String({ minLength: 1, maxLength: 4096, description: 'One id, or several separated by commas.' }),
});
export const UserIdParams = Type.Object({ user_id: Type.String({ minLength: 1, maxLength: 128 }) });

export const Limit = (def: number, max: number) => Type.Optional(Type.Integer({ minimum: 1, maximum: max, default: def }));

/** An id in a path or query: 1 to 128 characters. */
export const Id = Type.String({ minLength: 1, maxLength: 128 });
export const SessionTopic = Type.Object({ session_id: Id, topic_id: Id });

/** A period of time in a query, as ms since the epoch. */
export const Period = {
  since: Type.Optional(Type.Integer({ minimum: 0, description: 'ms since the epoch, inclusive' })),
  until: Type.Optional(Type.Integer({ minimum: 0, description: 'ms since the epoch, exclusive' })),
};

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

/** First-response times of consultations, in ms. */
export const ResponseTimes = Type.Object({
  count: Type.Integer(), avg: Nullable(Type.Number()), p50: Nullable(Type.Number()), p90: Nullable(Type.Number()), max: Nullable(Type.Number()),
});

export const ParticipantEntry = Type.Union([
  Type.String({ minLength: 1, maxLength: 200, description: '"userId" or "userId:role"' }),
  Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }), role: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })) }, { additionalProperties: false }),
]);

export { Conversation, ConversationView, Message, Participant, User };

/** For routes whose body is optional: a request without one is validated as `{}`. */
export const emptyBody = async (req: { body: unknown }) => {
  req.body ??= {};
};

/** The ids of a comma-separated list (a path segment or query value), trimmed, without blanks or repeats. */
export const commaIds = (s: string): string[] => [...new Set(s.split(',').map((x) => x.trim()).filter(Boolean))];

/** Standard error replies for the OpenAPI description. */
export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorReply]));
