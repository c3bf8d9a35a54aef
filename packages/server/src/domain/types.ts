/** Shapes the domain passes between its parts and its stores. */
import type { Conversation, ConversationView, ForwardInfo, Message, Participant, Topic, TopicState, User, UserRole } from '@careline/protocol';

export type { Conversation, ConversationView, ForwardInfo, Message, Participant, Topic, TopicState, User, UserRole };

/** Who is calling: a logged-in user, or an integrator's app (optionally acting as one of its users). */
export type Principal =
  | { kind: 'user'; tenantId: string; userId: string; role: UserRole; sessionId: string }
  | { kind: 'app'; tenantId: string; appId: string };

export interface Tenant {
  id: string;
  name: string;
  created_at: number;
}

export interface App {
  id: string;
  tenant_id: string;
  name: string;
  /** SHA-256 hex of the key; the key itself is shown once and never stored. */
  key_hash: string;
  created_at: number;
  revoked_at: number | null;
}

export interface AuthSession {
  id: string;
  tenant_id: string;
  user_id: string;
  platform: string | null;
  device_id: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface UserInput {
  id: string;
  role: UserRole;
  name: string;
  avatar: string | null;
  disabled: boolean;
}

// ---- Notifications, care teams, tags, tenant settings ---------------------------------------

export type { NotificationAudience, NotificationMode, NotificationUnread } from '@careline/protocol';
import type { Notification as WireNotification, NotificationAudience, NotificationMode } from '@careline/protocol';

/**
 * A notification as the server holds it: the protocol's notification plus `seq`, the tenant's
 * notification sequence (1, 2, 3… in commit order, unique per tenant). `seq` is internal: the
 * Hub orders and fills live delivery with it; it is never sent (`wireNotification`).
 */
export interface Notification extends WireNotification {
  seq: number;
}
export type { WireNotification };

/** A notification kind of a tenant: built in (seed 001) or registered by the integrator. */
export interface NotificationKindDef {
  kind: string;
  mode: NotificationMode;
  builtin: boolean;
  /** When it was registered; null for built-in kinds. */
  created_at: number | null;
  /** The name for people in any language without its own; null: none. */
  display_name: string | null;
  /** Names for people per language tag (`{ "en": …, "zh-CN": … }`); `{}`: none. */
  display_names: Record<string, string>;
}

/**
 * Names given when registering a kind: a field left out keeps what is stored; `null` clears
 * it (`display_names: null` and `{}` both store none).
 */
export interface NotificationKindNamesInput {
  display_name?: string | null;
  display_names?: Record<string, string> | null;
}

/** Who a notification goes to, as the domain resolved it. `users` covers one user too. */
export type NotificationTarget =
  | { type: 'users'; ids: readonly string[] }
  | { type: 'team'; id: string }
  | { type: 'tag'; tag: string }
  | { type: 'tenant' };

/**
 * A notification ready to be stored (`read_at` is per user, so not here; `seq` is the store's).
 * `id` is the id asked for: the store keeps it, or replaces it to keep ids in commit order.
 */
export interface NewNotification extends Omit<Notification, 'read_at' | 'seq'> {
  tenant_id: string;
  mode: NotificationMode;
  audience: NotificationAudience;
  /** The app that sent it. */
  created_by: string;
}

export interface InboxQuery {
  kind?: string;
  /** Only unread items. */
  unread?: boolean;
  limit: number;
  /** Items older than this id (the previous page's `next_cursor`). */
  before?: string;
}

/** A care team: a named set of users of the tenant, addressed by notifications. */
export interface Team {
  id: string;
  name: string;
  members: string[];
  created_at: number;
  updated_at: number;
}

/** What a user's new connection does to their older ones of the same platform class. */
export type ConnectionPolicy = 'notify' | 'allow_many' | 'kick';

export interface TenantSettings {
  /**
   * `notify` (the default): the older ones get `S2C_DIFFERENT_CONNECTION` and stay open;
   * `kick`: they get it and are closed (4503); `allow_many`: nothing happens to them.
   */
  connection_policy: ConnectionPolicy;
  /** Whether a patient may open a conversation with another patient (default false: see docs/access-policy.md). */
  patient_to_patient: boolean;
  updated_at: number | null;
}

export interface NewConversation {
  tenant_id: string;
  id: string;
  type: number;
  business_type: number;
  name: string;
  status: number;
  created_by: string;
  participants: { user_id: string; role: string }[];
}

/** A message ready to be written; `seq` is assigned by the store inside the transaction. */
export interface NewMessage {
  tenant_id: string;
  conversation_id: string;
  id: string;
  sender_id: string;
  type: number;
  /** The content, as sent (returned in the stored message without re-parsing). */
  content: Record<string, unknown>;
  /** The same content serialised to JSON (serialised once, stored as is). */
  content_json: string;
  client_id: string | null;
  created_at: number;
  forward: ForwardInfo | null;
  /**
   * The sender is of the care team (doctor or staff): if the session has an open topic with
   * no reply yet, this message is its first reply (recorded in the same transaction).
   */
  care_team?: boolean;
  /**
   * `false`: no after-commit consumer wants this message (`AfterCommit.wants`: not a call
   * record, and this server pushes nothing and the tenant has no webhook): its append writes
   * no outbox job for it — unless another message of its conversation in the same batch is
   * wanted, which names the whole range. Absent: wanted.
   */
  outbox?: false;
}


export type NewTopic = Omit<Topic, 'status' | 'reply' | 'start_message_id' | 'start_seq' | 'end_message_id' | 'end_seq' | 'ended_at' | 'ended_by' | 'first_reply_at' | 'first_reply_by' | 'entered_at'>;


export interface TopicQuery {
  session_id?: string;
  /** Topics of sessions this user is a participant of. */
  member?: string;
  /** Topics this care-team user may see: of sessions they are in, or of care teams they are a member of. */
  viewer?: string;
  patient_id?: string;
  team_id?: string;
  doctor_id?: string;
  /** Only topics of sessions of this type (1: family-doctor "health" consultations). */
  session_type?: number;
  state?: TopicState;
  since?: number;
  until?: number;
  limit: number;
  /** Opaque cursor from the previous page (newest first). */
  cursor?: string;
}

export interface TopicStatsRow {
  key: string | null;
  count: number;
  replied: number;
  unreplied: number;
  in_progress: number;
  ended_unreplied: number;
  /** First-response times (ms) of the replied topics, ascending. */
  response_ms: number[];
}

export type AppendResult =
  | { ok: true; message: Message; duplicate: boolean }
  | { ok: false; code: 'conversation.not_found' | 'message.client_id_conflict' };

/** A conversation of a user with where the user stands in it. */
export interface Membership {
  id: string;
  last_seq: number;
  read_seq: number;
  joined_seq: number;
  joined_at: number;
}

export interface ListQuery {
  type?: number;
  business_type?: number;
  limit: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
}

/** One read of a conversation that holds a patient. */
export interface AuditEntry {
  tenant_id: string;
  at: number;
  /** `user`: a user read (with their token, or through an API key on their behalf); `app`: the integrator itself. */
  actor_kind: 'user' | 'app';
  /** The user id, or `app:<app id>` for an integrator acting as itself. */
  actor_id: string;
  /** The integrator's app that made the call (as itself, or on behalf of `actor_id`); null for a user's own token. */
  app_id: string | null;
  /** What was read: `messages.history`, `messages.get`, `messages.unread`, `topic.messages`, `sessions.get`, `sessions.list`, `sessions.recent`. */
  action: string;
  conversation_id: string;
  detail: Record<string, unknown> | null;
}

/** A stored entry: its place in the tenant's hash chain (see `domain/audit.ts`). */
export interface AuditRecord extends AuditEntry {
  id: number;
  /** Position in the tenant's chain: 1, 2, 3… with no gaps. */
  seq: number;
  /** The hash of the record before (64 zeros for the first). */
  prev_hash: string;
  /** SHA-256 (hex) of the record's canonical form, `prev_hash` included. */
  hash: string;
}

export interface AuditQuery {
  conversation_id?: string;
  actor_id?: string;
  app_id?: string;
  since?: number;
  until?: number;
  /** Records with a larger id (cursor). */
  after_id?: number;
  limit: number;
}

/** A message as the JSON text of the `Message` schema, with its seq (what history pages are built from). */
export interface MessageText {
  seq: number;
  id: string;
  json: string;
}

export interface HistoryQuery {
  /** Messages with seq < before (newest first page when neither is given). */
  before?: number;
  /** Messages with seq > after. */
  after?: number;
  limit: number;
}

// ---- devices and push (seed 003) ----------------------------------------------------------

export type { Device, OsType, PushMute, PushSettings, PushVendor, QuietHours } from '@careline/protocol';
import type { Device, OsType, PushVendor } from '@careline/protocol';

/** What a registration stores. */
export interface DeviceRegistration {
  tenant_id: string;
  device_id: string;
  user_id: string;
  os_type: OsType;
  vendor: PushVendor;
  push_token: string | null;
  device_info: Record<string, unknown>;
}

/** Whether a webhook subscription is sent to: `disabled` by its owner, or by the server after persistent failure. */
export type WebhookStatus = 'active' | 'disabled';

/** A tenant's webhook subscription: where to POST which event types, signed with its secret (`docs/webhooks.md`). */
export interface WebhookSubscription {
  id: string;
  tenant_id: string;
  url: string;
  /** Event types (`webhooks/events.ts`), or `["*"]` for every type. */
  events: string[];
  description: string | null;
  /** The HMAC-SHA256 key of the signatures (shown to the integrator at creation and rotation only). */
  secret: string;
  status: WebhookStatus;
  /** Why it is disabled: `"failing"` (the server, after persistent failure) or `"manual"`. */
  disabled_reason: string | null;
  disabled_at: number | null;
  /** Failed attempts in a row, across its deliveries (a success resets it). */
  failures: number;
  created_at: number;
  updated_at: number;
}

/** A change of a subscription; `status: "active"` also resets its failure streak. */
export interface WebhookPatch {
  url?: string;
  events?: string[];
  description?: string | null;
  secret?: string;
  status?: WebhookStatus;
}

/** One attempt of one delivery (a delivery is a job: one event to one subscription). */
export interface WebhookAttempt {
  id: string;
  tenant_id: string;
  subscription_id: string;
  /** The job that carries the delivery: what `replay` names. */
  delivery_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  ok: boolean;
  /** The receiver's HTTP status; null when no answer came (refused, timed out). */
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  at: number;
}

/** A third-party app (OAuth2 client credentials): its id and the SHA-256 of its secret. */
export interface OAuthApp {
  id: string;
  tenant_id: string;
  name: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
}

// ---- a tenant's push choices: previews, the WeChat channel (seed 000) --------------------------

/**
 * A WeChat template message for one kind of event (`message`: a new message). `data` maps
 * each keyword of the template (`thing1`, `time2`…) to a text with placeholders: `{title}`,
 * `{body}` (the generic line, or the preview where previews are on), `{time}`, `{badge}`,
 * `{conversation_id}`, `{message_id}`. `url` (placeholders too) opens on a tap; or
 * `miniprogram` (appid, pagepath) opens a mini program.
 */
export interface WechatTemplate {
  template_id: string;
  url: string | null;
  miniprogram: { appid: string; pagepath: string } | null;
  data: Record<string, string>;
}

/** What a tenant chose for its pushes (management API). */
export interface TenantPushSettings {
  /** Conversation types whose pushes carry a preview of the message's text; none by default (no patient data in a push). */
  preview_conversation_types: number[];
  /** WeChat template messages to patients without a live connection (seed 000), when enabled and a template is set. */
  wechat: { enabled: boolean; templates: { message?: WechatTemplate } };
  updated_at: number | null;
}

/** A call's participant as stored (`Storage.calls`). */
export interface CallParticipant {
  user_id: string;
  state: 'ringing' | 'joined' | 'refused' | 'busy' | 'missed' | 'left';
  joined_at: number | null;
  left_at: number | null;
  /** The participant's last sign of life (a heartbeat or an action), ms. */
  seen_at: number;
}

export type CallEndReason = 'cancel' | 'timeout' | 'refuse' | 'busy' | 'hangup' | 'lost';

/** A call (signalling state), shared by every node through storage (docs/calls.md). */
export interface Call {
  tenant_id: string;
  id: string;
  conversation_id: string;
  caller_id: string;
  av_type: 'audio' | 'video';
  state: 'ringing' | 'active' | 'ended';
  participants: CallParticipant[];
  created_at: number;
  ring_until: number;
  answered_at: number | null;
  ended_at: number | null;
  end_reason: CallEndReason | null;
  /** Bumped by every change: a change applies only to the version it was computed from. */
  version: number;
  record_message_id: string | null;
  record_seq: number | null;
}
