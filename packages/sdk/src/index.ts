/**
 * Careline client SDK: connect a user to a Careline server from Node (22+) or a browser,
 * send messages with durable acknowledgements, receive each message once and in order,
 * and page history.
 */
export { CarelineClient, type CarelineClientOptions, type OutgoingContent, type SendOptions } from './client.ts';
export type {
  CarelineEvents,
  ConnectionState,
  ConversationEvent,
  DifferentConnectionEvent,
  MemberEvent,
  PresenceEvent,
  ReadReceipt,
  SendAck,
  ServerEvent,
  VideoCallEvent,
  StateChange,
  SyncedEvent,
  TypingEvent,
} from './events.ts';
export { CarelineError, type CarelineErrorCode, type ClientErrorCode } from './errors.ts';
export { CarelineApi, type ConversationPage, type HistoryPage, type HistoryQuery, type RestOptions, type UnreadCounts, type UserStatus } from './rest.ts';
export { MemoryStorage, type CarelineStorage } from './storage.ts';
export { NotificationsApi, type InboxPage, type InboxQuery, type MarkReadResult, type ReadSelection } from './notifications.ts';
export {
  DevicesApi, OsTypes, type Device, type OsType, type PushMute, type PushSettings, type PushVendor, type QuietHours, type RegisterDevice, type Registration,
} from './devices.ts';
export { CallsApi, type CallEvents, type CallLink, type CallUpdate, type RtcSignalOut } from './calls.ts';
export { highlightParts, searchMessages, type SearchHighlight, type SearchHit, type SearchPage, type SearchQuery } from './search.ts';
export { TopicsApi, type StartTopic, type TopicCounts, type TopicListQuery, type TopicPage } from './topics.ts';
export type { OutboxEntry } from './outbox.ts';
export { FilesApi, fileContent, type SendFileOptions, type StoredFile, type UploadBody, type UploadOptions, type UploadProgress } from './files.ts';
export { conversationTitle, isDefaultConversationName } from './titles.ts';
export { Emitter, type Listener } from './emitter.ts';
export { backoffDelay, type BackoffOptions } from './backoff.ts';
export { LongPollSocket, longPollFactory, type LongPollSocketOptions } from './transport-longpoll.ts';
export { MqttSocket, mqttFactory, mqttUrl, type MqttSocketOptions } from './transport-mqtt.ts';
export { webSocketUrl, type SocketCloseEvent, type SocketMessageEvent, type WebSocketFactory, type WebSocketLike } from './socket.ts';

// The protocol's constants and shapes, so apps need only this package.
export {
  BuiltinNotificationKindNames,
  BuiltinNotificationKinds,
  BusinessTypes,
  CloseCodes,
  ConversationTypes,
  ErrorCodes,
  EventKinds,
  MessageTypes,
  isErrorCode,
  kindDisplayName,
  platformClass,
  shouldReconnect,
} from '@careline/protocol/constants';
export type {
  BusinessType,
  CallContent,
  CallInfo,
  CallParticipantInfo,
  CallSignal,
  CallStatus,
  CloseCode,
  Conversation,
  ConversationHead,
  ConversationType,
  ConversationView,
  ErrorCode,
  Message,
  MessageType,
  Notification,
  NotificationKindInfo,
  NotificationKindNames,
  NotificationMode,
  NotificationUnread,
  Participant,
  TextContent,
  Topic,
  TopicState,
  User,
} from '@careline/protocol';

// Scheduled video conferences (seed 004; docs/conferences.md).
export * from './conference.ts';
export type {
  ConferenceAccess,
  ConferenceExchange,
  ConferenceInfo,
  ConferenceMedia,
  ConferenceParticipantInfo,
  ConferenceParticipantView,
  ConferenceQueue,
  ConferenceRole,
  ConferenceSockFrame,
  ConferenceStatus,
  ConferenceTransition,
} from '@careline/protocol';
export type { IceServer, RtcCandidate, RtcEventFrame } from '@careline/protocol';
export {
  CallMedia, type CallMediaEvents, type CallMediaOptions, type PeerConnectionConfig, type PeerConnectionFactory, type PeerConnectionLike, type StreamLike, type TrackLike,
} from './calls-rtc.ts';
