/** The embedded SQLite backend: the default and the reference implementation of `Storage`. */
import type { Storage } from '../../domain/ports.ts';
import { openDb, type OpenOptions } from './db.ts';
import { SqliteAuditStore } from './audit.ts';
import { SqliteConversationStore } from './conversations.ts';
import { SqliteMessageStore } from './messages.ts';
import { SqliteNotificationStore } from './notifications.ts';
import { SqliteSettingsStore, SqliteTeamStore } from './teams.ts';
import { SqliteAuthSessionStore } from './sessions.ts';
import { SqliteTenantStore } from './tenants.ts';
import { SqliteTopicStore } from './topics.ts';
import { SqliteUserStore } from './users.ts';

export function createSqliteStorage(opts: OpenOptions): Storage {
  const db = openDb(opts);
  let closed = false;
  const messages = new SqliteMessageStore(db);
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
    async ping() {
      if (closed) return false;
      try {
        db.prepare('SELECT 1').get();
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
