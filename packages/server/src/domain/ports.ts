/**
 * The narrow interfaces the domain needs from the outside world. Each backend implements
 * them (SQLite now; PostgreSQL and Redis later) and passes the same contract tests.
 * All methods are async so that a networked backend fits the same shape.
 */
import type { EscalationPolicy, PushDelivery } from './escalation.ts';
import type {
  App, AppendResult, AuditEntry, AuditQuery, AuditRecord, AuthSession, Conversation, ConversationView, HistoryQuery, ListQuery, MessageText, Membership,
  Message, NewConversation, NewMessage, NewTopic, Participant, Tenant, Topic, TopicQuery, TopicState, TopicStatsRow, User, UserInput,
} from './types.ts';
import type { Device, DeviceRegistration, PushMute, PushSettings, QuietHours, TenantPushSettings } from './types.ts';
import type { OAuthApp, WebhookAttempt, WebhookPatch, WebhookSubscription } from './types.ts';
import type { Call } from './types.ts';
import type { DomainEvent } from './events.ts';
import type { UserRole } from './types.ts';
import type {
  InboxQuery, NewNotification, Notification, NotificationKindDef, NotificationKindNamesInput, NotificationMode, NotificationTarget, NotificationUnread, Team, TenantSettings,
} from './types.ts';
import type { ConferenceStore } from '../conferences/store.ts';
import type { DeskStore } from '../desk/types.ts';

export interface TenantStore {
  /** Creates a tenant and its `system` user. Throws `tenant.exists` when the id is taken. */
  createTenant(tenant: Tenant): Promise<void>;
  getTenant(id: string): Promise<Tenant | null>;
  createApp(app: App): Promise<void>;
  /** The app whose key hashes to `keyHash`, revoked or not. */
  findAppByKeyHash(keyHash: string): Promise<App | null>;
  revokeApp(tenantId: string, appId: string, at: number): Promise<boolean>;
}

export interface UserStore {
  /** Inserts or updates a user; `created` tells which. */
  upsertUser(tenantId: string, input: UserInput, now: number): Promise<{ user: User; created: boolean }>;
  getUser(tenantId: string, id: string): Promise<User | null>;
  /** The users of `ids` that exist, in no particular order. */
  getUsers(tenantId: string, ids: readonly string[]): Promise<User[]>;
  /**
   * The tenant's users in id order (binary), those after `after` (any string, existing or not),
   * at most `limit`; only of `role` / `disabled` when given. Never the built-in system user.
   */
  listUsers(tenantId: string, q: UserListQuery): Promise<User[]>;
}

export interface UserListQuery {
  limit: number;
  after?: string;
  role?: UserRole;
  disabled?: boolean;
}

export interface AuthSessionStore {
  createSession(session: AuthSession): Promise<void>;
  getSession(id: string): Promise<AuthSession | null>;
  /** The session and its user (null if the user is gone), read together: what a token check needs, in one read. */
  getSessionWithUser(id: string): Promise<{ session: AuthSession; user: User | null } | null>;
  /** Marks a session revoked; false if there was none or it was already revoked. */
  revokeSession(id: string, at: number): Promise<boolean>;
  /**
   * Deletes up to `limit` sessions that expired or were revoked before `before` (ms); returns
   * how many. One bounded transaction: call again until it returns 0.
   */
  pruneSessions(before: number, limit: number): Promise<number>;
}

export interface ConversationStore {
  /**
   * Creates a conversation with its participants, atomically. If one with the id exists,
   * nothing changes and the existing one is returned with `created: false` (idempotent create).
   * New participants start with `read_seq = joined_seq = 0`.
   */
  createConversation(input: NewConversation, now: number): Promise<{ conversation: Conversation; created: boolean }>;
  getConversation(tenantId: string, id: string): Promise<Conversation | null>;
  updateConversation(tenantId: string, id: string, patch: { name?: string; status?: number }, now: number): Promise<Conversation | null>;
  /** The user's conversations: sticky first, then by newest activity; cursor-paged. */
  listForUser(tenantId: string, userId: string, q: ListQuery): Promise<{ items: ConversationView[]; next_cursor: string | null }>;
  countForUser(tenantId: string, userId: string, q: { type?: number; business_type?: number }): Promise<number>;
  /** One conversation as `userId` sees it, or null if they are not a participant. */
  viewForUser(tenantId: string, userId: string, id: string): Promise<ConversationView | null>;
  getParticipants(tenantId: string, conversationId: string, userIds?: readonly string[]): Promise<Participant[]>;
  memberIds(tenantId: string, conversationId: string): Promise<string[]>;
  /**
   * Removes then adds participants, atomically. Added users join at the current last seq
   * (their `read_seq` and `joined_seq` start there); re-adding an existing one updates its role.
   */
  changeParticipants(
    tenantId: string, conversationId: string,
    change: { add: { user_id: string; role: string }[]; remove: string[] }, now: number,
  ): Promise<{ added: string[]; removed: string[] }>;
  setSticky(tenantId: string, conversationId: string, userId: string, sticky: boolean, now: number): Promise<boolean>;
  /** Moves the read cursor forward only (never back, never past last_seq). Returns the cursor after, or null if not a participant. */
  advanceRead(tenantId: string, conversationId: string, userId: string, seq: number): Promise<number | null>;
  /** Every conversation of the user with its head and the user's cursor. */
  memberships(tenantId: string, userId: string): Promise<Membership[]>;
}

