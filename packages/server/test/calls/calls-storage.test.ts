/**
 * The call store contract on every backend: SQLite on a file (writer thread and inline),
 * SQLite in memory, and PostgreSQL (a server started for this file by `startPostgres`,
 * installed by scripts/install-services).
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { createPostgresStorage } from '../../src/storage/postgres/index.ts';
import { startPostgres, type Service } from '../support/services.ts';
import { callsContract } from './calls-contract.ts';

for (const writer of ['worker', 'inline'] as const) {
  callsContract(`sqlite (file, ${writer} writer)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careline-calls-'));
    return {
      storage: createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL', writer }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });
}

callsContract('sqlite (:memory:)', async () => ({ storage: createSqliteStorage({ path: ':memory:', synchronous: 'NORMAL' }), cleanup: async () => {} }));

let server: Promise<Service> | undefined;
after(async () => {
  if (server) await (await server).stop();
});

callsContract('postgres', async () => {
  const svc = await (server ??= startPostgres());
  const name = `careline_calls_${process.pid}`;
  const admin = new pg.Client({ connectionString: svc.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(svc.url);
  url.pathname = `/${name}`;
  return { storage: await createPostgresStorage({ url: url.toString(), poolSize: 4 }), cleanup: async () => {} };
});
