/**
 * The SQLite stores over one connection, and which of their methods write. The same classes
 * serve both sides of the writer-worker split: the main thread reads through its own
 * connection, the writer thread writes through the write connection.
 */
import type { Storage } from '../../domain/ports.ts';
import type { Db } from './db.ts';
import { SqliteAuditStore } from './audit.ts';
import { SqliteConversationStore } from './conversations.ts';
import { SqliteJobStore } from './jobs.ts';
import { SqliteMessageStore } from './messages.ts';
import { SqliteNotificationStore } from './notifications.ts';
import { SqliteSettingsStore } from './settings.ts';
import { SqliteTeamStore } from './teams.ts';
import { SqliteAuthSessionStore } from './sessions.ts';
import { SqliteTenantStore } from './tenants.ts';
import { SqliteTopicStore } from './topics.ts';
import { SqliteUserStore } from './users.ts';
import { SqliteFileStore } from './files.ts';
import { SqliteDeviceStore } from './devices.ts';
import { SqliteWebhookStore } from './webhooks.ts';
import { SqliteOAuthAppStore } from './oauth-apps.ts';
import { SqliteUploadStore } from './files-uploads.ts';
import { SqliteRetentionStore } from './files-retention.ts';
import { SqliteCallStore } from './calls.ts';
import { SqliteSearchStore } from './search.ts';
import { SqliteConferenceStore } from './conferences.ts';
import { SqliteDeskStore } from './desk.ts';
import { SqliteSearchIndexer } from './search-indexer.ts';
import type { SearchFeed } from './search-feed.ts';

export type StoreName = Exclude<keyof Storage, 'ping' | 'close'>;

export interface SqliteStores {
  tenants: SqliteTenantStore;
  users: SqliteUserStore;
  sessions: SqliteAuthSessionStore;
  conversations: SqliteConversationStore;
  messages: SqliteMessageStore;
  topics: SqliteTopicStore;
  audit: SqliteAuditStore;
  notifications: SqliteNotificationStore;
  teams: SqliteTeamStore;
  settings: SqliteSettingsStore;
  jobs: SqliteJobStore;
  files: SqliteFileStore;
  devices: SqliteDeviceStore;
  webhooks: SqliteWebhookStore;
  oauthApps: SqliteOAuthAppStore;
  uploads: SqliteUploadStore;
  retention: SqliteRetentionStore;
  calls: SqliteCallStore;
  search: SqliteSearchStore;
  conferences: SqliteConferenceStore;
  desk: SqliteDeskStore;
  /** The search index behind the appends, when this connection writes it (inline: see `openStores`). */
  searchIndexer: SqliteSearchIndexer | null;
}

/**
 * The stores on `db`. `search`: how this connection takes part in the search index —
 * `inline` (the default): `db` writes everything, the index too (the search file must be
 * attached), each step after the appends; `feed`: the writer thread's connection, which tells
 * the appends to the indexer's thread through the feed; `read`: a read connection (its
 * searches are caught up by whoever owns it).
 */
export function openStores(db: Db, search: { mode: 'inline' } | { mode: 'feed'; feed: SearchFeed } | { mode: 'read' } = { mode: 'inline' }): SqliteStores {
  const searchIndexer = search.mode === 'inline' ? new SqliteSearchIndexer(db) : null;
  if (searchIndexer) {
    // The edits applied to the index leave the main database's queue after the step's commit.
    const prune = db.prepare('DELETE FROM message_search_changes WHERE id <= ?');
    searchIndexer.onApplied = (upTo) => void prune.run(upTo);
  }
  const messages = new SqliteMessageStore(db, searchIndexer ?? (search.mode === 'feed' ? search.feed : undefined));
  const searchStore = new SqliteSearchStore(db);
  if (searchIndexer) searchStore.indexCatchUp = () => searchIndexer.catchUp();
  return {
    tenants: new SqliteTenantStore(db),
    users: new SqliteUserStore(db),
    sessions: new SqliteAuthSessionStore(db),
    conversations: new SqliteConversationStore(db),
    messages,
    topics: new SqliteTopicStore(db, messages),
    audit: new SqliteAuditStore(db),
    notifications: new SqliteNotificationStore(db),
    teams: new SqliteTeamStore(db),
    settings: new SqliteSettingsStore(db),
    jobs: new SqliteJobStore(db),
    files: new SqliteFileStore(db),
    devices: new SqliteDeviceStore(db),
    webhooks: new SqliteWebhookStore(db),
    oauthApps: new SqliteOAuthAppStore(db),
    uploads: new SqliteUploadStore(db),
    retention: new SqliteRetentionStore(db),
    calls: new SqliteCallStore(db, messages),
    search: searchStore,
    searchIndexer,
    conferences: new SqliteConferenceStore(db),
    desk: new SqliteDeskStore(db),
  };
}