export interface MessageStore {
  /**
   * Writes a batch in ONE transaction (group commit): for each message, in order, assigns the
   * next seq of its conversation, stores it, and moves the sender's read cursor to it. A
   * message whose (sender, client_id) was stored before is not stored again: its result is the
   * first message with `duplicate: true`. When this resolves, every `ok` result is durable.
   */
  append(batch: readonly NewMessage[]): Promise<AppendResult[]>;
  getById(tenantId: string, conversationId: string, messageId: string): Promise<Message | null>;
  /** Ascending by seq. See `HistoryQuery`. */
  history(tenantId: string, conversationId: string, q: HistoryQuery): Promise<Message[]>;
  /** The same messages as `history`, as JSON text (`storage/rows.ts`' `messageJson`): for answers that only send them on. */
  historyText(tenantId: string, conversationId: string, q: HistoryQuery): Promise<MessageText[]>;
  /**
   * Recalls a message and appends `notice` (a system message saying so) atomically:
   * the original keeps its seq with `content: null` and `recalled_at` set.
   */
  recall(tenantId: string, conversationId: string, messageId: string, at: number, notice: NewMessage): Promise<{ recalled: Message; notice: Message } | null>;
}

export interface TopicStore {
  /**
   * Starts a topic: inserts it and appends `start` (its type-6 message) in one transaction;
   * the topic's start seq is that message's. If the id exists nothing changes and the
   * existing topic is returned with `created: false`. Fails with `topic.already_open` when the
   * session has another open topic, `conversation.not_found` when the session does not exist.
   */
  start(tenantId: string, topic: NewTopic, start: NewMessage): Promise<{ topic: Topic; created: boolean; message: Message | null }>;
  /** Ends an open topic and appends `messages` (types 7 and 10) in one transaction; null if not open. */
  end(tenantId: string, topicId: string, at: number, by: string, messages: readonly NewMessage[]): Promise<{ topic: Topic; messages: Message[] } | null>;
  /** Records the patient entering the topic and appends `message` (type 14) in one transaction. */
  enter(tenantId: string, topicId: string, at: number, message: NewMessage): Promise<{ topic: Topic; message: Message } | null>;
  get(tenantId: string, topicId: string): Promise<Topic | null>;
  /** The newest topic of a session. */
  latest(tenantId: string, sessionId: string): Promise<Topic | null>;
  /** Newest first, cursor-paged. */
  list(tenantId: string, q: TopicQuery): Promise<{ items: Topic[]; next_cursor: string | null }>;
  /** Counts by state for the topics matching `q` (limit and cursor ignored). */
  countByState(tenantId: string, q: Omit<TopicQuery, 'limit' | 'cursor' | 'state'>): Promise<Record<TopicState, number>>;
  /** Statistics grouped by team or doctor for topics created in [since, until). */
  stats(tenantId: string, groupBy: 'team' | 'doctor', q: Omit<TopicQuery, 'limit' | 'cursor' | 'state'>): Promise<TopicStatsRow[]>;
  /** Every topic created in [since, until), for reconciliation with the host system. */
  created(tenantId: string, since: number, until: number): Promise<Topic[]>;
}

/**
 * Notifications and each user's inbox. A notification is stored once. User, list, team and
 * tag targets are expanded to one recipient row per user when it is stored, in the same
 * transaction (team members and tag holders at that moment). A tenant-wide broadcast is not
 * expanded: it is one row, in the inbox of every user of the tenant created before it; a
 * user's read state of a broadcast is recorded when that user reads it.
 *
 * The inbox of a user: `each`-mode items all; of a `latest`-mode kind only the newest (older
 * ones are superseded: not listed, not counted unread). Ids order everything (time-sortable).
 *
 * Order across writers: each notification gets `seq`, the tenant's notification sequence —
 * 1, 2, 3… with no gap, in commit order, unique per tenant — and the ids of a tenant's
 * notifications increase with `seq` too (ids are in commit order per tenant), so a client's
 * catch-up cursor (the newest id it holds) never passes a notification committed later.
 */
