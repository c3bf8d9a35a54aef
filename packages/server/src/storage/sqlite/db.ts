/** Opens the SQLite database (WAL) and applies the versioned migrations in `migrations/`. */
import Database from 'better-sqlite3';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setNewest } from '../../domain/bounded.ts';

export type Db = Database.Database;
export type Statement = Database.Statement;

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface OpenOptions {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
  /** WAL pages after which a commit checkpoints (default 16,000: 64 MiB of 4 KiB pages). */
  walAutocheckpoint?: number;
  /** This connection's page cache, MiB (default `DEFAULT_CACHE_MIB`). */
  cacheMiB?: number;
}

/** The page cache of a connection that writes (`storage.sqliteCacheMb`'s default). */
/** Databases that live in one connection's memory: they cannot be opened by another thread. */
export const isPrivateDb = (path: string) => path === ':memory:' || path === '' || /^file::memory:/.test(path) || /[?&]mode=memory(&|$)/.test(path);

export const DEFAULT_CACHE_MIB = 32;

export const DEFAULT_WAL_AUTOCHECKPOINT = 16_000;

export function openDb(opts: OpenOptions): Db {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const db = new Database(opts.path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma(`cache_size = -${(opts.cacheMiB ?? DEFAULT_CACHE_MIB) * 1024}`); // KiB
  db.pragma('temp_store = MEMORY');
  // A checkpoint copies the newest version of every page the WAL holds back into the
  // database file. Message appends dirty the same hot pages (a leaf per conversation, per
  // sender) commit after commit: the rarer the checkpoint, the fewer copies of each.
  db.pragma(`wal_autocheckpoint = ${opts.walAutocheckpoint ?? DEFAULT_WAL_AUTOCHECKPOINT}`);
  // After a checkpoint the WAL file is cut back to this size (it is reused, not grown, otherwise).
  db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  migrate(db);
  return db;
}

/** Applies every `NNN_name.sql` not yet applied, each in its own transaction, in order. */
export function migrate(db: Db): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const files = readdirSync(migrationsDir).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const done: number[] = [];
  for (const file of files) {
    const version = Number.parseInt(file, 10);
    if (applied.has(version)) continue;
    const sql = readFileSync(join(migrationsDir, file), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, file, Date.now());
    })();
    done.push(version);
  }
  return done;
}

/**
 * Prepares each distinct SQL text once, for statements whose text depends on the call
 * (optional filters, IN lists of a given length). Bounded: past `max` texts the oldest goes.
 * `pluck` statements are kept apart, since plucking is a mode of the statement object.
 */
export class StatementCache {
  readonly #db: Db;
  readonly #max: number;
  readonly #rows = new Map<string, Statement>();
  readonly #plucked = new Map<string, Statement>();

  constructor(db: Db, max = 256) {
    this.#db = db;
    this.#max = max;
  }

  get(sql: string): Statement {
    return this.#lookup(this.#rows, sql, false);
  }

  /** A statement that returns the first column only. */
  pluck(sql: string): Statement {
    return this.#lookup(this.#plucked, sql, true);
  }

  #lookup(map: Map<string, Statement>, sql: string, pluck: boolean): Statement {
    let st = map.get(sql);
    if (st === undefined) {
      st = this.#db.prepare(sql);
      if (pluck) st.pluck();
      setNewest(map, sql, st, this.#max);
    }
    return st;
  }
}
