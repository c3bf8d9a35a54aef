/** The events of a `CarelineClient` and their payloads. */
import type { CallInfo, CallSignal, ConversationEventFrame, ConversationHead, Message, Notification, NotificationUnread } from '@careline/protocol';
import type { CarelineError } from './errors.ts';

/**
 * - `connecting`: first connection attempts after `connect()`.
 * - `open`: connected and caught up (the initial sync is done).
 * - `reconnecting`: the connection was lost; retrying with backoff.
 * - `closed`: not connected and not trying (before `connect()`, after `close()`, or after a
 *   terminal close such as a revoked token).
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  /** Why the client stopped, for `closed` after a terminal error. */
  error?: CarelineError;
}

/** The server's durable acknowledgement of a sent message. */
export interface SendAck {
  conversation_id: string;
  client_id: string;
  message_id: string;
  seq: number;
  created_at: number;
  /** True when an earlier attempt had already stored the message (nothing was stored twice). */
  duplicate: boolean;
}

export interface ReadReceipt {
  conversation_id: string;
  user_id: string;
  seq: number;
}

export interface TypingEvent {
  conversation_id: string;
  user_id: string;
  state: 'typing' | 'stopped';
}

export interface PresenceEvent {
  user_id: string;
  online: boolean;
  last_seen: number | null;
}

export interface ConversationEvent {
  event: ConversationEventFrame['event'];
  conversation_id: string;
}

/** A full sync finished: the client is caught up. */
export interface SyncedEvent {
  server_time: number;
  /** Every conversation of the user with its newest seq and the user's read cursor. */
  conversations: ConversationHead[];
  /** Messages this sync delivered. */
  sent: number;
  /** Notifications this sync delivered, and the unread counts after it. */
  notifications?: { sent: number; unread: NotificationUnread };
}

/** Users joined (`S2C_TEAMMEMBER_ENTER`) or left (`S2C_TEAMMEMBER_LEAVE`) a conversation of the user. */
export interface MemberEvent {
  kind: 'S2C_TEAMMEMBER_ENTER' | 'S2C_TEAMMEMBER_LEAVE';
  conversation_id: string;
  user_ids: string[];
}

/**
 * The same user connected from another device of the same platform class. Under the tenant's
 * `notify` policy (the default) this client stays connected; under `kick` the connection closes
 * next (the client stops, with a `connection.replaced` error).
 */
export interface DifferentConnectionEvent {
  kind: 'S2C_DIFFERENT_CONNECTION';
  platform_class: string;
}

/** Seed 001's call events: a call rings for this user, or one they were in ended (the same changes come as `client.calls` events). */
export interface VideoCallEvent {
  kind: 'S2C_VIDEOCALL_INVITE' | 'S2C_VIDEOCALL_END';
  conversation_id: string;
  call: CallInfo;
  content: CallSignal;
}

/** An `event` frame of the server: not stored, not in the inbox. */
export type ServerEvent = MemberEvent | DifferentConnectionEvent | VideoCallEvent;

export interface CarelineEvents {
  /** A message from someone else (or from the user's other devices), once, in seq order per conversation. */
  message: Message;
  /** One of this client's sends was durably stored. */
  ack: SendAck;
  /** Someone's read cursor moved. */
  read: ReadReceipt;
  typing: TypingEvent;
  presence: PresenceEvent;
  /** A conversation of the user was created, changed, or its participants changed. */
  conversation: ConversationEvent;
  /**
   * A notification from the integrator (`notification.kind`: `S2C_SIGNED_PUSH`, …): live when
   * it is sent, or during the catch-up after a (re)connect for those sent while offline. Each
   * once, oldest first.
   */
  notification: Notification;
  /** Member enter/leave, connected elsewhere. */
  event: ServerEvent;
  state: StateChange;
  /** Catch-up finished after a (re)connect. */
  synced: SyncedEvent;
  /** Something went wrong that no promise reports (terminal close, failed restored send, skipped gap…). */
  error: CarelineError;
  /** A front-desk event (docs/desk.md: `request_chat`, `join_chat`, `users_changed`…), seed 002's shape. */
  desk: Record<string, unknown>;
}
