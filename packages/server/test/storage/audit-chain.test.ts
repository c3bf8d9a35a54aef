/** Migration 006: audit records stored before the hash chain existed join it, in the order they were written. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, openDb } from '../../src/storage/sqlite/db.ts';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { auditHash, GENESIS_HASH, verifyAuditChain } from '../../src/domain/audit.ts';

/** A database as it was before 006, with audit records of two tenants in it. */
function before006(path: string): void {
  const db = openDb({ path, synchronous: 'NORMAL' });
  db.exec(`DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; DROP INDEX audit_log_chain; DROP INDEX audit_log_app; DROP INDEX audit_log_unchained;
           ALTER TABLE audit_log DROP COLUMN app_id; ALTER TABLE audit_log DROP COLUMN seq;
           ALTER TABLE audit_log DROP COLUMN prev_hash; ALTER TABLE audit_log DROP COLUMN hash;
           DELETE FROM schema_migrations WHERE version = 6`);
  const add = db.prepare('INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, action, conversation_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)');
  add.run('t1', 10, 'user', 'doc', 'messages.history', 'c1', JSON.stringify({ limit: 50, count: 3 }));
  add.run('t2', 11, 'app', 'app:his', 'messages.get', 'c9', JSON.stringify({ message_id: 'm1' }));
  add.run('t1', 12, 'app', 'app:his', 'messages.unread', 'c1', null);
  add.run('t1', 13, 'user', 'pat', 'topic.messages', 'c1', JSON.stringify({ topic_id: 'x', count: 1 }));
  db.close();
}

describe('migration 006 (audit hash chain)', () => {
  for (const writer of ['worker', 'inline'] as const) {
    it(`chains the records already stored, in id order per tenant, when the store opens (${writer} writer); new ones follow`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'careline-audit-mig-'));
      try {
        const path = join(dir, 'db.sqlite');
        before006(path);
        const db = openDb({ path, synchronous: 'NORMAL' }); // applies 006
        const cols = db.prepare('SELECT id, actor_id, app_id, seq, hash FROM audit_log ORDER BY id').all() as any[];
        assert.deepEqual(cols.map((r) => r.app_id), [null, 'his', 'his', null], 'an app\'s records name the app');
        assert.deepEqual(migrate(db), []);
        db.close();

        const s = createSqliteStorage({ path, synchronous: 'NORMAL', writer });
        try {
          await s.audit.append([{ tenant_id: 't1', at: 20, actor_kind: 'user', actor_id: 'doc', app_id: null, action: 'sessions.get', conversation_id: 'c1', detail: { last_message_id: 'm2' } }]);
          const t1 = await s.audit.chain('t1', { after_seq: 0, limit: 10 });
          assert.deepEqual(t1.map((r) => [r.seq, r.at, r.actor_id]), [[1, 10, 'doc'], [2, 12, 'app:his'], [3, 13, 'pat'], [4, 20, 'doc']]);
          assert.equal(t1[0]!.prev_hash, GENESIS_HASH);
          assert.deepEqual(t1[0]!.detail, { limit: 50, count: 3 });
          for (const r of t1) assert.equal(r.hash, auditHash(r));
          assert.deepEqual((await s.audit.chain('t2', { after_seq: 0, limit: 10 })).map((r) => [r.seq, r.app_id]), [[1, 'his']]);
          for (const t of ['t1', 't2']) assert.equal((await verifyAuditChain(s.audit, t)).ok, true, t);
          assert.equal(await s.audit.unchained('t1'), 0);
        } finally {
          await s.close();
        }
        // Opening again chains nothing twice.
        const again = createSqliteStorage({ path, synchronous: 'NORMAL', writer });
        try {
          await again.audit.append([]);
          assert.equal((await verifyAuditChain(again.audit, 't1')).records, 4);
        } finally {
          await again.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
