/** Notifications and inboxes in PostgreSQL (migration 002). */
import type { NotificationStore } from '../../domain/ports.ts';
import type { PgDb } from './db.ts';

export class PgNotificationStore /* implements NotificationStore */ {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }
}