export interface NotificationStore {
  /**
   * Registers a custom kind with its names. Registering it again with the same mode keeps
   * the kind (`created: false`) and replaces the names given (a name left out stays); with
   * another mode fails with `notification.kind_exists` and changes nothing.
   */
  registerKind(
    tenantId: string, kind: string, mode: NotificationMode, now: number, names?: NotificationKindNamesInput,
  ): Promise<{ kind: NotificationKindDef; created: boolean }>;
  /** A registered (custom) kind of the tenant; built-in kinds are the domain's. */
  getKind(tenantId: string, kind: string): Promise<NotificationKindDef | null>;
  listKinds(tenantId: string): Promise<NotificationKindDef[]>;
  /**
   * Stores a notification and its recipient rows in one transaction. Fails, storing nothing,
   * with `user.not_found` (details.missing) when a listed user does not exist, `team.not_found`,
   * or `notification.target_invalid` when a team or tag names nobody. `recipients`: the user ids
   * (null for a tenant broadcast); `count`: how many users it addresses (for a broadcast, the
   * tenant's users at that moment, counted, not stored).
   *
   * Returns the notification as stored, which the caller uses from then on (events, answers):
   * its `seq` is the tenant's newest seq + 1, taken under the tenant's lock in the
   * transaction that stores it; its `id` is `n.id` when that is greater than the id of the
   * tenant's newest notification, else the next ULID after that id (the id's last character
   * incremented, with carry, in Crockford base32), so that ids follow `seq`.
   */
  create(n: NewNotification, target: NotificationTarget): Promise<{ notification: Notification; recipients: string[] | null; count: number }>;
  /**
   * The tenant's notifications with `seq > afterSeq`, ascending by `seq`, at most `limit`, each
   * with its recipient user ids (null for a tenant broadcast). Only committed notifications,
   * and only the tenant's. Since seqs have no gaps, a caller that holds seq s and reads after
   * it gets s + 1 first. The Hub reads this to deliver notifications whose event it missed.
   * `read_at` of the returned notifications is null (read state is per user). A `limit` of 0
   * or less returns nothing.
   */
  since(tenantId: string, afterSeq: number, limit: number): Promise<{ notification: Notification; recipients: string[] | null }[]>;
  /** The user's inbox, newest first, cursor-paged; `read_at` is the user's. */
  inbox(tenantId: string, userId: string, q: InboxQuery): Promise<{ items: Notification[]; next_cursor: string | null }>;
  /** Catch-up: inbox items with an id greater than `after` (all, without it), oldest first; only the unread ones with `unread`. */
  inboxAfter(tenantId: string, userId: string, q: { after?: string; unread?: boolean; limit: number }): Promise<Notification[]>;
  /** The newest notification of each kind in the user's inbox, newest first. */
  latestPerKind(tenantId: string, userId: string): Promise<Notification[]>;
  unread(tenantId: string, userId: string): Promise<NotificationUnread>;
  /** The id of the newest item of the user's inbox (null: empty). */
  head(tenantId: string, userId: string): Promise<string | null>;
  /**
   * Marks notifications of the user read (those already read keep their time): the listed ids
   * (every one must be addressed to the user, or `notification.not_found` and nothing
   * changes), every one of a kind, or all. Returns how many became read.
   */
  markRead(tenantId: string, userId: string, sel: { ids: readonly string[] } | { kind: string } | { all: true }, now: number): Promise<number>;
}

/** Care teams (named sets of users) and user tags: the audiences of notifications. */
export interface TeamStore {
  /** Creates or replaces a team and its members, atomically; `user.not_found` (details.missing) when a member does not exist, nothing changed. */
  putTeam(tenantId: string, id: string, name: string, members: readonly string[], now: number): Promise<{ team: Team; created: boolean }>;
  getTeam(tenantId: string, id: string): Promise<Team | null>;
  deleteTeam(tenantId: string, id: string): Promise<boolean>;
  /** Replaces the tags of a user; `user.not_found` when there is no such user. Returns the tags, sorted. */
  setTags(tenantId: string, userId: string, tags: readonly string[], now: number): Promise<string[]>;
  getTags(tenantId: string, userId: string): Promise<string[]>;
}

/** Per-tenant settings, with defaults for a tenant that set none. */
export interface SettingsStore {
  get(tenantId: string): Promise<TenantSettings>;
  update(tenantId: string, patch: Partial<Omit<TenantSettings, 'updated_at'>>, now: number): Promise<TenantSettings>;
}

export interface AuditStore {
  /**
   * Appends entries in one transaction, in order. Each becomes the next record of its tenant's
   * hash chain: seq = the tenant's last + 1, prev_hash = that record's hash, hash =
   * `auditHash` of the record — computed by the one writer inside the transaction, so the
   * chain's order is the commit order.
   */
  append(entries: readonly AuditEntry[]): Promise<void>;
  /** Entries of the tenant matching `q`, ascending by id. */
  query(tenantId: string, q: AuditQuery): Promise<AuditRecord[]>;
  /** The tenant's chain after `after_seq`, ascending by seq (what verify and the export walk). */
  chain(tenantId: string, q: { after_seq: number; limit: number }): Promise<AuditRecord[]>;
  /** The tenant's newest record's seq and hash; null before its first. */
  head(tenantId: string): Promise<{ seq: number; hash: string } | null>;
  /** The tenants that have audit records. */
  tenants(): Promise<string[]>;
  /** Records of the tenant outside its chain (no seq): none, unless the store was changed behind the server's back. */
  unchained(tenantId: string): Promise<number>;
}

/** Where a job is: waiting (`queued`, until `run_at`), held by a worker (`leased`), `done`, or given up (`dead`, kept for operators). */
export type JobState = 'queued' | 'leased' | 'done' | 'dead';

/** A job to enqueue. */
export interface NewJob {
  tenant_id: string;
  /** What runs it (a `JobRunner` handler is registered per kind). */
  kind: string;
  /** Any JSON value; stored as JSON text, read back as parsed JSON. */
  payload: unknown;
  /** At most one job per (tenant, kind, dedupe_key): enqueueing the key again adds nothing. */
  dedupe_key?: string | null;
  /** Not claimed before this time (ms; default: the enqueue's `now`). */
  run_at?: number;
  /** Attempts before the job is dead (default `DEFAULT_JOB_ATTEMPTS`). */
  max_attempts?: number;
}

