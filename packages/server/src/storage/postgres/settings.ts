/** Per-tenant settings in PostgreSQL (migration 002). */
import type { SettingsStore } from '../../domain/ports.ts';
import type { PgDb } from './db.ts';

export class PgSettingsStore /* implements SettingsStore */ {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }
}
