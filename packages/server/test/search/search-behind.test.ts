/**
 * The SQLite search index kept behind the appends (storage/sqlite/search-indexer.ts,
 * migration 023): a search sees every message committed before it; the index follows the
 * appends by itself; it resumes after a kill -9 and indexes each message once; keys keep each
 * conversation's seq order; an edit of a message not yet indexed is indexed as edited. The same
 * on PostgreSQL (migration 015): pending rows outlive the node that appended them, and two
 * nodes indexing at once index each message once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createSqliteStorage, type SqliteStorage } from '../../src/storage/sqlite/index.ts';
import { createPostgresStorage, type PostgresStorage } from '../../src/storage/postgres/index.ts';
import { bodyGrams } from '../../src/storage/postgres/search-grams.ts';
import { searchDbPath } from '../../src/storage/sqlite/search-db.ts';
import { startPostgres, type Service } from '../support/services.ts';
import type { NewMessage } from '../../src/domain/types.ts';

const T = 't';

async function seed(s: SqliteStorage | PostgresStorage, conversations: number): Promise<void> {
  await s.tenants.createTenant({ id: T, name: 'T', created_at: 1 });
  await s.users.upsertUser(T, { id: 'u', role: 'patient', name: 'u', avatar: null, disabled: false }, 1);
  for (let c = 0; c < conversations; c++) {
    await s.conversations.createConversation({ tenant_id: T, id: `c${c}`, type: 2, business_type: 2, name: '', status: 0, created_by: 'u', participants: [{ user_id: 'u', role: 'm' }] }, 1);
  }
}

let ids = 0;
const msg = (conv: string, text: string, at: number, type = 1): NewMessage => ({
  tenant_id: T, conversation_id: conv, id: `01B${String(++ids).padStart(23, '0')}`, sender_id: 'u', type, content: { text }, content_json: JSON.stringify({ text }),
  client_id: null, created_at: at, forward: null,
});

/** The database and its search file (`storage/sqlite/search-db.ts`), on a connection of its own. */
function open(path: string, readonly = true): Database.Database {
  const db = new Database(path, { readonly });
  db.prepare('ATTACH DATABASE ? AS search').run(searchDbPath(path));
  return db;
}

/** How far each conversation is indexed, read on a connection of its own. */
function state(path: string): { behind: number; keys: number; fts: number; searchable: number } {
  const db = open(path);
  try {
    return {
      behind: db.prepare(`SELECT coalesce(sum(c.last_seq - coalesce(x.indexed_seq, 0)), 0) FROM conversations c
        LEFT JOIN message_search_cursors x ON x.tenant_id = c.tenant_id AND x.conversation_id = c.id`).pluck().get() as number,
      keys: db.prepare('SELECT count(*) FROM message_search_keys').pluck().get() as number,
      fts: db.prepare('SELECT count(*) FROM message_search').pluck().get() as number,
      searchable: db.prepare('SELECT count(*) FROM messages WHERE content IS NOT NULL AND type NOT IN (0, 6, 7, 10, 11, 13, 14)').pluck().get() as number,
    };
  } finally {
    db.close();
  }
}

const tempDb = () => {
  const dir = mkdtempSync(join(tmpdir(), 'careline-search-behind-'));
  return { dir, path: join(dir, 'db.sqlite') };
};

