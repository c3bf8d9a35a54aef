/**
 * Runs a store contract on every storage backend: SQLite on a file (writer thread and
 * inline), SQLite in memory, and PostgreSQL (one server started per test file by
 * `startPostgres`, installed by scripts/install-services; a database of its own per file).
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Storage } from '../../src/domain/ports.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { createPostgresStorage } from '../../src/storage/postgres/index.ts';
import { startPostgres, type Service } from './services.ts';

export type OpenStorage = () => Promise<{ storage: Storage; cleanup: () => Promise<void> }>;

/** Calls `contract(label, open)` once per backend; `name` names the temp dirs and the PostgreSQL database. */
export function onEveryBackend(name: string, contract: (label: string, open: OpenStorage) => void): void {
  for (const writer of ['worker', 'inline'] as const) {
    contract(`sqlite (file, ${writer} writer)`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `careline-${name}-`));
      return {
        storage: createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL', writer }),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    });
  }

  contract('sqlite (:memory:)', async () => ({ storage: createSqliteStorage({ path: ':memory:', synchronous: 'NORMAL' }), cleanup: async () => {} }));

  let server: Promise<Service> | undefined;
  after(async () => {
    if (server) await (await server).stop();
  });

  contract('postgres', async () => {
    const svc = await (server ??= startPostgres());
    const db = `careline_${name}_${process.pid}`;
    const admin = new pg.Client({ connectionString: svc.url });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${db}`);
    } finally {
      await admin.end();
    }
    const url = new URL(svc.url);
    url.pathname = `/${db}`;
    return { storage: await createPostgresStorage({ url: url.toString(), poolSize: 4 }), cleanup: async () => {} };
  });
}
