/**
 * Versioned migrations: `migrations/NNN_name.sql`, applied in order, each in its own
 * transaction with its row in `schema_migrations`. Every node runs this at start; they take
 * one advisory lock first, so when several start at once one migrates and the others, once
 * it is done, find nothing left to apply. An applied migration is never run again (and never
 * edited: a change is a new file).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { isConnectionError, type PgDb } from './db.ts';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** The advisory lock key of the migrations (any constant the application uses for nothing else). */
const MIGRATION_LOCK = 7_370_113_411;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migration files, in version order. */
export function migrationFiles(dir = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const out = files.map((name) => ({ version: Number.parseInt(name, 10), name, sql: readFileSync(join(dir, name), 'utf8') }));
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) throw new Error(`Two migrations have version ${out[i]!.version}: ${out[i - 1]!.name}, ${out[i]!.name}`);
  }
  return out;
}

/** Applies every migration not yet applied; returns the versions this call applied. */
export async function migrate(db: PgDb, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = migrationFiles(dir);
  const done: number[] = [];
  await db.session(async (client: pg.PoolClient) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          if (isConnectionError(err)) throw err;
          throw Object.assign(new Error(`PostgreSQL migration ${m.name} failed: ${(err as Error).message}`), { cause: err });
        }
        done.push(m.version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    }
  });
  return done;
}
