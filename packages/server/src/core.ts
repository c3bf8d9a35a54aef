/**
 * Composition: builds the domain services over the backends chosen by config. The one place
 * where implementations are picked.
 */
import type { Config } from './config/schema.ts';
import type { EventBus, PresenceStore, Storage } from './domain/ports.ts';
import { AuditLog } from './domain/audit.ts';
import { AuthService } from './domain/auth.ts';
import { ConversationService } from './domain/conversations.ts';
import { MemberDirectory } from './domain/directory.ts';
import { MessageService } from './domain/messages.ts';
import { NotificationService } from './domain/notifications.ts';
import { SettingsService } from './domain/settings.ts';
import { TeamService } from './domain/teams.ts';
import { TopicService } from './domain/topics.ts';
import { MemoryPresence } from './domain/presence-memory.ts';
import { UserService } from './domain/users.ts';
import { MemoryBus } from './bus/bus-memory.ts';
import { createSqliteStorage } from './storage/sqlite/index.ts';

export interface Core {
  config: Readonly<Config>;
  storage: Storage;
  bus: EventBus;
  presence: PresenceStore;
  directory: MemberDirectory;
  auth: AuthService;
  users: UserService;
  conversations: ConversationService;
  messages: MessageService;
  audit: AuditLog;
  topics: TopicService;
  notifications: NotificationService;
  teams: TeamService;
  settings: SettingsService;
  close(): Promise<void>;
}

export interface CoreHooks {
  /** A bus subscriber (an event handler) threw. */
  onBusError?: (err: unknown) => void;
  /** Storage can no longer write (the SQLite writer thread died); readiness reports it too. */
  onStorageFailure?: (err: unknown) => void;
}

export function createCore(config: Readonly<Config>, hooks: CoreHooks = {}): Core {
  const onBusError = hooks.onBusError ?? (() => {});
  const storage = createSqliteStorage({
    path: config.storage.sqlitePath, synchronous: config.storage.sqliteSynchronous, writer: config.storage.sqliteWriter,
    walAutocheckpoint: config.storage.sqliteWalAutocheckpoint,
    onWriterStopped: hooks.onStorageFailure,
  });
  const bus = new MemoryBus((err) => onBusError(err));
  const presence = new MemoryPresence();
  const directory = new MemberDirectory(storage.conversations, { ttlMs: config.cache.memberTtlMs });
  const settings = new SettingsService({ storage, bus, cacheTtlMs: config.cache.settingsTtlMs });
  // Other nodes' participant and settings changes drop this node's cached member sets and settings.
  bus.subscribe((e) => {
    if (e.kind === 'conversation.changed') directory.invalidate(e.tenant_id, e.conversation_id);
    else if (e.kind === 'settings.changed') settings.invalidate(e.tenant_id);
  });
  const auth = new AuthService({
    storage, bus, tokenSecret: config.auth.tokenSecret, tokenTtlSeconds: config.auth.tokenTtlSeconds, adminToken: config.auth.adminToken,
  });
  const users = new UserService(storage, presence, bus);
  const conversations = new ConversationService({ storage, bus, directory, settings });
  const audit = new AuditLog(storage.audit);
  const messages = new MessageService({
    storage, bus, directory, audit,
    maxContentBytes: config.messages.maxContentBytes,
    recallWindowMs: config.messages.recallWindowSeconds * 1000,
    historyPageMax: config.messages.historyPageMax,
    groupCommitMaxBatch: config.storage.groupCommitMaxBatch,
  });
  const topics = new TopicService({ storage, bus, directory, audit, historyPageMax: config.messages.historyPageMax });
  const notifications = new NotificationService({ storage, bus, maxDataBytes: config.messages.maxContentBytes });
  const teams = new TeamService({ storage });
  return {
    config, storage, bus, presence, directory, auth, users, conversations, messages, audit, topics, notifications, teams, settings,
    async close() {
      await messages.committer.drain();
      await audit.flush();
      await bus.close();
      await storage.close();
    },
  };
}
