/** The JSON shapes of the things the server returns, shared by REST, WebSocket and the SDK. */
import Type, { type Static } from 'typebox';

export const UserRoles = ['patient', 'doctor', 'staff', 'admin', 'system'] as const;
export type UserRole = (typeof UserRoles)[number];

export const User = Type.Object({
  id: Type.String(),
  role: Type.Union(UserRoles.map((r) => Type.Literal(r))),
  name: Type.String(),
  avatar: Type.Union([Type.String(), Type.Null()]),
  disabled: Type.Boolean(),
  created_at: Type.Number(),
  updated_at: Type.Number(),
});
export type User = Static<typeof User>;

export const ForwardInfo = Type.Object({
  conversation_id: Type.String(),
  message_id: Type.String(),
  sender_id: Type.String(),
});
export type ForwardInfo = Static<typeof ForwardInfo>;

export const Message = Type.Object({
  /** Server id: time-sortable, unique in the tenant. */
  id: Type.String(),
  conversation_id: Type.String(),
  /** Position in the conversation: 1, 2, 3… with no gaps. */
  seq: Type.Integer(),
  sender_id: Type.String(),
  type: Type.Integer(),
  /**
   * The content, by the schema of `type`; `null` once recalled. It nests at most
   * `MAX_CONTENT_DEPTH` levels; a message stored with deeper content (before that limit) is
   * served as type 0 with the content of `unavailableContent` (`event: "message.unavailable"`).
   */
  content: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  /** The sender's own id for this message, which made the send idempotent. */
  client_id: Type.Union([Type.String(), Type.Null()]),
  /** Milliseconds since the epoch, server clock. */
  created_at: Type.Number(),
  recalled_at: Type.Union([Type.Number(), Type.Null()]),
  forward: Type.Union([ForwardInfo, Type.Null()]),
});
export type Message = Static<typeof Message>;

export const Participant = Type.Object({
  user_id: Type.String(),
  /** The participant's role in this conversation (free text, e.g. `member`, `owner`, or the host's own codes). */
  role: Type.String(),
  name: Type.String(),
  avatar: Type.Union([Type.String(), Type.Null()]),
  user_role: Type.String(),
  joined_at: Type.Number(),
  /** The last seq this participant has read. */
  read_seq: Type.Integer(),
});
export type Participant = Static<typeof Participant>;

export const Conversation = Type.Object({
  id: Type.String(),
  type: Type.Integer(),
  business_type: Type.Integer(),
  name: Type.String(),
  status: Type.Integer(),
  created_at: Type.Number(),
  updated_at: Type.Number(),
  /** The seq of the newest message (0: none yet). */
  last_seq: Type.Integer(),
  last_message_at: Type.Union([Type.Number(), Type.Null()]),
});
export type Conversation = Static<typeof Conversation>;

/** A conversation as one participant sees it: with their cursor, unread count and sticky flag. */
export const ConversationView = Type.Object({
  ...Conversation.properties,
  read_seq: Type.Integer(),
  unread: Type.Integer(),
  sticky: Type.Boolean(),
  last_message: Type.Union([Message, Type.Null()]),
});
export type ConversationView = Static<typeof ConversationView>;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

/** A consultation inside a session. status 0 open / 10 ended; reply 0 no care-team reply yet / 1 replied. */
export const Topic = Type.Object({
  /** The host system's consult code. */
  id: Type.String(),
  session_id: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  patient_id: Nullable(Type.String()),
  team_id: Nullable(Type.String()),
  doctor_id: Nullable(Type.String()),
  consult_type: Nullable(Type.String()),
  status: Type.Integer(),
  reply: Type.Integer(),
  start_message_id: Nullable(Type.String()),
  start_seq: Type.Integer(),
  end_message_id: Nullable(Type.String()),
  end_seq: Nullable(Type.Integer()),
  created_at: Type.Number(),
  created_by: Type.String(),
  ended_at: Nullable(Type.Number()),
  ended_by: Nullable(Type.String()),
  first_reply_at: Nullable(Type.Number()),
  first_reply_by: Nullable(Type.String()),
  entered_at: Nullable(Type.Number()),
}, { description: 'status 0 open / 10 ended; reply 0 no care-team reply yet / 1 replied' });
export type Topic = Static<typeof Topic>;

/** unreplied (0/0), in_progress (0/1), replied (10/1); ended_unreplied (10/0) is counted in none of the three. */
export type TopicState = 'unreplied' | 'in_progress' | 'replied' | 'ended_unreplied';
