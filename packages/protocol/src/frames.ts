/**
 * WebSocket frames: JSON text, one object per frame, discriminated by `type`.
 *
 * Client → server frames are validated by the server against these schemas. A frame may
 * carry an `id` (the client's request id); the server echoes it on the frame that answers
 * (`ack`, `sync_done`, `pong`, or an `error`).
 *
 * Connect: `GET /ws?token=…` (or `Authorization: Bearer …`). Add `sync=1` to promise a
 * `sync` frame: the server then holds live messages until that sync is answered, so
 * catch-up and live traffic arrive in order, each message once.
 */
import Type, { type Static } from 'typebox';
import type { ErrorCode } from './errors.ts';
import type { Message, User } from './models.ts';

const ReqId = Type.String({ minLength: 1, maxLength: 64 });
const ConvId = Type.String({ minLength: 1, maxLength: 128 });
const Seq = Type.Integer({ minimum: 0 });
const Closed = { additionalProperties: false } as const;

/** What a client sends to post a message; also the REST body of a send. */
export const OutgoingMessage = Type.Object(
  {
    /** The client's own id for this message (1–64 chars). Sending the same id again returns the first result and stores nothing. */
    client_id: Type.String({ minLength: 1, maxLength: 64 }),
    type: Type.Integer(),
    content: Type.Record(Type.String(), Type.Unknown()),
  },
  Closed,
);
export type OutgoingMessage = Static<typeof OutgoingMessage>;

export const SendFrame = Type.Object(
  {
    type: Type.Literal('send'),
    id: ReqId,
    conversation_id: ConvId,
    message: OutgoingMessage,
  },
  Closed,
);

export const ReadFrame = Type.Object(
  { type: Type.Literal('read'), id: Type.Optional(ReqId), conversation_id: ConvId, seq: Seq },
  Closed,
);

export const TypingFrame = Type.Object(
  {
    type: Type.Literal('typing'),
    conversation_id: ConvId,
    state: Type.Optional(Type.Union([Type.Literal('typing'), Type.Literal('stopped')])),
  },
  Closed,
);

export const SyncFrame = Type.Object(
  {
    type: Type.Literal('sync'),
    id: Type.Optional(ReqId),
    /** Conversation id → the last seq the client has. Messages after it are sent, in order. */
    cursors: Type.Record(Type.String({ maxLength: 128 }), Seq),
    /**
     * Server time (ms) of the client's previous `sync_done`. Conversations the user joined
     * after it, and for which the client has no cursor, are sent from the start of the
     * membership. Without it, conversations with no cursor are only listed in `sync_done`.
     */
    since: Type.Optional(Type.Number({ minimum: 0 })),
  },
  Closed,
);

export const PingFrame = Type.Object({ type: Type.Literal('ping'), id: Type.Optional(ReqId) }, Closed);

export const PresenceFrame = Type.Object(
  {
    type: Type.Literal('presence'),
    id: Type.Optional(ReqId),
    subscribe: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000 })),
    unsubscribe: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000 })),
  },
  Closed,
);

export const ClientFrames = {
  send: SendFrame,
  read: ReadFrame,
  typing: TypingFrame,
  sync: SyncFrame,
  ping: PingFrame,
  presence: PresenceFrame,
} as const;

export type ClientFrameType = keyof typeof ClientFrames;
export type SendFrame = Static<typeof SendFrame>;
export type ReadFrame = Static<typeof ReadFrame>;
export type TypingFrame = Static<typeof TypingFrame>;
export type SyncFrame = Static<typeof SyncFrame>;
export type PingFrame = Static<typeof PingFrame>;
export type PresenceFrame = Static<typeof PresenceFrame>;
export type ClientFrame = SendFrame | ReadFrame | TypingFrame | SyncFrame | PingFrame | PresenceFrame;

// ---- Server → client ---------------------------------------------------------------------

export interface HelloFrame {
  type: 'hello';
  connection_id: string;
  user: User;
  server_time: number;
  /** The client should send something (a `ping` at least) this often; the server drops silent connections after twice that. */
  heartbeat_ms: number;
  max_frame_bytes: number;
}

export interface AckFrame {
  type: 'ack';
  id: string;
  conversation_id: string;
  message_id: string;
  seq: number;
  created_at: number;
  /** True when this client id was seen before: nothing new was stored. */
  duplicate: boolean;
}

export interface MessageFrame {
  type: 'message';
  message: Message;
}

/** Someone's read cursor moved (sent to the other participants and the reader's other devices). */
export interface ReadReceiptFrame {
  type: 'read';
  id?: string;
  conversation_id: string;
  user_id: string;
  seq: number;
}

export interface TypingEventFrame {
  type: 'typing';
  conversation_id: string;
  user_id: string;
  state: 'typing' | 'stopped';
}

export interface ConversationHead {
  id: string;
  last_seq: number;
  read_seq: number;
}

export interface SyncDoneFrame {
  type: 'sync_done';
  id?: string;
  /** Pass as `since` on the next sync. */
  server_time: number;
  /** Every conversation of the user with its newest seq and the user's read cursor. */
  conversations: ConversationHead[];
  /** How many messages this sync sent. */
  sent: number;
}

export interface PongFrame {
  type: 'pong';
  id?: string;
  server_time: number;
}

export interface PresenceEventFrame {
  type: 'presence';
  id?: string;
  user_id: string;
  online: boolean;
  /** When the user was last seen online (ms), if offline and known. */
  last_seen: number | null;
}

/** A conversation the user is in was created, changed, or its participants changed. */
export interface ConversationEventFrame {
  type: 'conversation';
  event: 'created' | 'updated' | 'participants' | 'removed';
  conversation_id: string;
}

export interface ErrorFrame {
  type: 'error';
  id?: string;
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export type ServerFrame =
  | HelloFrame
  | AckFrame
  | MessageFrame
  | ReadReceiptFrame
  | TypingEventFrame
  | SyncDoneFrame
  | PongFrame
  | PresenceEventFrame
  | ConversationEventFrame
  | ErrorFrame;
