/**
 * The PostgreSQL backend of `Storage`, for several server nodes on one database. Each store
 * is one class in its own file over a `PgDb` (`db.ts`: the pool, prepared statements,
 * transactions, errors); `migrate.ts` brings the schema up to date before the storage is
 * returned. What keeps several writers correct is in each store: seqs and read cursors by row
 * locks (`messages.ts`, `conversations.ts`), resends by a unique index, topics by the session's
 * row and a unique index on the open topic (`topics.ts`), notifications and the audit chain by
 * a per-tenant head row.
 */
import type {
  AuditStore, AuthSessionStore, ConversationStore, DeviceStore, FileStore, JobStore, MessageStore, NotificationStore, SettingsStore, Storage, TeamStore, TenantStore, TopicStore, UserStore, UploadStore, RetentionStore,
  OAuthAppStore, WebhookStore,
  SearchStore,
} from '../../domain/ports.ts';
import { fail } from '../../domain/errors.ts';
import { describeUrl, isConnectionError, PgDb } from './db.ts';
import { migrate } from './migrate.ts';
import { PgAuditStore } from './audit.ts';
import { PgConversationStore } from './conversations.ts';
import { PgJobStore } from './jobs.ts';
import { PgMessageStore } from './messages.ts';
import { PgNotificationStore } from './notifications.ts';
import { PgAuthSessionStore } from './sessions.ts';
import { PgSettingsStore } from './settings.ts';
import { PgTeamStore } from './teams.ts';
import { PgFileStore } from './files.ts';
import { PgTenantStore } from './tenants.ts';
import { PgTopicStore } from './topics.ts';
import { PgUserStore } from './users.ts';
import { PgDeviceStore } from './devices.ts';
import { PgWebhookStore } from './webhooks.ts';
import { PgOAuthAppStore } from './oauth-apps.ts';
import { PgUploadStore } from './files-uploads.ts';
import { PgRetentionStore } from './files-retention.ts';
import { PgCallStore } from './calls.ts';
import type { CallStore } from '../../domain/ports.ts';
import type { DeskStore } from '../../desk/types.ts';
import { PgSearchStore } from './search.ts';
import { PgConferenceStore } from './conferences.ts';
import type { ConferenceStore } from '../../conferences/store.ts';
import { PgDeskStore } from './desk.ts';
import { PgSearchIndexer } from './search-indexer.ts';

export interface PostgresStorageOptions {
  /** `postgres://user:password@host:port/database` (or `postgresql://`). */
  url: string;
  /** Connections in this node's pool (default 10). */
  poolSize?: number;
  /** The database stopped answering (called once per outage); writes fail with `server.unavailable` until it is back. */
  onUnavailable?: (err: unknown) => void;
}

export class PostgresStorage implements Storage {
  readonly db: PgDb;
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
  readonly files: FileStore;
  readonly devices: DeviceStore;
  readonly webhooks: WebhookStore;
  readonly oauthApps: OAuthAppStore;
  readonly uploads: UploadStore;
  readonly retention: RetentionStore;
  readonly calls: CallStore;
  readonly search: SearchStore;
  readonly conferences: ConferenceStore;
  readonly desk: DeskStore;
  /** The search index behind the appends (migration 015), indexing in the background. */
  readonly searchIndexer: PgSearchIndexer;

  constructor(db: PgDb) {
    this.db = db;
    this.tenants = new PgTenantStore(db);
    this.users = new PgUserStore(db);
    this.sessions = new PgAuthSessionStore(db);
    this.conversations = new PgConversationStore(db);
    this.messages = new PgMessageStore(db);
    this.audit = new PgAuditStore(db);
    this.topics = new PgTopicStore(db);
    this.notifications = new PgNotificationStore(db);
    this.teams = new PgTeamStore(db);
    this.settings = new PgSettingsStore(db);
    this.jobs = new PgJobStore(db);
    this.files = new PgFileStore(db);
    this.devices = new PgDeviceStore(db);
    this.webhooks = new PgWebhookStore(db);
    this.oauthApps = new PgOAuthAppStore(db);
    this.uploads = new PgUploadStore(db);
    this.retention = new PgRetentionStore(db);
    this.calls = new PgCallStore(db);
    this.searchIndexer = new PgSearchIndexer(db);
    this.search = new PgSearchStore(db, { indexer: this.searchIndexer });
    this.searchIndexer.start();
    this.conferences = new PgConferenceStore(db);
    this.desk = new PgDeskStore(db);
  }

  /** Whether the database answers; false while it is down or after close, never throws. */
  ping(): Promise<boolean> {
    return this.db.ping();
  }

  /** Ends the pool (after the statements running finish); later calls fail with `server.unavailable`. */
  async close(): Promise<void> {
    await this.searchIndexer.stop();
    return this.db.close();
  }
}

/** SQLSTATEs that mean the URL names no usable database: wrong password, user or database name. */
const OPEN_CODES = new Set(['28P01', '28000', '3D000']);

/**
 * Opens the pool and applies the migrations (once, whichever nodes start together), then
 * returns the storage. A URL that is not a PostgreSQL URL throws at once; a database that
 * cannot be reached or entered fails with `server.unavailable` naming where (no password).
 */
export async function createPostgresStorage(opts: PostgresStorageOptions): Promise<PostgresStorage> {
  let parsed: URL | null = null;
  try {
    parsed = new URL(opts.url);
  } catch {
    // not a URL
  }
  if (parsed === null || (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') || parsed.hostname === '') {
    throw new Error('storage.postgresUrl is not a PostgreSQL URL: expected postgres://user:password@host:port/database');
  }
  const db = new PgDb(opts);
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    if (isConnectionError(err) || OPEN_CODES.has((err as { code?: string }).code ?? '')) {
      const reason = (err as Error).message;
      throw Object.assign(fail('server.unavailable', /^PostgreSQL at /.test(reason) ? reason : `PostgreSQL at ${describeUrl(opts.url)} is unavailable: ${reason}`, { storage: 'postgres' }), { cause: err });
    }
    throw err;
  }
  return new PostgresStorage(db);
}