describe('sqlite search index behind the appends', () => {
  it('an append leaves the index behind; a search catches it up and sees every committed message', async () => {
    const { dir, path } = tempDb();
    try {
      const s = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'inline' });
      await seed(s, 2);
      await s.messages.append([msg('c0', 'first rash', 10), msg('c1', 'second rash', 11)]);
      // Appended, not indexed: the index follows a turn of the event loop later.
      assert.equal(state(path).behind, 2);
      assert.equal(state(path).keys, 0);
      const found = await s.search.messages(T, { terms: ['rash'], limit: 10 });
      assert.deepEqual(found.items.map((m) => m.content?.text), ['second rash', 'first rash']);
      assert.deepEqual({ ...state(path) }, { behind: 0, keys: 2, fts: 2, searchable: 2 });
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with the writer thread the index follows by itself, and a search waits for nothing already indexed', async () => {
    const { dir, path } = tempDb();
    try {
      const s = createSqliteStorage({ path, synchronous: 'FULL', writer: 'worker' });
      await seed(s, 3);
      for (let i = 0; i < 30; i++) await s.messages.append([msg(`c${i % 3}`, `follow ${i}`, 100 + i)]);
      // Bounded in count, not a timing assertion: the writer indexes when it has nothing else to do.
      for (let i = 0; i < 500 && state(path).behind > 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual({ ...state(path) }, { behind: 0, keys: 30, fts: 30, searchable: 30 });
      const found = await s.search.messages(T, { terms: ['follow'], limit: 50 });
      assert.equal(found.items.length, 30);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keys follow the messages\u2019 times, each conversation in seq order; system messages and recalled ones are not indexed', async () => {
    const { dir, path } = tempDb();
    try {
      const s = createSqliteStorage({ path, synchronous: 'NORMAL', writer: 'inline' });
      await seed(s, 2);
      // c0's second message carries an earlier time than its first (a clock step back).
      await s.messages.append([msg('c0', 'a1 word', 50), msg('c1', 'b1 word', 20), msg('c0', 'a2 word', 10), msg('c1', 'b2 word', 60), msg('c1', 'sys word', 70, 10)]);
      const db = new Database(path);
      try {
        // A recall before the index got there: the indexer reads the message as it is then.
        db.prepare("UPDATE messages SET content = NULL WHERE conversation_id = 'c1' AND seq = 2").run();
        // An edit likewise.
        db.prepare(`UPDATE messages SET content = '{"text":"b1 edited"}' WHERE conversation_id = 'c1' AND seq = 1`).run();
      } finally {
        db.close();
      }
      const found = await s.search.messages(T, { terms: ['word'], limit: 10 });
      assert.deepEqual(found.items.map((m) => m.content?.text), ['a2 word', 'a1 word']);
      assert.deepEqual((await s.search.messages(T, { terms: ['edited'], limit: 10 })).items.map((m) => m.content?.text), ['b1 edited']);
      const ro = open(path);
      try {
        const keys = ro.prepare('SELECT conversation_id || seq FROM message_search_keys ORDER BY id').pluck().all();
        // By time: b1 (20), then a1 (50) and a2 (10, kept after a1: seq order).
        assert.deepEqual(keys, ['c11', 'c01', 'c02']);
      } finally {
        ro.close();
      }
      // An edit of a message already indexed goes through the trigger, in its own transaction.
      const db2 = new Database(path);
      try {
        db2.prepare(`UPDATE messages SET content = '{"text":"a1 changed"}' WHERE conversation_id = 'c0' AND seq = 1`).run();
      } finally {
        db2.close();
      }
      assert.deepEqual((await s.search.messages(T, { terms: ['changed'], limit: 10 })).items.map((m) => m.content?.text), ['a1 changed']);
      assert.deepEqual((await s.search.messages(T, { terms: ['a1'], limit: 10 })).items.map((m) => m.content?.text), ['a1 changed']);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('after kill -9 of a process appending, a new process finds what is behind and indexes each message once', async () => {
    const { dir, path } = tempDb();
    try {
      const s = createSqliteStorage({ path, synchronous: 'FULL', writer: 'worker' });
      await seed(s, 5);
      await s.close();
      let appended = 0;
      for (let round = 0; round < 3; round++) {
        const child = spawn(process.execPath, [join(import.meta.dirname, 'search-behind-writer.ts'), path, String(appended)], { stdio: ['ignore', 'pipe', 'inherit'] });
        const lines = createInterface({ input: child.stdout! });
        const exited = new Promise((r) => child.once('exit', r));
        // Killed at a different point each round: after 3, 17 and 41 batches.
        const killAt = [3, 17, 41][round]!;
        let batches = 0;
        for await (const line of lines) {
          const m = /^appended (\d+)$/.exec(line);
          if (m) appended = Number(m[1]);
          if (++batches >= killAt) {
            child.kill('SIGKILL');
            break;
          }
        }
        await exited;
        // The child may have committed a batch it had no time to print: read the database.
        const db = new Database(path, { readonly: true });
        appended = db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
        db.close();
      }
      const after = state(path);
      assert.ok(after.searchable > 0);
      const s2 = createSqliteStorage({ path, synchronous: 'FULL', writer: 'worker' });
      const found = await s2.search.messages(T, { terms: ['note'], limit: 100 });
      assert.equal(found.items.length, Math.min(100, after.searchable));
      await s2.close();
      const end = state(path);
      assert.equal(end.behind, 0);
      assert.equal(end.keys, end.searchable, 'each searchable message has one key');
      assert.equal(end.fts, end.searchable, 'and one row of the index');
      const db = open(path);
      try {
        // Each key is of a stored, searchable message (none doubled: the key is unique per message).
        const orphan = db.prepare(`SELECT count(*) FROM message_search_keys k LEFT JOIN messages m ON m.tenant_id = k.tenant_id AND m.conversation_id = k.conversation_id AND m.seq = k.seq WHERE m.seq IS NULL OR m.type = 10`).pluck().get();
        assert.equal(orphan, 0);
        const rash = db.prepare(`SELECT count(*) FROM message_search WHERE message_search MATCH '"rash-3"'`).pluck().get();
        const stored = db.prepare(`SELECT count(*) FROM messages WHERE content ->> '$.text' LIKE '%rash-3' AND type = 1`).pluck().get();
        assert.equal(rash, stored);
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite search index in its own file, on its own thread', () => {
  /** Polls `cond` (bounded in count, not a timing assertion). */
  const until = async (cond: () => boolean, what: string) => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(cond(), what);
  };
  const pendingChanges = (path: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare('SELECT count(*) FROM message_search_changes').pluck().get() as number;
    } finally {
      db.close();
    }
  };

  it('a recall through the writer reaches the index by itself, and the applied edits leave the main database', async () => {
    const { dir, path } = tempDb();
    try {
      const s = createSqliteStorage({ path, synchronous: 'FULL', writer: 'worker' });
      await seed(s, 2);
      const [first] = await s.messages.append([msg('c0', 'recall me please', 10), msg('c1', 'keep me please', 11)]);
      assert.equal((await s.search.messages(T, { terms: ['please'], limit: 10 })).items.length, 2);
      const recalled = await s.messages.recall(T, 'c0', first!.ok ? first!.message.id : '', 20, msg('c0', '', 20, 10));
      assert.ok(recalled);
      // No search asks: the writer tells the indexer, which applies the recall and reports it, and the writer deletes the note.
      await until(() => state(path).keys === 1 && pendingChanges(path) === 0, 'the recall applied and its note deleted without a search');
      assert.deepEqual((await s.search.messages(T, { terms: ['please'], limit: 10 })).items.map((m) => m.content?.text), ['keep me please']);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an indexer thread that dies is started again: searches meanwhile fail with server.unavailable, then see every message', async () => {
    const { dir, path } = tempDb();
    try {
      const s = createSqliteStorage({ path, synchronous: 'FULL', writer: 'worker' });
      await seed(s, 2);
      await s.messages.append([msg('c0', 'before the crash', 10)]);
      assert.equal((await s.search.messages(T, { terms: ['crash'], limit: 10 })).items.length, 1);
      const thread = s.indexerThread!;
      await thread.thread.terminate();
      // Appended while no indexer runs: the writer's notes are dropped; the new thread finds them itself.
      await s.messages.append([msg('c1', 'during the crash', 11)]);
      await assert.rejects(s.search.messages(T, { terms: ['crash'], limit: 10 }), (e: { code?: string }) => e.code === 'server.unavailable');
      await until(() => thread.starts === 2, 'started again');
      await s.messages.append([msg('c0', 'after the crash', 12)]);
      const found = await s.search.messages(T, { terms: ['crash'], limit: 10 });
      assert.deepEqual(found.items.map((m) => m.content?.text), ['after the crash', 'during the crash', 'before the crash']);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a search file deleted, or not a database, is made anew at start and filled from the messages', async () => {
    const { dir, path } = tempDb();
    try {
      const s = createSqliteStorage({ path, synchronous: 'FULL', writer: 'worker' });
      await seed(s, 3);
      for (let i = 0; i < 30; i++) await s.messages.append([msg(`c${i % 3}`, `refill ${i}`, 100 + i)]);
      assert.equal((await s.search.messages(T, { terms: ['refill'], limit: 50 })).items.length, 30);
      await s.close();
      for (const damage of ['delete', 'garbage'] as const) {
        for (const suffix of ['', '-wal', '-shm']) rmSync(searchDbPath(path) + suffix, { force: true });
        if (damage === 'garbage') writeFileSync(searchDbPath(path), 'this is not an SQLite database, only some text of the right length '.repeat(100));
        const again = createSqliteStorage({ path, synchronous: 'FULL', writer: 'worker' });
        const found = await again.search.messages(T, { terms: ['refill'], limit: 50 });
        assert.equal(found.items.length, 30, damage);
        assert.deepEqual(new Set(found.items.map((m) => m.content?.text)).size, 30);
        await again.close();
        assert.deepEqual({ ...state(path) }, { behind: 0, keys: 30, fts: 30, searchable: 30 });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('postgres search index behind the appends', () => {
  let server: Service | undefined;
  after(async () => {
    await server?.stop();
  });

  it('appends leave rows pending; another node indexes them, two nodes at once index each once, and a search sees every committed message', async () => {
    server = await startPostgres();
    const a = await createPostgresStorage({ url: server.url, poolSize: 4 });
    // A node that dies before indexing: its indexer never runs.
    await a.searchIndexer.stop();
    await seed(a, 4);
    for (let i = 0; i < 12; i++) {
      await a.messages.append(Array.from({ length: 50 }, (_, j) => msg(`c${(i + j) % 4}`, `pg note ${i * 50 + j}`, 1000 + i * 50 + j, j === 7 ? 10 : 1)));
    }
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    const count = async (sql: string) => Number((await admin.query(sql)).rows[0].n);
    try {
      assert.equal(await count('SELECT count(*) n FROM message_search_pending'), 12 * 49, 'system messages are not queued');
      assert.equal(await count('SELECT count(*) n FROM message_search'), 0);
      await a.close();
      // Two nodes come up and index together (in the background, and stepped by hand as well).
      const [b, c] = await Promise.all([createPostgresStorage({ url: server.url, poolSize: 4 }), createPostgresStorage({ url: server.url, poolSize: 4 })]);
      try {
        for (let round = 0; round < 100; round++) {
          const [x, y] = await Promise.all([b.searchIndexer.step(40), c.searchIndexer.step(40)]);
          if (x + y === 0) break;
        }
        await b.searchIndexer.stop();
        await c.searchIndexer.stop();
        assert.equal(b.searchIndexer.indexed + c.searchIndexer.indexed, 12 * 49, 'each pending row taken once');
        assert.equal(await count('SELECT count(*) n FROM message_search_pending'), 0);
        assert.equal(await count('SELECT count(*) n FROM message_search'), 12 * 49);
        // Messages older than the newest 500 (which a search reads directly) and not indexed yet:
        // the search catches the index up before asking it.
        await b.messages.append(Array.from({ length: 10 }, (_, j) => msg('c2', `kiwi ${j}`, 5000 + j)));
        for (let i = 0; i < 6; i++) await b.messages.append(Array.from({ length: 100 }, (_, j) => msg('c3', `filler ${i}-${j}`, 6000 + i * 100 + j)));
        assert.equal(await count('SELECT count(*) n FROM message_search_pending'), 610);
        assert.equal((await b.search.messages(T, { terms: ['kiwi'], limit: 50 })).items.length, 10);
        assert.equal(await count('SELECT count(*) n FROM message_search_pending'), 0);
        await b.messages.append([msg('c0', 'zebra crossing', 9000), ...Array.from({ length: 3 }, (_, j) => msg('c1', `later ${j}`, 9001 + j))]);
        const found = await b.search.messages(T, { terms: ['zebra'], limit: 10 });
        assert.deepEqual(found.items.map((m) => m.content?.text), ['zebra crossing']);
        assert.equal((await b.search.messages(T, { terms: ['pg', 'note'], limit: 1000 })).items.length, 12 * 49);
        // A recall of an indexed message leaves the index in its transaction (trigger).
        await admin.query(`UPDATE messages SET content = NULL WHERE tenant_id = 't' AND conversation_id = 'c0' AND content LIKE '%zebra%'`);
        assert.equal(await count(`SELECT count(*) n FROM message_search WHERE grams @@ 'zeb'::tsquery`), 0);
        assert.deepEqual((await b.search.messages(T, { terms: ['zebra'], limit: 10 })).items, []);
      } finally {
        await b.close();
        await c.close();
      }
    } finally {
      await admin.end();
    }
  });
});

describe('postgres search grams computed by the node', () => {
  let server: Service | undefined;
  let storage: PostgresStorage | undefined;
  after(async () => {
    await storage?.close();
    await server?.stop();
  });

  it('are the grams the SQL function gives (the edit trigger still uses it), whatever the text', async () => {
    server = await startPostgres();
    storage = await createPostgresStorage({ url: server.url, poolSize: 2 });
    const texts = [
      'Good morning doctor, my blood pressure today is 135/85 after the new tablets.',
      'ÉCOLE École STRASSE Straße İstanbul', // only ASCII letters are lowered
      '皮疹 发烧三天了，医生您好', 'Кашель и ТЕМПЕРАТУРА 38,5',
      'a', 'ab', '  lead and trail  ', 'tab\tnew\nline\r\nvt\vff\f', // ASCII whitespace splits
      'nbsp\u00a0joined ideographic\u3000space', // other spaces do not
      '😀😁😂 x😀y', 'it\'s a \\back\\slash "quoted"', '', 'aaaa aaaa', 'x'.repeat(300),
    ];
    for (const t of texts) {
      const r = await storage.db.query<{ g: string[] }>(`SELECT tsvector_to_array(careline_search_grams($1)) AS g`, [t]);
      const sql: string[] = r.rows[0]!.g ?? [];
      assert.deepEqual([...bodyGrams(t)].sort(), [...sql].sort(), JSON.stringify(t));
    }
  });

  it('a message edited between the read and the write of a step stays pending and is indexed as edited', async () => {
    const s = storage!;
    await s.searchIndexer.stop();
    await seed(s, 1);
    await s.messages.append([msg('c0', 'apricot jam', 100)]);
    const admin = new pg.Client({ connectionString: server!.url });
    const step = new pg.Client({ connectionString: server!.url });
    await admin.connect();
    await step.connect();
    try {
      // The step's read goes out; the edit commits before its write (before it takes the write lock).
      let edited = false;
      const on = {
        query: async (config: string | { name?: string; text: string; values?: unknown[] }) => {
          if (typeof config !== 'string' && config.name === 'careline_search_lock' && !edited) {
            edited = true;
            await admin.query(`UPDATE messages SET content = $1 WHERE tenant_id = 't' AND conversation_id = 'c0'`, [JSON.stringify({ text: 'blueberry pie' })]);
          }
          return step.query(config as never);
        },
      };
      assert.equal(await s.searchIndexer.step(10, on as never), 1);
      assert.ok(edited);
      const n = async (sql: string) => Number((await admin.query(sql)).rows[0].n);
      assert.equal(await n('SELECT count(*) n FROM message_search'), 0, 'nothing indexed from the text before the edit');
      assert.equal(await n('SELECT count(*) n FROM message_search_pending'), 1, 'still pending');
      assert.equal(await s.searchIndexer.step(10), 1);
      assert.equal(await n(`SELECT count(*) n FROM message_search WHERE grams @@ 'blu & ber'::tsquery`), 1);
      assert.equal(await n(`SELECT count(*) n FROM message_search WHERE grams @@ 'apr'::tsquery`), 0);
      assert.equal(await n('SELECT count(*) n FROM message_search_pending'), 0);
    } finally {
      await step.end();
      await admin.end();
    }
  });

  it('an edit while a step writes waits for the step to commit, then updates the row it inserted', async () => {
    const s = storage!;
    await s.searchIndexer.stop();
    await s.db.query(`DELETE FROM message_search_pending`);
    await s.messages.append([msg('c0', 'cherry tart', 200)]);
    const seq = Number((await s.db.query<{ seq: string }>(`SELECT max(seq) AS seq FROM messages WHERE tenant_id = 't' AND conversation_id = 'c0'`)).rows[0]!.seq);
    const admin = new pg.Client({ connectionString: server!.url });
    const editor = new pg.Client({ connectionString: server!.url });
    const step = new pg.Client({ connectionString: server!.url });
    await Promise.all([admin.connect(), editor.connect(), step.connect()]);
    const n = async (sql: string) => Number((await admin.query(sql)).rows[0].n);
    try {
      let edit: Promise<unknown> | null = null;
      const on = {
        query: async (config: string | { name?: string; text: string; values?: unknown[] }) => {
          if (typeof config !== 'string' && config.name === 'careline_search_write' && edit === null) {
            // The step holds the write lock: the edit's trigger waits for it.
            edit = editor.query(`UPDATE messages SET content = $1 WHERE tenant_id = 't' AND conversation_id = 'c0' AND seq = $2`, [JSON.stringify({ text: 'damson crumble' }), seq]);
            for (let i = 0; ; i++) {
              const w = await admin.query(`SELECT wait_event FROM pg_stat_activity WHERE pid = $1`, [(editor as unknown as { processID: number }).processID]);
              if (w.rows[0]?.wait_event === 'advisory') break;
              assert.ok(i < 500, 'the edit waits for the step');
              await new Promise((r) => setTimeout(r, 10));
            }
          }
          return step.query(config as never);
        },
      };
      assert.equal(await s.searchIndexer.step(10, on as never), 1);
      await edit;
      assert.equal(await n(`SELECT count(*) n FROM message_search WHERE seq = ${seq} AND conversation_id = 'c0' AND grams @@ 'dam & cru'::tsquery`), 1, 'the edit updated the row the step inserted');
      assert.equal(await n(`SELECT count(*) n FROM message_search WHERE grams @@ 'che & tar'::tsquery`), 0);
      assert.equal(await n('SELECT count(*) n FROM message_search_pending'), 0);
    } finally {
      await Promise.all([admin.end(), editor.end(), step.end()]);
    }
  });
  it('two steps writing the same rows in opposite orders, both held up mid-way by a third, do not deadlock; each row is indexed once', async () => {
    const s = storage!;
    await s.searchIndexer.stop();
    await s.db.query(`DELETE FROM message_search_pending`);
    await s.messages.append(Array.from({ length: 300 }, (_, j) => msg('c0', `plum ${j}`, 1000 + j)));
    const admin = new pg.Client({ connectionString: server!.url });
    await admin.connect();
    // Nested loops: a statement that deletes by its list of rows goes in the list's order,
    // which another node's read (a plan of its own) may give the other way round.
    const clients = await Promise.all([0, 1].map(async () => {
      const c = new pg.Client({ connectionString: server!.url });
      await c.connect();
      await c.query('SET enable_hashjoin = off; SET enable_mergejoin = off');
      return c;
    }));
    const on = (c: pg.Client, reverse: boolean) => ({
      query: (config: { name?: string; text: string; values?: unknown[] }) =>
        c.query(config.name === 'careline_search_write' && reverse ? { ...config, values: config.values!.map((v) => [...(v as unknown[])].reverse()) } : config),
    });
    const n = async (sql: string) => Number((await admin.query(sql)).rows[0].n);
    try {
      const before = s.searchIndexer.indexed;
      // A third transaction holds a row in the middle, so both steps are under way when it lets go.
      await admin.query('BEGIN');
      const pending = await admin.query(`SELECT seq FROM message_search_pending ORDER BY seq`);
      const middle = pending.rows[150].seq;
      await admin.query(`SELECT 1 FROM message_search_pending WHERE seq = $1 FOR UPDATE`, [middle]);
      const steps = Promise.allSettled([s.searchIndexer.step(1000, on(clients[0]!, false) as never), s.searchIndexer.step(1000, on(clients[1]!, true) as never)]);
      const pids = clients.map((c) => (c as unknown as { processID: number }).processID);
      for (let i = 0; ; i++) {
        const waiting = await admin.query(`SELECT count(*) n FROM pg_stat_activity WHERE pid = ANY ($1) AND wait_event_type = 'Lock'`, [pids]);
        if (Number(waiting.rows[0].n) === 2) break;
        assert.ok(i < 500, 'both steps wait for the row held');
        await new Promise((r) => setTimeout(r, 10));
      }
      await admin.query('COMMIT');
      const [a, b] = await steps;
      assert.equal(a.status, 'fulfilled', String((a as PromiseRejectedResult).reason));
      assert.equal(b.status, 'fulfilled', String((b as PromiseRejectedResult).reason));
      assert.equal(s.searchIndexer.indexed - before, 300, 'each pending row indexed once');
      assert.equal(await n('SELECT count(*) n FROM message_search_pending'), 0);
      assert.equal(await n(`SELECT count(*) n FROM message_search WHERE grams @@ 'plu'::tsquery`), 300);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await admin.end();
    }
  });
});
