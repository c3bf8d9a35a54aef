/**
 * WebSocket frames: JSON text, one object per frame, discriminated by `type`.
 *
 * Client → server frames are validated by the server against these schemas. A frame may
 * carry an `id` (the client's request id); the server echoes it on the frame that answers
 * (`ack`, `sync_done`, `pong`, `presence`, `refreshed`, the reader's own `read` receipt, or an `error`).
 *
 * Connect: `GET /ws?token=…` (or `Authorization: Bearer …`). Add `sync=1` to promise a
 * `sync` frame: the server then holds live messages until that sync is answered, so
 * catch-up and live traffic arrive in order, each message once.
 */
import Type, { type Static } from 'typebox';
import type { ErrorCode } from './errors.ts';
import type { Message, User } from './models.ts';
import type { Notification, NotificationUnread } from './notifications.ts';
import type { ConferenceInfo } from './conferences.ts';

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

/** Moves the reader's cursor forward. With an `id`, the answer is the reader's own `read` receipt carrying it (or an `error`). */
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

/** A catch-up. A connection runs its syncs one after another; more than 32 waiting → `sync.too_many_pending`. */
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
    /**
     * Notification catch-up: the id of the newest notification the client has. The inbox items
     * after it are sent (as `notification` frames, oldest first) before `sync_done`. The empty
     * string (a client with no cursor yet) sends the unread items. Absent: no notification
     * catch-up, and `sync_done` carries no `notifications`.
     */
    notifications_after: Type.Optional(Type.String({ maxLength: 64 })),
  },
  Closed,
);

export const PingFrame = Type.Object({ type: Type.Literal('ping'), id: Type.Optional(ReqId) }, Closed);

export const PresenceFrame = Type.Object(
  {
    type: Type.Literal('presence'),
    id: Type.Optional(ReqId),
    /** A connection watches at most `ws.maxPresenceWatches` users (`presence.too_many_watches`); `unsubscribe` is applied first. */
    subscribe: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000 })),
    unsubscribe: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000 })),
  },
  Closed,
);

/**
 * Swaps the token of the open connection for a newer one of the same user (before the current
 * one expires: the server closes a connection with 4501 at its token's expiry). Answered by
 * `refreshed`, or an `error` (`auth.*`, `user.disabled`); after an error the connection keeps
 * the token it had.
 */
export const RefreshFrame = Type.Object(
  { type: Type.Literal('refresh'), id: ReqId, token: Type.String({ minLength: 1, maxLength: 8192 }) },
  Closed,
);

/**
 * Call signalling (docs/calls.md). `invite` needs `conversation_id` and `av_type`; `accept`,
 * `refuse`, `cancel`, `hangup` and `heartbeat` need `call_id` (`call.invalid` otherwise). With
 * an `id`, the answer is a `call` frame carrying it (or an `error`). A participant of a call
 * in progress sends `heartbeat` every `call.heartbeat_ms`: a call without them ends (`lost`).
 */
export const CallFrame = Type.Object(
  {
    type: Type.Literal('call'),
    id: Type.Optional(ReqId),
    action: Type.Union([
      Type.Literal('invite'), Type.Literal('accept'), Type.Literal('refuse'), Type.Literal('cancel'), Type.Literal('hangup'), Type.Literal('heartbeat'),
    ]),
    conversation_id: Type.Optional(ConvId),
    call_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    av_type: Type.Optional(Type.Union([Type.Literal('audio'), Type.Literal('video')])),
  },
  Closed,
);

/** A STUN or TURN server for `RTCPeerConnection` (`RTCIceServer`); TURN ones carry time-limited credentials. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** An ICE candidate as `RTCIceCandidate.toJSON()` gives it (null `candidate`: the end of candidates). */
export const RtcCandidate = Type.Object(
  {
    candidate: Type.String({ maxLength: 2048 }),
    sdpMid: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    sdpMLineIndex: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 1024 }), Type.Null()])),
    usernameFragment: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
  },
  Closed,
);

/**
 * WebRTC signalling (docs/calls.md, "WebRTC"): an SDP offer or answer, or an ICE candidate,
 * relayed to another joined participant of the same call (`to`; `to_connection`: only that
 * connection of theirs, the `from_connection` of a signal they sent). Both must be joined in
 * the call (`call.rtc_not_joined`); an offer or answer needs `sdp`, a candidate `candidate`
 * (`call.rtc_invalid`). With an `id`, the answer is `rtc_sent` (or an `error`).
 */
