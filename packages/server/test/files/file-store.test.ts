/** The file metadata store (`Storage.files`) on SQLite (a real file, writer thread) and PostgreSQL. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FileRecord, Storage } from '../../src/domain/ports.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { createPostgresStorage } from '../../src/storage/postgres/index.ts';
import { startPostgres, type Service } from '../support/services.ts';

const file = (id: string, over: Partial<FileRecord> = {}): FileRecord => ({
  id, tenant_id: 't1', conversation_id: 'c1', uploader_id: 'u1', kind: 'image', mime_type: 'image/jpeg', file_name: 'rash.jpg', size: 1234,
  blob_key: `k/${id}`, thumb_key: `k/${id}.thumb`, width: 640, height: 480, thumb_width: 200, thumb_height: 150, duration: null,
  state: 'uploaded', message_id: null, created_at: 1000, attached_at: null, ...over,
});

function contract(name: string, open: () => Promise<{ storage: Storage; done: () => Promise<void> }>) {
  test(`${name}: create, get (tenant-scoped), attach once, orphans, delete`, async () => {
    const { storage, done } = await open();
    try {
      const f = storage.files;
      await f.create(file('f1'));
      await f.create(file('f2', { created_at: 2000, kind: 'audio', mime_type: 'audio/mpeg', duration: 1.5, thumb_key: null, width: null, height: null, thumb_width: null, thumb_height: null }));
      await f.create(file('f3', { created_at: 500, tenant_id: 't2' }));
      assert.deepEqual(await f.get('t1', 'f1'), file('f1'));
      assert.equal((await f.get('t1', 'f2'))!.duration, 1.5);
      assert.equal(await f.get('t2', 'f1'), null, "another tenant's id is not found");
      // Only the uploader, in its conversation, once.
      assert.equal(await f.attach('t1', 'f1', 'c2', 'u1', 'm1', 3000), false);
      assert.equal(await f.attach('t1', 'f1', 'c1', 'u2', 'm1', 3000), false);
      assert.equal(await f.attach('t1', 'f1', 'c1', 'u1', 'm1', 3000), true);
      assert.equal(await f.attach('t1', 'f1', 'c1', 'u1', 'm2', 3001), false);
      assert.deepEqual(await f.get('t1', 'f1'), file('f1', { state: 'attached', message_id: 'm1', attached_at: 3000 }));
      // Orphans: still uploaded, created before the time, oldest first, across tenants.
      assert.deepEqual((await f.orphans(2500, 10)).map((r) => r.id), ['f3', 'f2']);
      assert.deepEqual((await f.orphans(1500, 10)).map((r) => r.id), ['f3']);
      assert.deepEqual((await f.orphans(2500, 1)).map((r) => r.id), ['f3']);
      // release: only the message that attached it, back to uploaded.
      assert.equal(await f.release('t1', 'f1', 'm9'), false);
      assert.equal(await f.release('t1', 'f1', 'm1'), true);
      assert.deepEqual(await f.get('t1', 'f1'), file('f1'));
      assert.equal(await f.attach('t1', 'f1', 'c1', 'u1', 'm1', 3000), true);
      // deleteOrphan: only an upload still unattached and old enough.
      assert.equal(await f.deleteOrphan('t1', 'f1', 5000), false, 'attached');
      assert.equal(await f.deleteOrphan('t1', 'f2', 2000), false, 'too young');
      assert.equal(await f.deleteOrphan('t1', 'f2', 2001), true);
      assert.equal(await f.get('t1', 'f2'), null);
      assert.equal(await f.delete('t2', 'f3'), true);
      assert.equal(await f.delete('t2', 'f3'), false);
      assert.equal(await f.get('t2', 'f3'), null);
    } finally {
      await done();
    }
  });
}

contract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'careline-files-'));
  const storage = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL' });
  return { storage, done: async () => { await storage.close(); rmSync(dir, { recursive: true, force: true }); } };
});

let pg: Service;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
});
contract('postgres', async () => {
  const storage = await createPostgresStorage({ url: pg.url });
  return {
    storage,
    done: async () => {
      await storage.db.query('DELETE FROM files');
      await storage.close();
    },
  };
});
