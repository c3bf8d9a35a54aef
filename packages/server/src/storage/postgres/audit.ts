/** The audit log, a hash chain per tenant in PostgreSQL (migration 002). */
import type { AuditStore } from '../../domain/ports.ts';
import type { PgDb } from './db.ts';

export class PgAuditStore /* implements AuditStore */ {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }
}
