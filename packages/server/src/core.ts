/**
 * Composition: builds the domain services over the backends chosen by config. The one place
 * where implementations are picked.
 */
import type { Config } from './config/schema.ts';
import type { EventBus, PresenceStore, Storage } from './domain/ports.ts';
import { AuditLog } from './domain/audit.ts';
import { AuthService } from './domain/auth.ts';
import { ConversationService } from './domain/conversations.ts';
import { RecentMessages } from './domain/recent.ts';
import { MemberDirectory } from './domain/directory.ts';
import { MessageService } from './domain/messages.ts';
import { DeviceService } from './domain/devices.ts';
import { NotificationService } from './domain/notifications.ts';
import { SettingsService } from './domain/settings.ts';
import { TeamService } from './domain/teams.ts';
import { TopicService } from './domain/topics.ts';
import { MemoryPresence } from './presence/memory.ts';
import { UserService } from './domain/users.ts';
import { MemoryBus } from './bus/bus-memory.ts';
import { backends, type BusChoice, type PresenceChoice, type StorageChoice } from './config/backends.ts';
import type { Redis } from 'ioredis';
import { FileService } from './files/service.ts';
import { openBlobs } from './files/blobs.ts';
import { WebhookService } from './domain/webhooks.ts';
import { OAuthAppService } from './domain/oauth-apps.ts';
import { CallService } from './calls/service.ts';
import { SearchService } from './search/service.ts';
import { ConferenceService } from './conferences/service.ts';
import { JanusClient } from './conferences/janus.ts';

export interface Core {
  config: Readonly<Config>;
  storage: Storage;
  bus: EventBus;
  presence: PresenceStore;
  /** This process's id in the cluster (`cluster.nodeId`, or the host name and process id). */
  nodeId: string;
  /**
   * A Redis client for what nodes share besides the bus and presence (the rate-limit
   * counters), when the config names a Redis (`bus.redisUrl`); closed by `close()`.
   */
  redis: Redis | null;
  directory: MemberDirectory;
  /** The newest messages of conversations read lately (history pages answered from memory). */
  recent: RecentMessages;
  auth: AuthService;
  users: UserService;
  conversations: ConversationService;
  messages: MessageService;
  audit: AuditLog;
  topics: TopicService;
  notifications: NotificationService;
  teams: TeamService;
  settings: SettingsService;
  /** Uploads and downloads (`files/service.ts`), over the blob store of `files.driver`. */
  files: FileService;
  devices: DeviceService;
  /** Webhook subscriptions, their delivery log and replay (sending: `webhooks/`). */
  webhooks: WebhookService;
  /** Third-party apps and their access tokens (OAuth2 client credentials). */
  oauthApps: OAuthAppService;
  /** Call signalling (`calls/service.ts`). */
  calls: CallService;
  /** Message search (`search/service.ts`). */
  search: SearchService;
  /** Scheduled video conferences (`conferences/service.ts`). */
  conferences: ConferenceService;
  close(): Promise<void>;
}

export interface CoreHooks {
  /** A bus subscriber (an event handler) threw, or the bus lost its link (Redis). */
  onBusError?: (err: unknown) => void;
  /** The presence store could not reach its backend (Redis); it answers from this node's counts meanwhile. */
  onPresenceError?: (err: unknown) => void;
  /** PostgreSQL stopped answering (once per outage); writes fail with `server.unavailable` until it is back. */
  onStorageUnavailable?: (err: unknown) => void;
  /** Storage can no longer write (the SQLite writer thread died); readiness reports it too. */
  onStorageFailure?: (err: unknown) => void;
}

/**
 * Builds the core over the backends the config chooses (`config/backends.ts`): opens the
 * storage (a networked one is connected and migrated before this resolves), the bus and the
 * presence store.
 */