export const RtcFrame = Type.Object(
  {
    type: Type.Literal('rtc'),
    id: Type.Optional(ReqId),
    call_id: Type.String({ minLength: 1, maxLength: 64 }),
    to: Type.String({ minLength: 1, maxLength: 128 }),
    to_connection: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    kind: Type.Union([Type.Literal('offer'), Type.Literal('answer'), Type.Literal('candidate')]),
    sdp: Type.Optional(Type.String({ minLength: 1, maxLength: 65_536 })),
    candidate: Type.Optional(RtcCandidate),
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
  refresh: RefreshFrame,
  call: CallFrame,
  rtc: RtcFrame,
} as const;

export type ClientFrameType = keyof typeof ClientFrames;
export type SendFrame = Static<typeof SendFrame>;
export type ReadFrame = Static<typeof ReadFrame>;
export type TypingFrame = Static<typeof TypingFrame>;
export type SyncFrame = Static<typeof SyncFrame>;
export type PingFrame = Static<typeof PingFrame>;
export type PresenceFrame = Static<typeof PresenceFrame>;
export type RefreshFrame = Static<typeof RefreshFrame>;
export type CallFrame = Static<typeof CallFrame>;
export type RtcFrame = Static<typeof RtcFrame>;
export type RtcCandidate = Static<typeof RtcCandidate>;
export type ClientFrame = SendFrame | ReadFrame | TypingFrame | SyncFrame | PingFrame | PresenceFrame | RefreshFrame | CallFrame | RtcFrame;

// ---- Server → client ---------------------------------------------------------------------

export interface HelloFrame {
  type: 'hello';
  connection_id: string;
  user: User;
  server_time: number;
  /** The client should send something (a `ping` at least) this often; the server drops silent connections after twice that. */
  heartbeat_ms: number;
  max_frame_bytes: number;
  /**
   * When the connection's token expires (ms, server clock): the server closes the connection
   * then (4501) unless a `refresh` frame gave it a newer token.
   */
  token_expires_at: number;
}

/** The answer to `refresh`: the connection now runs on the new token. */
export interface RefreshedFrame {
  type: 'refreshed';
  id: string;
  /** When the new token expires (ms, server clock). */
  token_expires_at: number;
  server_time: number;
  /** The user as stored now. */
  user: User;
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

/** Someone's read cursor moved (sent to the participants and all the reader's connections). */
export interface ReadReceiptFrame {
  type: 'read';
  /** On the connection that sent the `read` frame: that frame's id (the answer to it). */
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
  /** With `notifications_after` in the sync: where the inbox stands. */
  notifications?: SyncNotifications;
}

export interface SyncNotifications {
  /**
   * The newest inbox item when the catch-up began (null: the inbox is empty). A client keeps
   * the larger of it and the newest id it received as its cursor.
   */
  last_id: string | null;
  /** How many notifications this sync sent. */
  sent: number;
  unread: NotificationUnread;
}

/**
 * A notification, pushed to the online recipients when it is stored, and streamed by a
 * `sync` with `notifications_after`. Frames reach a connection in id order.
 */
export interface NotificationFrame {
  type: 'notification';
  /** The notification's kind (`S2C_SIGNED_PUSH`, …), as on `notification.kind`. */
  kind: string;
  notification: Notification;
}

/** Users joined (`S2C_TEAMMEMBER_ENTER`) or left (`S2C_TEAMMEMBER_LEAVE`) a conversation; sent to its participants, old and new. */
export interface MemberEventFrame {
  type: 'event';
  kind: 'S2C_TEAMMEMBER_ENTER' | 'S2C_TEAMMEMBER_LEAVE';
  conversation_id: string;
  user_ids: string[];
}

/**
 * The same user connected from another device of the same platform class. Under the tenant's
 * `notify` policy (the default) this connection stays open; under `kick` it is closed next,
 * with 4503 (do not reconnect by itself).
 */
export interface DifferentConnectionEventFrame {
  type: 'event';
  kind: 'S2C_DIFFERENT_CONNECTION';
  /** `mobile`, `web`, `desktop`, … (see `platformClass`). */
  platform_class: string;
}

/** Seed 001's call events: a call rings (`S2C_VIDEOCALL_INVITE`, to the callees) or ended (`S2C_VIDEOCALL_END`, to the other participants). Each comes with the `call` frame of the same change. */
export interface VideoCallEventFrame {
  type: 'event';
  kind: 'S2C_VIDEOCALL_INVITE' | 'S2C_VIDEOCALL_END';
  conversation_id: string;
  call: CallInfo;
  /** Seed 003's call content. */
  content: CallSignal;
}

export type EventFrame = MemberEventFrame | DifferentConnectionEventFrame | VideoCallEventFrame;

/** A call's state as the server holds it (docs/calls.md). */
export interface CallInfo {
  /** The call's id (seed 003's `roomId`). */
  id: string;
  conversation_id: string;
  caller_id: string;
  av_type: 'audio' | 'video';
  state: 'ringing' | 'active' | 'ended';
  participants: CallParticipantInfo[];
  created_at: number;
  /** Callees still ringing then stop (timeout). */
  ring_until: number;
  answered_at: number | null;
  ended_at: number | null;
  end_reason: 'cancel' | 'timeout' | 'refuse' | 'busy' | 'hangup' | 'lost' | null;
  /** The call's record in the conversation's history, once it ended. */
  record: { message_id: string; seq: number } | null;
  /** How often a participant sends `heartbeat`. */
  heartbeat_ms: number;
}

export interface CallParticipantInfo {
  user_id: string;
  /** `joined` (the caller from the start), `ringing`, `refused`, `busy` (in another call), `missed` (never answered), `left`. */
  state: 'ringing' | 'joined' | 'refused' | 'busy' | 'missed' | 'left';
  joined_at: number | null;
  left_at: number | null;
}

/**
 * Seed 003's call statuses: `invite`, `accept`, `refuse`, `cancel`, `timeout`, `busy`,
 * `other_answer` / `other_refuse` (the user answered or refused on another device), `hangup`
 * (a participant left), `end` (the call ended: `call.end_reason` says why), `heartbeat` (the
 * answer to one).
 */
export type CallStatus = 'invite' | 'accept' | 'refuse' | 'cancel' | 'timeout' | 'busy' | 'other_answer' | 'other_refuse' | 'hangup' | 'end' | 'heartbeat';

/** Seed 003's call content (`agoraKey` dropped: media keys come with the media part). `useTime` in seconds. */
export interface CallSignal {
  status: CallStatus;
  avType: 'audio' | 'video';
  uid: string;
  roomId: string;
  timestamp: number;
  useTime: number;
  /**
   * Seed 003's vendor key, in its place: the STUN/TURN servers for this user's media, with
   * TURN credentials that expire (`calls.turn.ttl`). On the invite to a callee, and on the
   * answers to the caller's invite and a callee's accept.
   */
  iceServers?: IceServer[];
}

/** A change of a call, to its participants' connections; the answer to a `call` frame carries its `id`. */
export interface CallEventFrame {
  type: 'call';
  id?: string;
  status: CallStatus;
  /** Who acted (`system` for a timeout or a lost call). */
  by: string;
  call: CallInfo;
  content: CallSignal;
}

/** A WebRTC signal relayed from another participant of the call (the `rtc` frame, as received). */
export interface RtcEventFrame {
  type: 'rtc';
  call_id: string;
  /** Who sent it, and from which connection (answer to that one with `to_connection`; null when sent over REST without one). */
  from: string;
  from_connection: string | null;
  kind: 'offer' | 'answer' | 'candidate';
  sdp?: string;
  candidate?: RtcCandidate;
}

/** The answer to an `rtc` frame with an `id`: the signal went on to the receiver's connections. */
export interface RtcSentFrame {
  type: 'rtc_sent';
  id: string;
  call_id: string;
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
  | NotificationFrame
  | EventFrame
  | RefreshedFrame
  | ErrorFrame
  | CallEventFrame
  | ConferenceEventFrame
  | DeskEventFrame
  | RtcEventFrame
  | RtcSentFrame;

/** A conference a Careline user takes part in changed (docs/conferences.md): on every Careline connection of theirs. */
export interface ConferenceEventFrame {
  type: 'conference';
  event: 'status' | 'info';
  conference: ConferenceInfo;
}

/** A front-desk event (docs/desk.md): seed 002's message shape, `type` the event's name, `mid` time-ordered. */
export interface DeskEventFrame {
  type: 'desk';
  event: Record<string, unknown>;
}

/** The most POSTs of one long-poll client in flight at once (their numbers `n` span at most this many from `from`). */
export const MAX_POSTS_IN_FLIGHT = 64;