type Method<S> = { [K in keyof S]: S[K] extends (...args: never[]) => unknown ? K : never }[keyof S] & string;

/**
 * The methods of each store that write (every other method only reads). With a writer
 * thread these run there, in call order; the main thread's connection is `query_only`, so
 * a write missing from this list fails loudly instead of becoming a second writer.
 */
export const WRITES: { readonly [S in StoreName]: readonly Method<Storage[S]>[] } = {
  tenants: ['createTenant', 'createApp', 'revokeApp'],
  users: ['upsertUser'],
  sessions: ['createSession', 'revokeSession', 'pruneSessions'],
  conversations: ['createConversation', 'updateConversation', 'changeParticipants', 'setSticky', 'advanceRead'],
  messages: ['append', 'recall'],
  topics: ['start', 'end', 'enter'],
  audit: ['append'],
  notifications: ['registerKind', 'create', 'markRead'],
  teams: ['putTeam', 'deleteTeam', 'setTags'],
  settings: ['update'],
  jobs: ['enqueue', 'claim', 'complete', 'fail', 'revive', 'prune'],
  files: ['create', 'attach', 'delete', 'release', 'deleteOrphan'],
  devices: ['register', 'setPush', 'deregister', 'dropToken', 'updateSettings', 'mute', 'unmute', 'setWechatOpenid', 'updateTenantPush', 'setVoipToken', 'setPhone', 'setEscalation', 'recordDelivery'],
  webhooks: ['create', 'update', 'delete', 'recordAttempt'],
  oauthApps: ['create', 'revoke'],
  uploads: ['create', 'appendPart', 'setState', 'delete'],
  retention: ['setPolicy', 'setHold', 'expireMessages'],
  calls: ['create', 'update', 'beat'],
  search: [],
  conferences: ['create', 'update'],
  desk: ['createKey', 'revokeKey', 'createVisitor', 'track', 'touchVisitor', 'setPatient', 'ensureStaff', 'openChat', 'claim', 'transfer', 'close', 'firstResponse',
    'escalate', 'link', 'ack', 'appendEvent', 'putSla'],
};

/**
 * Writes whose loss in a power failure is harmless, because what they record is done again
 * by itself: a job's lease, completion or retry (a job found queued or leased again runs
 * again, and every job's effects are idempotent — consumers enqueue with dedupe keys), the
 * pruning of old rows, a heartbeat. With `synchronous = FULL` the writer thread commits a
 * transaction holding only these without an fsync of its own (`synchronous = NORMAL`): the WAL
 * is written in order, so the next durable commit syncs them with it, and a process crash
 * (as opposed to a power failure) loses nothing. Under chat load the outbox's claim and
 * complete of each append's job, each committed alone, otherwise cost an fsync each — as
 * many as the appends themselves.
 */
export const RELAXED: { readonly [S in StoreName]?: readonly Method<Storage[S]>[] } = {
  jobs: ['claim', 'complete', 'fail', 'prune'],
  sessions: ['pruneSessions'],
  calls: ['beat'],
  desk: ['touchVisitor'],
};

export const STORE_NAMES = Object.keys(WRITES) as StoreName[];
