/**
 * The operator subcommands of `careline`: checkconfig, migrate, create-tenant, create-app.
 * Each loads the configuration as the server does (`config/load.ts`) and works on the
 * configured database directly, so they run with or without the server up (SQLite WAL;
 * a busy database is waited for, up to the busy timeout).
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.ts';
import { SecretPaths, type Config } from '../config/schema.ts';
import { createCore, type Core } from '../core.ts';
import { AppError } from '../domain/errors.ts';
import { openDb } from '../storage/sqlite/db.ts';
import { PgDb, describeUrl } from '../storage/postgres/db.ts';
import { migrate } from '../storage/postgres/migrate.ts';
import { EXIT, UsageError } from './exit.ts';

const MASK = '********';

function load(command: string, overrides?: Record<string, unknown>): LoadedConfig | number {
  try {
    return loadConfig(overrides ? { overrides } : {});
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`careline ${command}: ${err.message}\n`);
    return EXIT.config;
  }
}

/** The configured SQLite file, for commands that read it directly; an exit code when there is none. */
export function configuredDbPath(command: string): string | number {
  const loaded = load(command);
  if (typeof loaded === 'number') return loaded;
  const path = loaded.config.storage.sqlitePath;
  if (path === ':memory:') {
    process.stderr.write(`careline ${command}: storage.sqlitePath is ":memory:"; give --db <path> or set CARELINE_STORAGE_SQLITE_PATH\n`);
    return EXIT.config;
  }
  return path;
}

/** The configuration with every secret replaced by a mask. */
export function masked(config: Readonly<Config>): unknown {
  const copy = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  for (const path of SecretPaths) {
    const [section, key] = path.split('.') as [string, string];
    if (copy[section] && key in copy[section]) copy[section][key] = MASK;
  }
  return copy;
}

export async function checkconfig(): Promise<number> {
  const loaded = load('checkconfig');
  if (typeof loaded === 'number') return loaded;
  process.stdout.write(`careline checkconfig: the configuration is valid (profile ${loaded.profile}); secrets masked:\n`);
  process.stdout.write(`${JSON.stringify(masked(loaded.config), null, 2)}\n`);
  return EXIT.ok;
}

interface MigrationRow {
  version: number;
  name: string;
}

function appliedMigrations(path: string): Set<number> {
  if (path === ':memory:' || !existsSync(path)) return new Set();
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (!table) return new Set();
    return new Set((db.prepare('SELECT version FROM schema_migrations').all() as MigrationRow[]).map((r) => r.version));
  } finally {
    db.close();
  }
}

export async function migrateCommand(): Promise<number> {
  const loaded = load('migrate');
  if (typeof loaded === 'number') return loaded;
  if (loaded.config.storage.driver === 'postgres') return migratePostgres(loaded.config.storage.postgresUrl);
  const { sqlitePath, sqliteSynchronous, sqliteWalAutocheckpoint } = loaded.config.storage;
  if (sqlitePath === ':memory:') {
    process.stderr.write('careline migrate: storage.sqlitePath is ":memory:", a throw-away database: nothing to migrate; set CARELINE_STORAGE_SQLITE_PATH\n');
    return EXIT.config;
  }
  const before = appliedMigrations(sqlitePath);
  // openDb applies what is missing, each migration in its own transaction.
  const db = openDb({ path: sqlitePath, synchronous: sqliteSynchronous, walAutocheckpoint: sqliteWalAutocheckpoint });
  try {
    const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as MigrationRow[];
    const ran = rows.filter((r) => !before.has(r.version));
    process.stdout.write(`careline migrate: ${sqlitePath}\n`);
    for (const r of ran) process.stdout.write(`  applied  ${r.name}\n`);
    const latest = rows.at(-1);
    process.stdout.write(
      ran.length
        ? `${ran.length} migration${ran.length === 1 ? '' : 's'} applied; the database is now at ${latest?.name}\n`
        : `the database is up to date (${rows.length} migrations, the latest ${latest?.name ?? 'none'})\n`,
    );
  } finally {
    db.close();
  }
  return EXIT.ok;
}

