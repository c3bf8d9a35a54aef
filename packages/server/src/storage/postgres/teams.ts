/** Care teams and user tags in PostgreSQL (migration 002). */
import type { TeamStore } from '../../domain/ports.ts';
import type { PgDb } from './db.ts';

export class PgTeamStore /* implements TeamStore */ {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }
}
