import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { storageContract } from './contract.ts';

storageContract('sqlite (file, WAL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'careline-store-'));
  const storage = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'FULL' });
  return { storage, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('sqlite specifics', () => {
  it('opens in WAL mode, records migrations, and reopens with the data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careline-store-'));
    const path = join(dir, 'sub', 'db.sqlite');
    try {
      const s1 = createSqliteStorage({ path, synchronous: 'NORMAL' });
      await s1.tenants.createTenant({ id: 't', name: 'T', created_at: 1 });
      await s1.close();
      assert.equal(await s1.ping(), false);
      const s2 = createSqliteStorage({ path, synchronous: 'NORMAL' });
      assert.equal((await s2.tenants.getTenant('t'))?.name, 'T');
      await s2.close();
      const db = new Database(path, { readonly: true });
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
      assert.deepEqual(versions, [1, 2, 3, 4]);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
