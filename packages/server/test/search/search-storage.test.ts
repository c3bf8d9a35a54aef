/**
 * The search store contract on every backend: SQLite on a file (writer thread and inline),
 * SQLite in memory, and PostgreSQL (a server started for this file by `startPostgres`,
 * installed by scripts/install-services); and the migrations indexing the messages a database
 * already holds.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';
import { searchDbPath } from '../../src/storage/sqlite/search-db.ts';
import { migrate } from '../../src/storage/sqlite/db.ts';
import { SqliteSearchStore } from '../../src/storage/sqlite/search.ts';
import { createPostgresStorage } from '../../src/storage/postgres/index.ts';
import { PgSearchStore } from '../../src/storage/postgres/search.ts';
import { startPostgres, type Service } from '../support/services.ts';
import { searchContract } from './search-contract.ts';

for (const writer of ['worker', 'inline'] as const) {
  searchContract(`sqlite (file, ${writer} writer)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careline-search-'));
    const path = join(dir, 'db.sqlite');
    return {
      storage: createSqliteStorage({ path, synchronous: 'NORMAL', writer }),
      exec: async (sql) => {
        const db = new Database(path);
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
      },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });
}

let server: Promise<Service> | undefined;
after(async () => {
  if (server) await (await server).stop();
});
let dbs = 0;

async function pgDatabase(): Promise<string> {
  const svc = await (server ??= startPostgres());
  const name = `careline_search_${process.pid}_${++dbs}`;
  const admin = new pg.Client({ connectionString: svc.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(svc.url);
  url.pathname = `/${name}`;
  return url.toString();
}

searchContract('postgres', async () => {
  const storage = await createPostgresStorage({ url: await pgDatabase(), poolSize: 4 });
  return { storage, exec: async (sql) => void (await storage.db.write(sql)), cleanup: async () => {} };
});

// The same with only the newest message checked before the index is asked: both steps and their seam.
searchContract('postgres (index after the newest message)', async () => {
  const storage = await createPostgresStorage({ url: await pgDatabase(), poolSize: 4 });
  (storage as { search: unknown }).search = new PgSearchStore(storage.db, { recent: 1, indexer: storage.searchIndexer });
  return { storage, exec: async (sql) => void (await storage.db.write(sql)), cleanup: async () => {} };
});

const seed = async (s: ReturnType<typeof createSqliteStorage> | Awaited<ReturnType<typeof createPostgresStorage>>) => {
  await s.tenants.createTenant({ id: 't', name: 'T', created_at: 1 });
  await s.users.upsertUser('t', { id: 'u', role: 'patient', name: 'u', avatar: null, disabled: false }, 1);
  await s.conversations.createConversation({ tenant_id: 't', id: 'c', type: 2, business_type: 2, name: '', status: 0, created_by: 'u', participants: [{ user_id: 'u', role: 'm' }] }, 1);
  const texts = ['旧消息：皮疹三天了', 'old message about a rash', '{"nested": "json text"}'];
  await s.messages.append(texts.map((text, i) => ({
    tenant_id: 't', conversation_id: 'c', id: `01OLD${String(i).padStart(21, '0')}`, sender_id: 'u', type: 1, content: { text }, content_json: JSON.stringify({ text }),
    client_id: null, created_at: 1000 + i, forward: null,
  })));
};

describe('search migrations index the messages already stored', () => {
  it('sqlite 025: a database whose index was in its own file is indexed anew in the search file, by the indexer thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careline-search-mig-'));
    const path = join(dir, 'db.sqlite');
    try {
      const s1 = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'inline' });
      await seed(s1);
      await s1.close();
      // As a database made before 025: the index's tables and triggers in the main file, no search file.
      const db = new Database(path);
      db.exec(`DROP TRIGGER messages_search_update; DROP TRIGGER messages_search_delete; DROP TABLE message_search_changes;
               CREATE TABLE message_search_keys (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, conversation_id TEXT NOT NULL, seq INTEGER NOT NULL);
               CREATE VIRTUAL TABLE message_search USING fts5(body, tokenize = 'trigram');
               CREATE VIRTUAL TABLE message_search_vocab USING fts5vocab(message_search, 'row');
               CREATE TRIGGER messages_search_update AFTER UPDATE OF content, type ON messages BEGIN SELECT 1; END;
               CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN SELECT 1; END;
               ALTER TABLE conversations ADD COLUMN indexed_seq INTEGER NOT NULL DEFAULT 0;
               UPDATE conversations SET indexed_seq = last_seq;
               DELETE FROM schema_migrations WHERE version = 25`);
      for (const suffix of ['', '-wal', '-shm']) rmSync(searchDbPath(path) + suffix, { force: true });
      assert.deepEqual(migrate(db), [25]);
      db.close();
      const s2 = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'worker' });
      assert.equal((await s2.search.messages('t', { terms: ['皮疹'], limit: 10 })).items[0]?.content?.text, '旧消息：皮疹三天了');
      assert.equal((await s2.search.messages('t', { terms: ['rash'], limit: 10 })).items.length, 1);
      assert.equal((await s2.search.messages('t', { terms: ['json'], limit: 10 })).items.length, 1);
      await s2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('postgres 005', async () => {
    const url = await pgDatabase();
    const s1 = await createPostgresStorage({ url, poolSize: 2 });
    await seed(s1);
    await s1.close();
    // As a database made before 005: no search index or functions (nor 015's tables, which use them).
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`DROP TRIGGER messages_search_follow_update ON messages; DROP TRIGGER messages_search_follow_delete ON messages; DROP FUNCTION careline_search_follow;
                     DROP TABLE message_search; DROP TABLE message_search_pending;
                     DROP FUNCTION careline_search_has; DROP FUNCTION careline_search_grams; DROP FUNCTION careline_search_body;
                     DELETE FROM schema_migrations WHERE version IN (5, 15)`);
    } finally {
      await c.end();
    }
    const s2 = await createPostgresStorage({ url, poolSize: 2 });
    try {
      assert.equal((await s2.search.messages('t', { terms: ['皮疹'], limit: 10 })).items[0]?.content?.text, '旧消息：皮疹三天了');
      assert.equal((await s2.search.messages('t', { terms: ['rash'], limit: 10 })).items.length, 1);
      const { rows } = await s2.db.query<{ version: number }>('SELECT version FROM schema_migrations WHERE version IN (5, 15)');
      assert.equal(rows.length, 2);
    } finally {
      await s2.close();
    }
  });
});

describe('sqlite search: the LIKE fallback and the work bound', () => {
  it('a 2-character term beginning too many trigrams is matched by LIKE; a bounded page is short with a cursor, and the cursors find every match once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careline-search-bound-'));
    const path = join(dir, 'db.sqlite');
    try {
      const s = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'inline' });
      await seed(s);
      await s.messages.append(['皮疹 again', 'no match', '100% off_x', '又是皮疹'].map((text, i) => ({
        tenant_id: 't', conversation_id: 'c', id: `01NEW${String(i).padStart(21, '0')}`, sender_id: 'u', type: 1, content: { text }, content_json: JSON.stringify({ text }),
        client_id: null, created_at: 2000 + i, forward: null,
      })));
      const all = (await s.search.messages('t', { terms: ['皮疹'], limit: 10 })).items.map((m) => m.id);
      assert.equal(all.length, 3);
      await s.close();
      const db = new Database(path, { readonly: true });
      db.prepare('ATTACH DATABASE ? AS search').run(searchDbPath(path));
      try {
        const like = new SqliteSearchStore(db, { maxAlternatives: 0 });
        assert.deepEqual((await like.messages('t', { terms: ['皮疹'], limit: 10 })).items.map((m) => m.id), all);
        assert.equal((await like.messages('t', { terms: ['f_'], limit: 10 })).items[0]?.content?.text, '100% off_x');
        assert.deepEqual((await like.messages('t', { terms: ['%%'], limit: 10 })).items, []);

        const bounded = new SqliteSearchStore(db, { budgetMs: 0, firstWindow: 1 });
        const seen: string[] = [];
        let cursor: string | undefined;
        let short = 0;
        for (let i = 0; i < 50; i++) {
          const page = await bounded.messages('t', { terms: ['皮疹'], limit: 2, ...(cursor ? { cursor } : {}) });
          if (page.items.length < 2 && page.next_cursor !== null) short++;
          seen.push(...page.items.map((m) => m.id));
          if (page.next_cursor === null) break;
          cursor = page.next_cursor;
        }
        assert.deepEqual(seen, all);
        assert.ok(short > 0, 'some pages stopped at the bound');
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