export async function createCore(config: Readonly<Config>, hooks: CoreHooks = {}): Promise<Core> {
  const onBusError = hooks.onBusError ?? (() => {});
  const chosen = backends(config);
  const storage = await openStorage(chosen.storage, hooks);
  const bus = await openBus(chosen.bus, chosen.nodeId, onBusError);
  const presence = await openPresence(chosen.presence, chosen.nodeId, hooks.onPresenceError ?? (() => {}));
  const redis = config.bus.redisUrl
    ? new (await import('ioredis')).Redis(config.bus.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : null;
  // Errors of this client surface where it is used (the rate limits let a request through).
  redis?.on('error', () => {});
  const directory = new MemberDirectory(storage.conversations, { ttlMs: config.cache.memberTtlMs });
  const settings = new SettingsService({ storage, bus, cacheTtlMs: config.cache.settingsTtlMs });
  const recent = new RecentMessages({ maxBytes: config.cache.recentMessagesMb * 1024 * 1024, ttlMs: config.cache.memberTtlMs });
  // Every node's commits extend this node's recent messages; other nodes' participant and
  // settings changes drop this node's cached member sets and settings.
  bus.subscribe((e) => {
    if (e.kind === 'message.created') recent.created(e.tenant_id, e.message);
    else if (e.kind === 'conversation.changed') directory.invalidate(e.tenant_id, e.conversation_id);
    else if (e.kind === 'settings.changed') settings.invalidate(e.tenant_id);
  });
  // After the bus lost its link, events may have been missed: what they would have dropped is
  // dropped now (the entries also expire on their own, cache.*TtlMs).
  bus.onResume(() => {
    directory.clear();
    settings.clear();
    recent.clear();
  });
  const auth = new AuthService({
    storage, bus, tokenSecret: config.auth.tokenSecret, tokenTtlSeconds: config.auth.tokenTtlSeconds, adminToken: config.auth.adminToken,
    // One process's bus loses no event: a copy stands until a logout or a user change drops it
    // (or, past the count bound, a newer one). Across nodes an event can be lost with a node or
    // a link, and `auth.sessionCacheMs` bounds how long a copy can miss it.
    sessionCacheMs: config.auth.sessionCacheMs > 0 && chosen.bus.driver === 'memory' ? Number.POSITIVE_INFINITY : config.auth.sessionCacheMs,
  });
  const users = new UserService(storage, presence, bus);
  const conversations = new ConversationService({ storage, bus, directory, settings });
  const audit = new AuditLog(storage.audit);
  const files = new FileService({ config, storage, blobs: openBlobs(config), directory, audit });
  const messages = new MessageService({
    files,
    storage, bus, directory, audit, recent,
    maxContentBytes: config.messages.maxContentBytes,
    recallWindowMs: config.messages.recallWindowSeconds * 1000,
    historyPageMax: config.messages.historyPageMax,
    groupCommitMaxBatch: config.storage.groupCommitMaxBatch,
  });
  const topics = new TopicService({ storage, bus, directory, audit, historyPageMax: config.messages.historyPageMax });
  const notifications = new NotificationService({ storage, bus, maxDataBytes: config.messages.maxContentBytes });
  const teams = new TeamService({ storage });
  const devices = new DeviceService({ storage, directory });
  const search = new SearchService({ store: storage.search, directory, audit });
  const calls = new CallService({ storage, bus, directory, messages, settings: config.calls });
  const webhooks = new WebhookService({ storage, maxPerTenant: config.webhooks.maxPerTenant, maxAttempts: config.webhooks.maxAttempts });
  const cf = config.conferences;
  const conferences = new ConferenceService({
    storage, bus, directory, messages, settings: cf, tokenSecret: config.auth.tokenSecret, nodeId: chosen.nodeId,
    media: cf.janusUrl ? new JanusClient({ url: cf.janusUrl, apiSecret: cf.janusApiSecret, adminUrl: cf.janusAdminUrl, adminSecret: cf.janusAdminSecret, timeoutMs: cf.janusTimeoutMs }) : null,
  });
  const oauthApps = new OAuthAppService({ storage, tokenSecret: config.auth.tokenSecret, tokenTtlSeconds: config.apps.tokenTtlSeconds });
  return {
    config, storage, bus, presence, nodeId: chosen.nodeId, redis, directory, recent, auth, users, conversations, messages, audit, topics, notifications, teams, settings, files,
    devices,
    webhooks, oauthApps,
    calls,
    search,
    conferences,
    async close() {
      await messages.committer.drain();
      await audit.flush();
      await presence.close();
      await bus.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
      await files.blobs.close();
      await storage.close();
    },
  };
}

/*
 * Each backend's module is loaded when the config chooses it: a single node on SQLite does not
 * load PostgreSQL's or Redis's client libraries and stores (2.6 MiB less heap after start).
 */

async function openStorage(choice: StorageChoice, hooks: CoreHooks): Promise<Storage> {
  switch (choice.driver) {
    case 'sqlite': {
      const { createSqliteStorage } = await import('./storage/sqlite/index.ts');
      return createSqliteStorage({
        path: choice.path, synchronous: choice.synchronous, writer: choice.writer, walAutocheckpoint: choice.walAutocheckpoint, cacheMiB: choice.cacheMiB,
        onWriterStopped: hooks.onStorageFailure,
      });
    }
    case 'postgres': {
      const { createPostgresStorage } = await import('./storage/postgres/index.ts');
      return createPostgresStorage({ url: choice.url, poolSize: choice.poolSize, onUnavailable: hooks.onStorageUnavailable });
    }
  }
}

async function openBus(choice: BusChoice, nodeId: string, onBusError: (err: unknown) => void): Promise<EventBus> {
  switch (choice.driver) {
    case 'memory':
      return new MemoryBus((err) => onBusError(err));
    case 'redis': {
      const { RedisBus } = await import('./bus/bus-redis.ts');
      return new RedisBus({ url: choice.url, nodeId, onError: onBusError });
    }
  }
}

async function openPresence(choice: PresenceChoice, nodeId: string, onError: (err: unknown) => void): Promise<PresenceStore> {
  switch (choice.driver) {
    case 'memory':
      return new MemoryPresence();
    case 'redis': {
      const { RedisPresence } = await import('./presence/redis.ts');
      return new RedisPresence({ url: choice.url, nodeId, ttlSeconds: choice.ttlSeconds, onError });
    }
  }
}
