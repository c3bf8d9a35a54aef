import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { AppError } from '../../src/domain/errors.ts';
import type { NewMessage } from '../../src/domain/types.ts';
import { DEFAULT_CACHE_MIB, DEFAULT_WAL_AUTOCHECKPOINT, migrate, openDb } from '../../src/storage/sqlite/db.ts';
import { createSqliteStorage, type SqliteStorage, type WriterMode } from '../../src/storage/sqlite/index.ts';
import { storageContract } from './contract.ts';
import { RELAXED, WRITES } from '../../src/storage/sqlite/stores.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'careline-store-'));

for (const writer of ['worker', 'inline'] as const) {
  storageContract(`sqlite (file, WAL, ${writer} writer)`, async () => {
    const dir = tempDir();
    const storage = createSqliteStorage({ path: join(dir, 'db.sqlite'), synchronous: 'FULL', writer });
    assert.equal(storage.writerMode, writer);
    return { storage, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  });
}

storageContract('sqlite (:memory:, inline)', async () => {
  const storage = createSqliteStorage({ path: ':memory:', synchronous: 'NORMAL', writer: 'worker' });
  assert.equal(storage.writerMode, 'inline');
  return { storage, cleanup: async () => {} };
});

const message = (i: number, conv = 'c'): NewMessage => ({
  tenant_id: 't', conversation_id: conv, id: `M${String(i).padStart(25, '0')}`, sender_id: 'u', type: 1,
  content: { text: `m${i}` }, content_json: JSON.stringify({ text: `m${i}` }), client_id: `cid-${i}`, created_at: 1000 + i, forward: null,
});

async function seeded(path: string, writer: WriterMode, onWriterStopped?: (err: AppError) => void): Promise<SqliteStorage> {
  const s = createSqliteStorage({ path, synchronous: 'NORMAL', writer, onWriterStopped });
  await s.tenants.createTenant({ id: 't', name: 'T', created_at: 1 });
  await s.users.upsertUser('t', { id: 'u', role: 'doctor', name: 'U', avatar: null, disabled: false }, 1);
  await s.conversations.createConversation({ tenant_id: 't', id: 'c', type: 2, business_type: 1, name: '', status: 0, created_by: 'u', participants: [{ user_id: 'u', role: 'm' }] }, 1);
  return s;
}

const unavailable = (storage: string) => (e: unknown) =>
  e instanceof AppError && e.code === 'server.unavailable' && (e.details as { storage?: string } | undefined)?.storage === storage;

describe('sqlite specifics', () => {
  it('gives a connection the page cache asked for (storage.sqliteCacheMb; 32 MiB unless set)', () => {
    const dir = tempDir();
    try {
      const a = openDb({ path: join(dir, 'a.sqlite'), synchronous: 'NORMAL' });
      assert.equal(DEFAULT_CACHE_MIB, 32);
      assert.equal(a.pragma('cache_size', { simple: true }), -32 * 1024);
      const b = openDb({ path: join(dir, 'b.sqlite'), synchronous: 'NORMAL', cacheMiB: 8 });
      assert.equal(b.pragma('cache_size', { simple: true }), -8 * 1024);
      a.close();
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checkpoints the WAL after storage.sqliteWalAutocheckpoint pages (16,000 unless set)', () => {
    const dir = tempDir();
    try {
      const a = openDb({ path: join(dir, 'a.sqlite'), synchronous: 'NORMAL' });
      assert.equal(a.pragma('wal_autocheckpoint', { simple: true }), DEFAULT_WAL_AUTOCHECKPOINT);
      assert.equal(DEFAULT_WAL_AUTOCHECKPOINT, 16_000);
      const b = openDb({ path: join(dir, 'b.sqlite'), synchronous: 'NORMAL', walAutocheckpoint: 500 });
      assert.equal(b.pragma('wal_autocheckpoint', { simple: true }), 500);
      a.close();
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with the writer thread, a checkpointer thread copies the WAL and the WAL starts over while writes go on', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'db.sqlite');
      const s = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'worker', walAutocheckpoint: 100 });
      await s.tenants.createTenant({ id: 't', name: 'T', created_at: 1 });
      await s.users.upsertUser('t', { id: 'u', role: 'doctor', name: 'U', avatar: null, disabled: false }, 1);
      for (let c = 0; c < 20; c++) {
        await s.conversations.createConversation({ tenant_id: 't', id: `c${c}`, type: 2, business_type: 1, name: '', status: 0, created_by: 'u', participants: [{ user_id: 'u', role: 'm' }] }, 1);
      }
      // The WAL header's checkpoint sequence number (bytes 12–15, big-endian) grows by one each
      // time the WAL starts over — which needs every frame copied into the database file first.
      const walRestarts = () => readFileSync(`${path}-wal`).readUInt32BE(12);
      const before = walRestarts();
      let n = 0;
      const until = Date.now() + 5_000;
      // Small commits without a pause (four appends always queued: the writer is never idle,
      // so the WAL is never wholly copied by the checkpointer alone), until it started over three times.
      const sender = async () => {
        while (Date.now() < until && walRestarts() < before + 3) {
          await s.messages.append(Array.from({ length: 10 }, (_, i) => message(++n, `c${i * 2 + (n % 2)}`)));
        }
      };
      await Promise.all([sender(), sender(), sender(), sender()]);
      assert.ok(walRestarts() >= before + 3, `the WAL started over ${walRestarts() - before} times in ${n} messages`);
      await s.close();
      // Everything written is there, and the database file itself holds it (the WAL was copied).
      const db = new Database(path, { readonly: true });
      assert.equal(db.prepare('SELECT count(*) FROM messages').pluck().get(), n);
      assert.equal(db.prepare('SELECT sum(last_seq) FROM conversations').pluck().get(), n);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the writes committed without an fsync of their own are writes, and only ones done again by themselves', () => {
    for (const [store, methods] of Object.entries(RELAXED)) {
      for (const m of methods) assert.ok((WRITES[store as keyof typeof WRITES] as readonly string[]).includes(m), `${store}.${m} is a write`);
    }
    // Never a fact a user or an operator made: only leases, completions, retries, pruning, heartbeats.
    assert.deepEqual(Object.keys(RELAXED).sort(), ['calls', 'desk', 'jobs', 'sessions']);
    assert.ok(!RELAXED.jobs!.includes('enqueue'));
  });

  it('migration 005 counts the users a database already holds, then triggers keep the count', () => {
    const dir = tempDir();
    try {
      const db = openDb({ path: join(dir, 'db.sqlite'), synchronous: 'NORMAL' });
      const addUser = db.prepare("INSERT INTO users (tenant_id, id, role, name, avatar, disabled, created_at, updated_at) VALUES (?, ?, ?, 'n', NULL, 0, 1, 1)");
      db.prepare("INSERT INTO tenants (id, name, created_at) VALUES ('t', 'T', 1), ('t2', 'T2', 1)").run();
      // As a database made before 005: users, no count, no triggers.
      db.exec(`DROP TRIGGER users_count_insert; DROP TRIGGER users_count_role; DROP TRIGGER users_count_delete;
               ALTER TABLE tenants DROP COLUMN user_count; DELETE FROM schema_migrations WHERE version = 5`);
      for (const [t, id, role] of [['t', 'system', 'system'], ['t', 'a', 'patient'], ['t', 'b', 'doctor'], ['t2', 'c', 'staff']]) addUser.run(t, id, role);
      assert.deepEqual(migrate(db), [5]);
      const counts = () => db.prepare('SELECT id, user_count FROM tenants ORDER BY id').all();
      assert.deepEqual(counts(), [{ id: 't', user_count: 2 }, { id: 't2', user_count: 1 }]);
      addUser.run('t', 'd', 'admin');
      db.prepare("UPDATE users SET role = 'system' WHERE tenant_id = 't' AND id = 'a'").run();
      db.prepare("DELETE FROM users WHERE tenant_id = 't2' AND id = 'c'").run();
      assert.deepEqual(counts(), [{ id: 't', user_count: 2 }, { id: 't2', user_count: 0 }]);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('migration 009 numbers the notifications a database already holds per tenant in id order', async () => {
    const dir = tempDir();
    const path = join(dir, 'db.sqlite');
    try {
      const db = openDb({ path, synchronous: 'NORMAL' });
      db.prepare("INSERT INTO tenants (id, name, created_at) VALUES ('t', 'T', 1), ('t2', 'T2', 1)").run();
      // As a database made before 009: notifications without a sequence.
      db.exec('DROP INDEX notifications_tenant_seq; DROP INDEX notification_recipients_notification; ALTER TABLE notifications DROP COLUMN tenant_seq; DELETE FROM schema_migrations WHERE version = 9');
      const add = db.prepare(
        "INSERT INTO notifications (tenant_id, id, kind, mode, title, audience, created_by, created_at) VALUES (?, ?, 'K', 'each', 'x', 'tenant', 'app', 1)",
      );
      // Inserted out of id order: the number follows the id.
      for (const [t, id] of [['t', '01B'], ['t2', '01A'], ['t', '01A'], ['t', '01C'], ['t2', '01B']]) add.run(t, id);
      assert.deepEqual(migrate(db), [9]);
      assert.deepEqual(db.prepare('SELECT tenant_id, id, tenant_seq FROM notifications ORDER BY tenant_id, tenant_seq').all(), [
        { tenant_id: 't', id: '01A', tenant_seq: 1 }, { tenant_id: 't', id: '01B', tenant_seq: 2 }, { tenant_id: 't', id: '01C', tenant_seq: 3 },
        { tenant_id: 't2', id: '01A', tenant_seq: 1 }, { tenant_id: 't2', id: '01B', tenant_seq: 2 },
      ]);
      db.close();
      // The store goes on from there.
      const s = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'inline' });
      await s.users.upsertUser('t', { id: 'u', role: 'patient', name: 'u', avatar: null, disabled: false }, 1);
      const r = await s.notifications.create({
        tenant_id: 't', id: '01D', kind: 'K', mode: 'each', title: 'y', body: null, data: null, sender_id: null,
        audience: 'users', audience_id: null, created_by: 'app', created_at: 2,
      }, { type: 'users', ids: ['u'] });
      assert.deepEqual([r.notification.id, r.notification.seq], ['01D', 4]);
      assert.deepEqual((await s.notifications.since('t', 2, 10)).map((x) => [x.notification.seq, x.notification.id, x.recipients]), [[3, '01C', null], [4, '01D', ['u']]]);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('migration 026 keeps every membership and conversation, clusters them by user and by key, and the reads walk those keys', async () => {
    const dir = tempDir();
    const path = join(dir, 'db.sqlite');
    try {
      const db = openDb({ path, synchronous: 'NORMAL' });
      // As a database made before 026: both tables with rowids, the index by user.
      db.exec(`DROP TABLE participants; DROP TABLE conversations; DELETE FROM schema_migrations WHERE version = 26;
        CREATE TABLE conversations (tenant_id TEXT NOT NULL, id TEXT NOT NULL, type INTEGER NOT NULL, business_type INTEGER NOT NULL,
          name TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0, created_by TEXT NOT NULL, created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, last_message_at INTEGER, PRIMARY KEY (tenant_id, id));
        CREATE TABLE participants (tenant_id TEXT NOT NULL, conversation_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL,
          joined_at INTEGER NOT NULL, joined_seq INTEGER NOT NULL, read_seq INTEGER NOT NULL, sticky_at INTEGER,
          PRIMARY KEY (tenant_id, conversation_id, user_id));
        CREATE INDEX participants_user ON participants (tenant_id, user_id);`);
      db.prepare("INSERT INTO tenants (id, name, created_at) VALUES ('t', 'T', 1)").run();
      const conv = db.prepare("INSERT INTO conversations VALUES ('t', ?, 1, 2, ?, 0, 'dr', 1, 2, ?, ?)");
      const part = db.prepare("INSERT INTO participants VALUES ('t', ?, ?, 'member', ?, 0, ?, ?)");
      for (let i = 0; i < 30; i++) {
        conv.run(`c${String(i).padStart(2, '0')}`, `Visit ${i}`, i, i === 0 ? null : 1000 + i);
        part.run(`c${String(i).padStart(2, '0')}`, 'dr', 10 + i, i, i % 3 === 0 ? 50 + i : null);
        part.run(`c${String(i).padStart(2, '0')}`, `pt${i}`, 20 + i, Math.max(0, i - 1), null);
      }
      const dump = () => ({
        conversations: db.prepare('SELECT * FROM conversations ORDER BY tenant_id, id').all(),
        participants: db.prepare('SELECT * FROM participants ORDER BY tenant_id, conversation_id, user_id').all(),
      });
      const before = dump();
      assert.deepEqual(migrate(db), [26]);
      assert.deepEqual(dump(), before);
      const withoutRowid = (name: string) => db.prepare('SELECT wr FROM pragma_table_list WHERE name = ?').pluck().get(name);
      assert.equal(withoutRowid('participants'), 1);
      assert.equal(withoutRowid('conversations'), 1);
      const plan = (sql: string, ...args: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join(' | ');
      // A user's memberships: one range of the table, each conversation by its key.
      assert.equal(
        plan('SELECT c.id, p.read_seq FROM participants p JOIN conversations c ON c.tenant_id = p.tenant_id AND c.id = p.conversation_id WHERE p.tenant_id = ? AND p.user_id = ?', 't', 'dr'),
        'SEARCH p USING PRIMARY KEY (tenant_id=? AND user_id=?) | SEARCH c USING PRIMARY KEY (tenant_id=? AND id=?)',
      );
      // A conversation's members: the index by conversation, holding all the lookup reads.
      assert.equal(plan('SELECT user_id FROM participants WHERE tenant_id = ? AND conversation_id = ?', 't', 'c01'), 'SEARCH participants USING COVERING INDEX participants_conversation (tenant_id=? AND conversation_id=?)');
      assert.throws(() => db.prepare("INSERT INTO participants VALUES ('t', 'c01', 'dr', 'member', 1, 0, 0, NULL)").run(), /UNIQUE|PRIMARY KEY/);
      db.close();
      // The stores go on from there.
      const s = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'inline' });
      const mine = await s.conversations.memberships('t', 'dr');
      assert.equal(mine.length, 30);
      assert.deepEqual(mine.find((m) => m.id === 'c07'), { id: 'c07', last_seq: 7, read_seq: 7, joined_seq: 0, joined_at: 17 });
      assert.deepEqual((await s.conversations.memberIds('t', 'c07')).sort(), ['dr', 'pt7']);
      assert.deepEqual((await s.conversations.getParticipants('t', 'c07')).map((p) => [p.user_id, p.read_seq]), [['dr', 7], ['pt7', 6]]);
      assert.equal((await s.conversations.getConversation('t', 'c29'))?.last_message_at, 1029);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens in WAL mode, records migrations, and reopens with the data', async () => {
    const dir = tempDir();
    const path = join(dir, 'sub', 'db.sqlite');
    try {
      const s1 = createSqliteStorage({ path, synchronous: 'NORMAL' });
      assert.equal(s1.writerMode, 'worker');
      await s1.tenants.createTenant({ id: 't', name: 'T', created_at: 1 });
      await s1.close();
      assert.equal(await s1.ping(), false);
      const s2 = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'inline' });
      assert.equal((await s2.tenants.getTenant('t'))?.name, 'T');
      await s2.close();
      const db = new Database(path, { readonly: true });
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
      assert.deepEqual(versions, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26]);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an error thrown in the writer thread arrives as the error the inline store throws', async () => {
    const dir = tempDir();
    try {
      const errors: Record<WriterMode, unknown[]> = { worker: [], inline: [] };
      for (const mode of ['worker', 'inline'] as const) {
        const s = await seeded(join(dir, `${mode}.sqlite`), mode);
        await s.notifications.registerKind('t', 'CUSTOM_KIND', 'each', 1);
        await s.tenants.createApp({ id: 'app', tenant_id: 't', name: 'a', key_hash: 'h', created_at: 1, revoked_at: null });
        for (const p of [s.notifications.registerKind('t', 'CUSTOM_KIND', 'latest', 2), s.tenants.createApp({ id: 'app', tenant_id: 't', name: 'b', key_hash: 'h2', created_at: 2, revoked_at: null })]) {
          errors[mode].push(await p.then(() => assert.fail('should have failed'), (e: unknown) => e));
        }
        await s.close();
      }
      const [kindW, appW] = errors.worker as [AppError, Error & { code?: string }];
      const [kindI, appI] = errors.inline as [AppError, Error & { code?: string }];
      assert.ok(kindW instanceof AppError);
      assert.deepEqual(kindW.toBody(), kindI.toBody());
      assert.deepEqual(kindW.toBody(), { code: 'notification.kind_exists', message: kindI.message, details: { kind: 'CUSTOM_KIND', mode: 'each' } });
      assert.equal(kindW.status, 409);
      assert.ok(appW instanceof Error && !(appW instanceof AppError));
      assert.deepEqual([appW.name, appW.message, appW.code], [appI.name, appI.message, appI.code]);
      assert.equal(appW.code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
      assert.match(appW.stack ?? '', /in the SQLite writer thread/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes that queue while the writer commits share its next transaction; each that fails fails alone', async () => {
    const dir = tempDir();
    try {
      const s = await seeded(join(dir, 'db.sqlite'), 'worker');
      await s.conversations.createConversation({ tenant_id: 't', id: 'd', type: 2, business_type: 1, name: '', status: 0, created_by: 'u', participants: [{ user_id: 'u', role: 'm' }] }, 1);
      // A big batch keeps the writer busy while the rest queue behind it.
      const big = s.messages.append(Array.from({ length: 20_000 }, (_, i) => message(i + 1)));
      const next = [
        s.messages.append([message(20_001, 'd')]),
        s.tenants.createTenant({ id: 't', name: 'again', created_at: 2 }),
        s.messages.append([message(20_002, 'd'), { ...message(20_003, 'd'), id: message(1).id }]),
        s.conversations.advanceRead('t', 'd', 'u', 0),
        s.teams.putTeam('t', 'team', 'Team', ['u', 'nobody'], 3),
        s.messages.append([message(20_004, 'd')]),
        s.users.upsertUser('t', { id: 'v', role: 'patient', name: 'V', avatar: null, disabled: false }, 3),
      ];
      const [bigResult, ...rest] = await Promise.allSettled([big, ...next]);
      assert.equal(bigResult.status, 'fulfilled');
      assert.deepEqual(rest.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      const reason = (i: number) => (rest[i] as PromiseRejectedResult).reason as Error & { code?: string };
      assert.ok(reason(1) instanceof AppError && reason(1).code === 'tenant.exists');
      assert.equal(reason(2).code, 'SQLITE_CONSTRAINT_UNIQUE');
      assert.ok(reason(4) instanceof AppError && reason(4).code === 'user.not_found');
      assert.deepEqual((await s.messages.history('t', 'd', { limit: 10 })).map((m) => [m.seq, m.content?.text]), [[1, 'm20001'], [2, 'm20004']]);
      assert.equal((await s.conversations.getConversation('t', 'c'))?.last_seq, 20_000);
      assert.equal((await s.users.getUser('t', 'v'))?.name, 'V');
      assert.equal(await s.teams.getTeam('t', 'team'), null);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('close finishes every write already called, then stops the writer; later writes fail as unavailable', async () => {
    const dir = tempDir();
    const path = join(dir, 'db.sqlite');
    try {
      const s = await seeded(path, 'worker');
      const writes = Array.from({ length: 300 }, (_, i) => s.messages.append([message(i + 1)]));
      const reads = Array.from({ length: 50 }, (_, i) => s.conversations.advanceRead('t', 'c', 'u', i + 1));
      const closed = s.close();
      const late = assert.rejects(s.users.upsertUser('t', { id: 'late', role: 'patient', name: 'L', avatar: null, disabled: false }, 2), unavailable('closed'));
      await closed;
      const results = await Promise.all(writes);
      assert.deepEqual(results.map(([r]) => r?.ok && r.message.seq), results.map((_, i) => i + 1));
      assert.equal((await Promise.all(reads)).length, 50);
      await late;
      await assert.rejects(s.tenants.createTenant({ id: 'x', name: 'X', created_at: 1 }), unavailable('closed'));
      assert.equal(await s.ping(), false);
      assert.equal(s.writerThread?.threadId, -1, 'the thread has exited');
      const again = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'inline' });
      assert.equal((await again.conversations.getConversation('t', 'c'))?.last_seq, 300);
      assert.equal(await again.users.getUser('t', 'late'), null);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a writer thread that dies fails pending and later writes with server.unavailable; ping says so; reads go on', async () => {
    const dir = tempDir();
    try {
      const stopped: AppError[] = [];
      const s = await seeded(join(dir, 'db.sqlite'), 'worker', (err) => stopped.push(err));
      assert.equal(await s.ping(), true);
      // A big batch keeps the writer busy, so writes are still pending when it dies.
      const big = s.messages.append(Array.from({ length: 50_000 }, (_, i) => message(i + 1)));
      const writes = [big, ...Array.from({ length: 100 }, (_, i) => s.messages.append([message(50_001 + i)]))];
      await s.writerThread!.terminate();
      const settled = await Promise.allSettled(writes);
      for (const r of settled) {
        if (r.status === 'rejected') assert.ok(unavailable('writer_stopped')(r.reason), String(r.reason));
      }
      assert.ok(settled.some((r) => r.status === 'rejected'), 'writes still pending when the thread died were failed');
      await assert.rejects(s.users.upsertUser('t', { id: 'after', role: 'patient', name: 'A', avatar: null, disabled: false }, 2), unavailable('writer_stopped'));
      assert.equal(stopped.length, 1);
      assert.match(stopped[0]!.message, /SQLite writer thread stopped/);
      assert.equal(await s.ping(), false);
      assert.equal((await s.tenants.getTenant('t'))?.name, 'T');
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