/** `careline migrate` with storage.driver postgres: the same report, from PostgreSQL's schema_migrations. */
async function migratePostgres(url: string): Promise<number> {
  const db = new PgDb({ url, poolSize: 2 });
  try {
    const ran = new Set(await migrate(db));
    const { rows } = await db.query<MigrationRow>('SELECT version, name FROM schema_migrations ORDER BY version');
    process.stdout.write(`careline migrate: PostgreSQL ${describeUrl(url)}\n`);
    for (const r of rows.filter((r) => ran.has(r.version))) process.stdout.write(`  applied  ${r.name}\n`);
    const latest = rows.at(-1);
    process.stdout.write(
      ran.size
        ? `${ran.size} migration${ran.size === 1 ? '' : 's'} applied; the database is now at ${latest?.name}\n`
        : `the database is up to date (${rows.length} migrations, the latest ${latest?.name ?? 'none'})\n`,
    );
    return EXIT.ok;
  } catch (err) {
    process.stderr.write(`careline migrate: PostgreSQL ${describeUrl(url)}: ${(err as Error).message}\n`);
    return EXIT.failure;
  } finally {
    await db.close().catch(() => {});
  }
}

const TENANT_ID = /^[A-Za-z0-9_.-]{1,64}$/;

function checkName(command: string, what: string, name: string): void {
  if (name.trim().length === 0 || name.length > 256) throw new UsageError(command, `${what} must be 1 to 256 characters, not blank`);
}

/** Runs `fn` on a core over the configured database (writes inline: a short-lived process). */
async function withCore(command: string, fn: (core: Core) => Promise<void>): Promise<number> {
  const loaded = load(command, { storage: { sqliteWriter: 'inline' } });
  if (typeof loaded === 'number') return loaded;
  if (loaded.config.storage.driver === 'sqlite' && loaded.config.storage.sqlitePath === ':memory:') {
    process.stderr.write(`careline ${command}: storage.sqlitePath is ":memory:", a throw-away database; set CARELINE_STORAGE_SQLITE_PATH\n`);
    return EXIT.config;
  }
  const core = await createCore(loaded.config);
  try {
    await fn(core);
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    process.stderr.write(`careline ${command}: ${err.code}: ${err.message}\n`);
    return EXIT.failure;
  } finally {
    await core.close();
  }
}

export async function createTenantCommand(id: string, name: string): Promise<number> {
  if (!TENANT_ID.test(id)) throw new UsageError('create-tenant', `tenant id "${id}" is invalid: use 1 to 64 of A-Z a-z 0-9 _ . -`);
  checkName('create-tenant', 'the tenant name', name);
  return withCore('create-tenant', async (core) => {
    const t = await core.auth.createTenant(id, name);
    process.stdout.write(`created tenant ${t.id} ("${t.name}")\nnext: careline create-app ${t.id} <app name>\n`);
  });
}

export async function createAppCommand(tenantId: string, name: string, opts: { json: boolean }): Promise<number> {
  if (!TENANT_ID.test(tenantId)) throw new UsageError('create-app', `tenant id "${tenantId}" is invalid: use 1 to 64 of A-Z a-z 0-9 _ . -`);
  checkName('create-app', 'the app name', name);
  return withCore('create-app', async (core) => {
    const { app, api_key } = await core.auth.createApp(tenantId, name);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ app, api_key })}\n`);
      return;
    }
    process.stdout.write(
      `created app ${app.id} ("${app.name}") for tenant ${app.tenant_id}\n` +
        `API key (shown this once; it is stored only as a hash): ${api_key}\n` +
        `Send it as the X-API-Key header. Revoke it with DELETE /api/v2/admin/tenants/${app.tenant_id}/apps/${app.id}.\n`,
    );
  });
}