export const DEFAULT_JOB_ATTEMPTS = 10;

export interface Job {
  /** Time-sortable (ULID), given by the store. */
  id: string;
  tenant_id: string;
  kind: string;
  payload: unknown;
  dedupe_key: string | null;
  state: JobState;
  /** Claims so far (the running one included). */
  attempts: number;
  max_attempts: number;
  /** Runnable from this time (ms). */
  run_at: number;
  /** The worker holding (or last holding) the lease. */
  worker: string | null;
  /** The lease ends at this time; then the job may be claimed again. */
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** Counts of the jobs of one kind, by state. */
export interface JobStats {
  kind: string;
  queued: number;
  leased: number;
  done: number;
  dead: number;
  /** `run_at` of the oldest queued job (how far behind the workers are); null when none. */
  oldest_queued_at: number | null;
}

/**
 * The outbox: work that must happen after a commit and survive a crash (offline push,
 * webhooks). Durable, shared by every node and process on the database. Guarantees:
 * - `enqueue` stores the whole list in one transaction, or nothing. A job whose
 *   (tenant_id, kind, dedupe_key) is already stored — done, dead, or earlier in the same
 *   list — is not stored again: its result is the existing id with `created: false`, so an
 *   enqueue repeated after a crash adds nothing (until the old job is `prune`d).
 * - `claim` leases up to `limit` runnable jobs of `kinds` to `worker` until `now + leaseMs`,
 *   oldest `run_at` first (then id), and counts the attempt. Runnable: `queued` with
 *   `run_at <= now`, or `leased` with an expired lease (its worker died: the job runs again —
 *   at-least-once, so handlers must be idempotent). A job is never leased to two workers at
 *   once, across processes and nodes. An expired lease of a job that used its last attempt
 *   makes it `dead` instead.
 * - `complete` and `fail` act only for the worker holding the lease (false / null otherwise:
 *   the lease expired and another worker took the job, or it is no longer leased).
 * - `fail` with `retryAt` re-queues the job to run at that time; with null, or once
 *   `attempts >= max_attempts`, the job is `dead`: never claimed again, kept with its
 *   `last_error` until an operator `revive`s it.
 */
export interface JobStore {
  enqueue(jobs: readonly NewJob[], now: number): Promise<{ id: string; created: boolean }[]>;
  claim(worker: string, kinds: readonly string[], limit: number, leaseMs: number, now: number): Promise<Job[]>;
  /** The job is done; false if `worker` does not hold its lease. */
  complete(id: string, worker: string, now: number): Promise<boolean>;
  /** The attempt failed: `retry` (queued again at `retryAt`) or `dead`; null if `worker` does not hold its lease. */
  fail(id: string, worker: string, error: string, retryAt: number | null, now: number): Promise<'retry' | 'dead' | null>;
  get(id: string): Promise<Job | null>;
  /** Counts per kind, for operators and metrics. */
  stats(): Promise<JobStats[]>;
  /** Dead jobs, ascending by id, after `after` (an id), at most `limit`; of `kind` when given. */
  dead(q: { kind?: string; after?: string; limit: number }): Promise<Job[]>;
  /** Puts a dead job back in the queue, runnable at `now` with its attempts reset; false if it is not dead. */
  revive(id: string, now: number): Promise<boolean>;
  /**
   * Deletes up to `limit` jobs that were done before `before` (ms); returns how many. Their
   * dedupe keys are free again. Call again until it returns 0.
   */
  prune(before: number, limit: number): Promise<number>;
}

/**
 * Devices (one row per unique code of an install) and the user's push preferences. Guarantees:
 * - A unique code has exactly one push token: `register` replaces the old one. A (vendor,
 *   token) belongs to one unique code of the tenant: registering it under a new code clears it
 *   from the old one (the old code stays, for de-registration only).
 * - A de-registered code keeps its row with `deregistered_at` and no token; `register` of it
 *   throws `device.deregistered`, so it never gets a push again.
 * - `dropToken` clears the token only if it is still the one given (a vendor's "gone" for an
 *   old token does not remove a newer one).
 */
export interface DeviceStore {
  register(d: DeviceRegistration, now: number): Promise<{ device: Device; created: boolean }>;
  get(tenantId: string, deviceId: string): Promise<Device | null>;
  /** The user's devices, de-registered ones included, by unique code. */
  listForUser(tenantId: string, userId: string): Promise<Device[]>;
  /** Turns push on or off for one install; null if there is no such device. */
  setPush(tenantId: string, deviceId: string, enabled: boolean, now: number): Promise<Device | null>;
  /** Marks the unique code de-registered and forgets its token; null if there is no such device. */
  deregister(tenantId: string, deviceId: string, now: number): Promise<Device | null>;
  dropToken(tenantId: string, deviceId: string, token: string, now: number): Promise<boolean>;
  getSettings(tenantId: string, userId: string): Promise<PushSettings>;
  updateSettings(tenantId: string, userId: string, patch: { push_enabled?: boolean; quiet_hours?: QuietHours | null }, now: number): Promise<PushSettings>;
  /** Mutes (or re-mutes with a new end) one conversation for the user. */
  mute(tenantId: string, userId: string, conversationId: string, until: number | null, now: number): Promise<PushMute>;
  unmute(tenantId: string, userId: string, conversationId: string): Promise<boolean>;
  /** The user's mutes (ended ones included until unmuted), by conversation id. */
  mutes(tenantId: string, userId: string): Promise<PushMute[]>;
  /** Sets (or with null clears) the user's WeChat openid; an openid names one user of the tenant, so another user's same openid is cleared. */
  setWechatOpenid(tenantId: string, userId: string, openid: string | null, now: number): Promise<void>;
  getWechatOpenid(tenantId: string, userId: string): Promise<string | null>;
  /** The tenant's push choices (defaults until changed: no previews, no WeChat). */
  getTenantPush(tenantId: string): Promise<TenantPushSettings>;
  updateTenantPush(tenantId: string, patch: { preview_conversation_types?: number[]; wechat?: TenantPushSettings['wechat'] }, now: number): Promise<TenantPushSettings>;
  /** Sets (or with null clears) the install's VoIP token (APNs PushKit), used for call invites; false if there is no such device. */
  setVoipToken(tenantId: string, deviceId: string, token: string | null, now: number): Promise<boolean>;
  getVoipToken(tenantId: string, deviceId: string): Promise<string | null>;
  /** Sets (or with null clears) the user's phone number (E.164) for SMS. */
  setPhone(tenantId: string, userId: string, phone: string | null, now: number): Promise<void>;
  getPhone(tenantId: string, userId: string): Promise<string | null>;
  /** The escalation policy of a user, or with `userId` '' the tenant's; null: none. */
  getEscalation(tenantId: string, userId: string): Promise<EscalationPolicy | null>;
  setEscalation(tenantId: string, userId: string, policy: EscalationPolicy | null, now: number): Promise<void>;
  /** Records a channel's status for a push subject and user (the latest wins). */
  recordDelivery(tenantId: string, d: Pick<PushDelivery, 'subject_id' | 'user_id' | 'channel' | 'status' | 'detail'>, now: number): Promise<void>;
  /** Every channel's status for a subject, by user then channel. */
  deliveries(tenantId: string, subjectId: string): Promise<PushDelivery[]>;
}

export interface Storage {
  readonly tenants: TenantStore;
  readonly users: UserStore;
  readonly sessions: AuthSessionStore;
  readonly conversations: ConversationStore;
  readonly messages: MessageStore;
  readonly audit: AuditStore;
  readonly topics: TopicStore;
  readonly notifications: NotificationStore;
  readonly teams: TeamStore;
  readonly settings: SettingsStore;
  readonly jobs: JobStore;
  /** Uploaded files' metadata (`FileStore`). */
  readonly files: FileStore;
  readonly devices: DeviceStore;
  /** Webhook subscriptions and their delivery log (`WebhookStore`). */
  readonly webhooks: WebhookStore;
  /** Third-party apps that exchange their id and secret for access tokens (`OAuthAppStore`). */
  readonly oauthApps: OAuthAppStore;
  /** Resumable (tus) uploads in progress (`UploadStore`). */
  readonly uploads: UploadStore;
  /** Retention policies and legal holds, and the deletion they drive (`RetentionStore`). */
  readonly retention: RetentionStore;
  /** Calls (signalling state) and their participants. */
  readonly calls: CallStore;
  /** Full-text search over messages (`SearchStore`). */
  readonly search: SearchStore;
  /** Scheduled video conferences (`conferences/store.ts`). */
  readonly conferences: ConferenceStore;
  /** The front desk: widget keys, visitors, chats and their queue (`DeskStore`, docs/desk.md). */
  readonly desk: DeskStore;
  /** Whether the database answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Carries domain events to every node (including this one). Guarantees: events published by
 * one node reach each subscriber in publish order; a node's own events reach its own
 * subscribers at once, whatever happens to the link between nodes; at-most-once across nodes
 * (a node that is down or cut off misses them — clients recover through catch-up, which reads
 * storage, never the bus). A throwing subscriber is reported and does not stop the others.
 */
export interface EventBus {
  publish(event: DomainEvent): void;
  subscribe(handler: (event: DomainEvent) => void): () => void;
  /**
   * `handler` runs after the bus reconnected following a loss, when events from other nodes
   * may have been missed: caches fed by events are cleared on it, and connections catch up
   * from storage. It may run more than once for one outage (this node's link, and other nodes
   * announcing theirs): what it does must be harmless to repeat. A single-process bus never
   * calls it. Returns the unsubscribe function.
   */
  onResume(handler: () => void): () => void;
  close(): Promise<void>;
}

/** A user went online or offline as a whole, across nodes, found by the store itself. */
export interface PresenceChange {
  tenantId: string;
  userId: string;
  online: boolean;
  /** When the user was last seen (for a dead node's users: its last heartbeat). */
  lastSeen: number;
}

/**
 * Who is online, across nodes. `connected`/`disconnected` count one connection of a user on
 * this node in or out; they resolve true when the user went online/offline as a whole, across
 * every node (the first connection anywhere, the last one anywhere). Calls made by one node
 * take effect in call order. A multi-node backend keeps each node's counts under a time to
 * live that the node refreshes: the users of a node that died go offline by themselves, and a
 * live node reports them through `onChange` (once, cluster-wide) so that it publishes
 * `presence.changed`. `onChange` reports only what `connected`/`disconnected` did not return.
 */
export interface PresenceStore {
  connected(tenantId: string, userId: string, now: number): Promise<boolean>;
  disconnected(tenantId: string, userId: string, now: number): Promise<boolean>;
  status(tenantId: string, userId: string): Promise<{ online: boolean; last_seen: number | null; connections: number }>;
  /** Transitions found by the store itself (a dead node's users going offline). Returns the unsubscribe function. */
  onChange(handler: (change: PresenceChange) => void): () => void;
  /** Stops refreshing and closes the connection; this node's counts then expire unless they were counted out. */
  close(): Promise<void>;
}

/**
 * The push-node registry: which nodes are alive (by their public address) and which node
 * holds a user's connection, so that something outside a node (a push worker, the balancer's
 * sticky routing, an operator) can find it. A node registers itself with a heartbeat and drops
 * out when the heartbeat stops; `register` is called when the node opens its first connection
 * of a user, `unregister` when it closes its last one. When a user is connected to several
 * nodes, `lookup` names one of them (the most recent to register, or a live one after that
 * one unregistered or died).
 */
export interface NodeRegistry {
  /** This node's public address. */
  readonly address: string;
  register(tenantId: string, userId: string): Promise<void>;
  unregister(tenantId: string, userId: string): Promise<void>;
  /** The address of a live node holding a connection of the user, or null. */
  lookup(tenantId: string, userId: string): Promise<string | null>;
  /** The live nodes, with their last heartbeat (ms since the epoch). */
  nodes(): Promise<{ address: string; heartbeat: number }[]>;
  /** Stops the heartbeat and closes the connection (the node drops out when its heartbeat goes stale). */
  close(): Promise<void>;
}

/** What a blob store knows of a stored object. */
export interface BlobStat {
  size: number;
}

/**
 * Where the bytes of uploaded files live (the metadata is in `Storage.files`): local disk for
 * one node, S3-compatible object storage for several. Keys are `[A-Za-z0-9._-]` segments joined
 * by `/`, none of them `.` or `..` (else `file.invalid`). Guarantees, checked by one contract
 * suite on every backend (`test/files/blob-contract.ts`):
 * - `put` stores exactly `size` bytes read from `body` under `key`, replacing what was there,
 *   all or nothing: a body that ends early or runs long fails with `file.size_mismatch` and
 *   leaves no object (a reader never sees half a file).
 * - `get` streams the object, or the inclusive byte range `[start, end]` of it; null when there
 *   is none. A range past the end fails with `file.range_invalid`.
 * - `stat` is null for a missing key; `delete` is true when something was deleted.
 */
export interface BlobStore {
  put(key: string, body: AsyncIterable<Uint8Array>, size: number): Promise<void>;
  get(key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Uint8Array> & NodeJS.ReadableStream | null>;
  stat(key: string): Promise<BlobStat | null>;
  delete(key: string): Promise<boolean>;
  close(): Promise<void>;
}

/** What kind of content a file is, by its sniffed MIME type; each kind has its size limit. */
export type FileKind = 'image' | 'audio' | 'video' | 'file';

/**
 * An uploaded file's metadata. `uploaded` until a message of its conversation refers to it
 * (`attached`, with `message_id`); an upload never attached is an orphan, deleted after
 * `files.orphanTtlSeconds`.
 */
export interface FileRecord {
  /** The storage id (seed 003's `storageId`): time-sortable, random, unguessable. */
  id: string;
  tenant_id: string;
  conversation_id: string;
  uploader_id: string;
  kind: FileKind;
  /** Sniffed from the bytes. */
  mime_type: string;
  /** The client's name for it, cleaned (no path). */
  file_name: string;
  size: number;
  /** The blob's key; `thumb_key` the thumbnail's (images), null without one. */
  blob_key: string;
  thumb_key: string | null;
  width: number | null;
  height: number | null;
  thumb_width: number | null;
  thumb_height: number | null;
  /** Seconds (audio, video), when it could be read. */
  duration: number | null;
  state: 'uploaded' | 'attached';
  message_id: string | null;
  created_at: number;
  attached_at: number | null;
}

/** File metadata (the bytes are in a `BlobStore`). */
export interface FileStore {
  /** Stores a new file's metadata (`state: uploaded`). */
  create(file: FileRecord): Promise<void>;
  /** The tenant's file, or null (another tenant's id is not found). */
  get(tenantId: string, id: string): Promise<FileRecord | null>;
  /**
   * Attaches an `uploaded` file to a message: true when it was `uploaded`, of `conversationId`
   * and uploaded by `uploaderId`; false (nothing changed) otherwise. Atomic: two messages never
   * attach the same file.
   */
  attach(tenantId: string, id: string, conversationId: string, uploaderId: string, messageId: string, now: number): Promise<boolean>;
  /** Files still `uploaded` that were created before `before` (ms), oldest first, at most `limit`, across tenants. */
  orphans(before: number, limit: number): Promise<FileRecord[]>;
  /** Deletes the metadata; true if there was some. */
  delete(tenantId: string, id: string): Promise<boolean>;
  /**
   * Undoes `attach` of a message that was not stored after all: back to `uploaded`, only if
   * it is still attached to `messageId`. True when it changed.
   */
  release(tenantId: string, id: string, messageId: string): Promise<boolean>;
  /**
   * Deletes the metadata only if the file is still `uploaded` and was created before `before`:
   * one conditional statement, so an orphan cleanup never deletes a file that a message
   * attached meanwhile (and a message never attaches a file the cleanup deleted).
   */
  deleteOrphan(tenantId: string, id: string, before: number): Promise<boolean>;
}

/** A part of a resumable upload: bytes received by one PATCH, stored as a blob. */
export interface UploadPart {
  key: string;
  size: number;
}

/**
 * A resumable (tus) upload: its state lives here, so any node answers any of its requests;
 * the bytes received so far are `parts` in the blob store, in offset order. `uploading` until
 * `upload_offset` reaches `length`; then `completing` (one node runs the checks of an upload
 * over the parts), `done` (with `file_id`) or `failed` (with `error`, a code).
 */
export interface FileUpload {
  tenant_id: string;
  id: string;
  conversation_id: string;
  uploader_id: string;
  file_name: string;
  declared_type: string | null;
  length: number;
  upload_offset: number;
  parts: UploadPart[];
  state: 'uploading' | 'completing' | 'done' | 'failed';
  file_id: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface UploadStore {
  create(u: FileUpload): Promise<void>;
  /** The tenant's upload, or null. */
  get(tenantId: string, id: string): Promise<FileUpload | null>;
  /**
   * Appends a part received at `offset`: one conditional update, true only if the upload is
   * `uploading`, still at `offset`, and the part does not pass `length` (so of two PATCHes at
   * one offset, on any nodes, one wins; the loser's part is not referenced).
   */
  appendPart(tenantId: string, id: string, offset: number, part: UploadPart, now: number): Promise<boolean>;
  /** Moves the state from `from` to `to` (and sets `file_id`/`error`): true if it was `from`. */
  setState(tenantId: string, id: string, from: FileUpload['state'], to: FileUpload['state'], fields: { file_id?: string | null; error?: string | null }, now: number): Promise<boolean>;
  delete(tenantId: string, id: string): Promise<boolean>;
  /** Uploads last changed before `before` (ms), oldest first, at most `limit`, across tenants. */
  stale(before: number, limit: number): Promise<FileUpload[]>;
}

/** A tenant's retention of one conversation type: its messages and files are deleted after `days`. */
export interface RetentionPolicy {
  tenant_id: string;
  conversation_type: number;
  days: number;
  updated_at: number;
}

export interface LegalHold {
  tenant_id: string;
  conversation_id: string;
  reason: string | null;
  set_by: string;
  set_at: number;
}

/**
 * Retention: policies per tenant and conversation type, legal holds per conversation, and the
 * deletion itself. Deleting keeps each message's row as a tombstone (its seq, id, sender, type
 * and time; content null), so seqs stay gap-free.
 */
export interface RetentionStore {
  /** Sets (days > 0) or removes (days null) a policy. */
  setPolicy(tenantId: string, conversationType: number, days: number | null, now: number): Promise<void>;
  policies(tenantId: string | null): Promise<RetentionPolicy[]>;
  /** Sets or lifts a hold; true if something changed. */
  setHold(tenantId: string, conversationId: string, hold: { reason: string | null; by: string } | null, now: number): Promise<boolean>;
  hold(tenantId: string, conversationId: string): Promise<LegalHold | null>;
  holds(tenantId: string): Promise<LegalHold[]>;
  /**
   * The conversations of `type` in the tenant, not under hold, with a message created before
   * `before` whose content is still there: at most `limit`, after `afterId` (id order).
   */
  expiring(tenantId: string, type: number, before: number, afterId: string, limit: number): Promise<string[]>;
  /**
   * In one transaction, unless the conversation is under hold (checked in it): makes tombstones
   * of its messages created before `before` (content null), at most `limit`; returns their ids.
   */
  expireMessages(tenantId: string, conversationId: string, before: number, limit: number): Promise<string[]>;
  /** The conversation's files created before `before` (any state), at most `limit`; none under hold. */
  expiringFiles(tenantId: string, conversationId: string, before: number, limit: number): Promise<FileRecord[]>;
}

/**
 * Webhook subscriptions and the log of their delivery attempts. Guarantees:
 * - Every read and write names the tenant: another tenant's subscription is not found.
 * - `recordAttempt` writes the attempt and moves the subscription's failure streak in one
 *   transaction: a success resets it, a failure adds one, and the failure that brings it to
 *   `disableAfter` disables an active subscription (`disabled_reason` "failing") and returns
 *   `disabled: true` — to exactly one caller, however many nodes record at once.
 */
export interface WebhookStore {
  create(sub: WebhookSubscription): Promise<void>;
  get(tenantId: string, id: string): Promise<WebhookSubscription | null>;
  /** The tenant's subscriptions by id. */
  list(tenantId: string): Promise<WebhookSubscription[]>;
  /** Applies the patch; null if there is no such subscription. */
  update(tenantId: string, id: string, patch: WebhookPatch, now: number): Promise<WebhookSubscription | null>;
  /** Deletes the subscription and its log; false if there was none. */
  delete(tenantId: string, id: string): Promise<boolean>;
  recordAttempt(a: WebhookAttempt, disableAfter: number): Promise<{ disabled: boolean }>;
  /** The subscription's attempts, newest first, before `before` (an attempt id), at most `limit`; of one delivery when given. */
  attempts(tenantId: string, subscriptionId: string, q: { before?: string; delivery_id?: string; limit: number }): Promise<WebhookAttempt[]>;
}

/** Third-party apps (OAuth2 clients). Every read and write names the tenant, except the look-up by id the token endpoint needs. */
export interface OAuthAppStore {
  create(app: OAuthApp): Promise<void>;
  /** The app with this id, revoked or not (ids are unique across tenants). */
  find(id: string): Promise<OAuthApp | null>;
  /** The tenant's apps by id. */
  list(tenantId: string): Promise<OAuthApp[]>;
  /** Marks the app revoked; false if there is no such unrevoked app of the tenant. */
  revoke(tenantId: string, id: string, at: number): Promise<boolean>;
}

/**
 * Calls (docs/calls.md): one row per call and one per participant, shared by every node.
 * Guarantees, checked on every backend by `test/calls/calls-contract.ts`:
 * - A conversation has at most one live call (ringing or active): `create` of a second fails
 *   with `call.in_progress` (details.call_id: the live one), storing nothing.
 * - A user is `joined` in at most one call: `create` fails with `call.busy` when the caller
 *   is joined elsewhere; callees joined elsewhere are stored `busy` instead of `ringing`; an
 *   `update` that would join a user joined elsewhere fails with `call.busy`, changing nothing.
 * - `update` applies only to the version it was computed from (a conditional write): it
 *   returns null, changing nothing, when another change came first. With `record`, the
 *   message is appended (the conversation's next seq) in the same transaction and the call
 *   keeps its id and seq.
 * - A participant's `seen_at` only moves forward.
 */
export interface CallStore {
  /** Stores a new call (version 1) and its participants; returns it as stored (busy callees marked). */
  create(call: Call): Promise<Call>;
  get(tenantId: string, id: string): Promise<Call | null>;
  /** The conversation's live call, if any. */
  live(tenantId: string, conversationId: string): Promise<Call | null>;
  /** The live calls in which the user is ringing or joined, newest first. */
  liveForUser(tenantId: string, userId: string): Promise<Call[]>;
  /** Writes `next` (state, times, participants) if the stored version is `next.version`; the stored call gets version + 1. */
  update(next: Call, record?: NewMessage): Promise<{ call: Call; record: Message | null } | null>;
  /** A joined participant's sign of life; false when the user is not joined in the call. */
  beat(tenantId: string, id: string, userId: string, at: number): Promise<boolean>;
}

/** What `SearchStore.messages` looks for: every term, with the filters given. */
export interface SearchQuery {
  /**
   * The terms, each at least 2 characters (code points) and without whitespace; a message
   * matches when its searchable text contains every one of them as a substring, ASCII letters
   * matched without regard to case.
   */
  terms: readonly string[];
  /** Only the conversations this user is a participant of (a user's search); the whole tenant without it. */
  member?: string;
  conversation_id?: string;
  sender_id?: string;
  type?: number;
  /** Created at or after (ms since the epoch). */
  from?: number;
  /** Created before (ms since the epoch). */
  to?: number;
  /** `next_cursor` of the previous page of the same search. */
  cursor?: string;
  limit: number;
}

/**
 * Full-text search over stored messages, Chinese included (no word spaces: substring
 * matching over character n-grams, not words). Guarantees, checked by one contract suite on
 * every backend (`test/search/search-contract.ts`):
 * - The searchable text of a message is the text fields of its content (`text`, `title`, a
 *   card's `content` string, `fileName`, `name`, and those of a forwarded message's content);
 *   system messages (types 0, 6, 7, 10, 11, 13, 14) are never found.
 * - The index is written by the database in the transaction that writes the message: a
 *   message is found as soon as its append resolved; a recalled message (content gone) or a
 *   deleted one is never found once that write resolved. Messages stored before the index
 *   existed are indexed by its migration.
 * - Only the tenant's messages; with `member`, only those of conversations the user is a
 *   participant of now.
 * - Newest first, keyset-paged: `next_cursor` is null on the last page. A page may hold fewer
 *   than `limit` messages (even none) with a cursor when the store stopped after a bounded
 *   amount of work: following the cursors finds every match exactly once. A cursor the store
 *   did not make fails with `search.cursor_invalid`.
 */
export interface SearchStore {
  messages(tenantId: string, q: SearchQuery): Promise<{ items: Message[]; next_cursor: string | null }>;
  /** Resolves once the index (which follows the appends a little behind) holds every message committed so far. */
  catchUp(): Promise<void>;
}
