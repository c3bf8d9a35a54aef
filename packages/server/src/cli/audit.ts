#!/usr/bin/env node
/**
 * `node packages/server/src/cli/audit.ts verify --db <path> [--tenant <id>] [--json]`: walks
 * each tenant's audit hash chain (or one tenant's) in a SQLite database and reports the first
 * broken link. Opens the database read-only; a running server may keep writing meanwhile.
 *
 * Exit codes: 0 every chain is whole; 1 a chain is broken; 64 bad arguments; 65 the database
 * has no audit chain (not migrated to 006: start the server once); 66 no such database.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { verifyAuditChain, type ChainReport } from '../domain/audit.ts';
import { SqliteAuditStore } from '../storage/sqlite/audit.ts';

export const AUDIT_USAGE = `usage: careline audit verify --db <path> [--tenant <id>] [--json]

  verify   walk the audit hash chain of every tenant (or of --tenant) and report the first broken link
  --db     the SQLite database file (storage.sqlitePath)
  --tenant only this tenant
  --json   print the reports as JSON

exit codes: 0 whole, 1 broken, 64 bad arguments, 65 no audit chain in the database, 66 no such database`;

export interface Out {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Out = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') };

/** Runs the `audit` command with its arguments (after `audit`); resolves to the exit code. */
export async function auditCommand(argv: readonly string[], io: Out = stdio): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv], allowPositionals: true, strict: true,
      options: { db: { type: 'string' }, tenant: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    io.err(`careline audit: ${(err as Error).message}\n${AUDIT_USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(AUDIT_USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'verify' || !values.db) {
    io.err(`careline audit: ${positionals[0] && positionals[0] !== 'verify' ? `unknown command ${positionals[0]}` : 'verify needs --db <path>'}\n${AUDIT_USAGE}`);
    return 64;
  }
  if (!existsSync(values.db)) {
    io.err(`careline audit: no database at ${values.db}`);
    return 66;
  }
  let db: Database.Database;
  try {
    db = new Database(values.db, { readonly: true, fileMustExist: true });
  } catch (err) {
    io.err(`careline audit: cannot open ${values.db}: ${(err as Error).message}`);
    return 66;
  }
  try {
    db.pragma('query_only = ON');
    const columns = (db.prepare("SELECT name FROM pragma_table_info('audit_log')").pluck().all() as string[]);
    if (!columns.includes('hash')) {
      io.err(`careline audit: ${values.db} has no audit chain yet (migration 006): start the server on it once`);
      return 65;
    }
    const store = new SqliteAuditStore(db);
    const tenants = values.tenant !== undefined ? [values.tenant] : await store.tenants();
    const reports: ChainReport[] = [];
    for (const t of tenants) reports.push(await verifyAuditChain(store, t));
    if (values.json) io.out(JSON.stringify(reports, null, 2));
    else {
      if (reports.length === 0) io.out('no audit records');
      for (const r of reports) io.out(describe(r));
    }
    return reports.every((r) => r.ok) ? 0 : 1;
  } finally {
    db.close();
  }
}

function describe(r: ChainReport): string {
  if (r.ok) return `${r.tenant_id}: ok, ${r.records} records${r.head ? `, head seq ${r.head.seq} hash ${r.head.hash}` : ''}`;
  const b = r.broken!;
  return `${r.tenant_id}: BROKEN ${b.seq !== null ? `at seq ${b.seq} ` : ''}(${b.reason}): ${b.message}; ${r.records} records whole before it`;
}

if (import.meta.main) {
  auditCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`careline audit: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
