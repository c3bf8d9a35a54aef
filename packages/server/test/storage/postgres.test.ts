/**
 * The storage contract on PostgreSQL, and what only a database shared by several nodes has:
 * two storages (two pools, as two server nodes) writing the same conversation at once, the
 * migrations when nodes start together, the database going away and coming back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { AppError } from '../../src/domain/errors.ts';
import type { NewMessage } from '../../src/domain/types.ts';
import { migrationFiles } from '../../src/storage/postgres/migrate.ts';
import { createPostgresStorage, type PostgresStorage } from '../../src/storage/postgres/index.ts';
import { APPEND, LOOKUP } from '../../src/storage/postgres/messages.ts';
import { startPostgres, type Service } from '../support/services.ts';
import { storageContract } from './contract.ts';

let server: Promise<Service> | undefined;
const postgres = () => (server ??= startPostgres());
after(async () => {
  if (server) await (await server).stop();
});

let dbs = 0;
/** A new, empty database on the file's server; its URL. */
async function freshDatabase(): Promise<string> {
  const svc = await postgres();
  const name = `careline_${process.pid}_${++dbs}`;
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

storageContract('postgres', async () => {
  const storage = await createPostgresStorage({ url: await freshDatabase(), poolSize: 4 });
  return { storage, cleanup: async () => {} };
});

const unavailable = (e: unknown) => e instanceof AppError && e.code === 'server.unavailable' && (e.details as { storage?: string } | undefined)?.storage === 'postgres';

let n = 0;
const message = (conv: string, sender: string, clientId: string | null = null): NewMessage => {
  const text = `m${++n}`;
  return {
    tenant_id: 't', conversation_id: conv, id: `M${String(n).padStart(25, '0')}`, sender_id: sender, type: 1,
    content: { text }, content_json: JSON.stringify({ text }), client_id: clientId, created_at: 1000 + n, forward: null,
  };
};

async function seed(s: PostgresStorage, convs: string[]): Promise<void> {
  await s.tenants.createTenant({ id: 't', name: 'T', created_at: 1 });
  for (const u of ['a', 'b']) await s.users.upsertUser('t', { id: u, role: 'doctor', name: u, avatar: null, disabled: false }, 1);
  for (const id of convs) {
    await s.conversations.createConversation(
      { tenant_id: 't', id, type: 2, business_type: 1, name: '', status: 0, created_by: 'a', participants: [{ user_id: 'a', role: 'm' }, { user_id: 'b', role: 'm' }] }, 1,
    );
  }
}

/** Two storages on one database: two nodes. */
async function twoNodes(convs: string[]): Promise<[PostgresStorage, PostgresStorage]> {
  const url = await freshDatabase();
  const a = await createPostgresStorage({ url, poolSize: 4 });
  const b = await createPostgresStorage({ url, poolSize: 4 });
  await seed(a, convs);
  return [a, b];
}

describe('postgres specifics', () => {
  it('two nodes appending to the same conversations at once: seqs 1..N per conversation, no gap, no duplicate', async () => {
    const [a, b] = await twoNodes(['x', 'y']);
    try {
      const calls: Promise<{ ok: boolean; seq?: number; conv: string }[]>[] = [];
      for (let i = 0; i < 120; i++) {
        const node = i % 2 ? a : b;
        // Batches of one to three messages, some over both conversations (locked in one order by both nodes).
        const batch = [message(i % 3 ? 'x' : 'y', i % 4 ? 'a' : 'b'), ...(i % 5 ? [] : [message('y', 'a'), message('x', 'b')])];
        calls.push(node.messages.append(batch).then((rs) => rs.map((r, j) => ({ ok: r.ok, seq: r.ok ? r.message.seq : undefined, conv: batch[j]!.conversation_id }))));
      }
      const results = (await Promise.all(calls)).flat();
      assert.ok(results.every((r) => r.ok));
      for (const conv of ['x', 'y']) {
        const seqs = results.filter((r) => r.conv === conv).map((r) => r.seq!).sort((p, q) => p - q);
        assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `${conv}: the seqs handed out`);
        const stored = await b.messages.history('t', conv, { limit: 1000 });
        assert.deepEqual(stored.map((m) => m.seq), seqs, `${conv}: the rows stored`);
        assert.equal((await a.conversations.getConversation('t', conv))?.last_seq, seqs.length);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('the same (sender, client_id) sent through both nodes at once is stored once; both get the first', async () => {
    const [a, b] = await twoNodes(['x', 'y']);
    try {
      for (let i = 0; i < 25; i++) {
        const cid = `dup-${i}`;
        const [ra, rb] = await Promise.all([a.messages.append([message('x', 'a', cid)]), b.messages.append([message('x', 'a', cid)])]);
        const both = [ra[0]!, rb[0]!];
        assert.ok(both.every((r) => r.ok), JSON.stringify(both));
        const ok = both as { ok: true; duplicate: boolean; message: { id: string; seq: number } }[];
        assert.deepEqual(ok.map((r) => r.duplicate).sort(), [false, true], `round ${i}: one stored, one duplicate`);
        assert.equal(ok[0]!.message.id, ok[1]!.message.id);
        assert.equal(ok[0]!.message.seq, ok[1]!.message.seq);
        // The same client id to another conversation through the other node at once: a conflict, never a second row.
        const other = `cross-${i}`;
        const [ca, cb] = await Promise.all([a.messages.append([message('x', 'b', other)]), b.messages.append([message('y', 'b', other)])]);
        const codes = [ca[0]!, cb[0]!].map((r) => (r.ok ? 'ok' : r.code)).sort();
        assert.deepEqual(codes, ['message.client_id_conflict', 'ok'], `round ${i}`);
      }
      const x = await a.messages.history('t', 'x', { limit: 1000 });
      const y = await a.messages.history('t', 'y', { limit: 1000 });
      assert.equal(x.length + y.length, 50);
      assert.deepEqual(x.map((m) => m.seq), x.map((_, i) => i + 1));
      assert.deepEqual(y.map((m) => m.seq), y.map((_, i) => i + 1));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('two nodes starting a topic in one session at once: one starts it, the other finds it open', async () => {
    const [a, b] = await twoNodes(['s']);
    try {
      const topic = (id: string) => ({ id, session_id: 's', name: id, description: null, patient_id: 'b', team_id: null, doctor_id: 'a', consult_type: null, created_at: 5, created_by: 'a' });
      const start = () => ({ ...message('s', 'system'), type: 6 });
      const [ra, rb] = await Promise.allSettled([a.topics.start('t', topic('k1'), start()), b.topics.start('t', topic('k2'), start())]);
      const won = [ra, rb].filter((r) => r.status === 'fulfilled');
      const lost = [ra, rb].filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.ok(lost[0]!.reason instanceof AppError && lost[0]!.reason.code === 'topic.already_open', String(lost[0]?.reason));
      assert.equal((await a.conversations.getConversation('t', 's'))?.last_seq, 1, 'the loser appended nothing');
      // Read cursors moved from both nodes at once only go forward.
      await a.messages.append([message('s', 'a'), message('s', 'a'), message('s', 'a')]);
      const moves = await Promise.all([1, 3, 2, 4, 2].map((seq, i) => (i % 2 ? a : b).conversations.advanceRead('t', 's', 'b', seq)));
      assert.equal(Math.max(...moves.map((m) => m!)), 4);
      assert.equal((await b.conversations.viewForUser('t', 'b', 's'))?.read_seq, 4);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('the append\'s lookup plans on messages_client_id for client ids and a plain index scan for conversations, even on tables never analyzed', async () => {
    // A fresh database: no statistics. A prepared statement's generic plan (what a pooled
    // connection runs from the sixth execution on) once looked client ids up through
    // messages_id on the tenant alone, reading every message of the tenant per client id.
    const s = await createPostgresStorage({ url: await freshDatabase(), poolSize: 1 });
    try {
      await s.db.session(async (c) => {
        await c.query('SET plan_cache_mode = force_generic_plan');
        await c.query(`PREPARE lookup(jsonb, jsonb) AS ${LOOKUP}`);
        const plan = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE lookup('[["t","c"]]', '[["t","a","cid"]]')`)).rows.map((r) => r['QUERY PLAN']).join('\n');
        const onMessages = plan.split('\n').filter((l) => / on messages m\b/.test(l));
        assert.equal(onMessages.length, 1, plan);
        assert.match(onMessages[0]!, /Index Scan using messages_client_id on messages m/, plan);
        assert.match(plan, /Index Cond: \(\(client_id = \(k(_\d+)?\.e ->> 2\)\) AND \(sender_id = \(k(_\d+)?\.e ->> 1\)\)\)/, plan);
        // The conversations' lookup: a plain index scan (see LOOKUP's comment), not an index-only one.
        assert.match(plan, /-> {2}Index Scan using conversations_pkey on conversations c/, plan);
        assert.doesNotMatch(plan, /Index Only Scan/, plan);
        await c.query('DEALLOCATE lookup');
      });
    } finally {
      await s.close();
    }
  });

  it('the append moves each head by the row it locked (a TID scan), not by a join that scans the table or grows with the square of the batch', async () => {
    // Planned for 100 rows per jsonb list whatever the batch, the join by key scanned all
    // conversations once the table had a few thousand rows, and a separate list of moves was
    // joined to the heads by a nested loop (222,312 rows filtered for 472 conversations).
    const s = await createPostgresStorage({ url: await freshDatabase(), poolSize: 1 });
    try {
      await s.tenants.createTenant({ id: 't', name: 't', created_at: 1 });
      await s.conversations.createConversation({ tenant_id: 't', id: 'c', type: 2, business_type: 2, name: '', status: 0, created_by: 'a', participants: [{ user_id: 'a', role: 'm' }] }, 1);
      await s.db.query(`INSERT INTO conversations SELECT (jsonb_populate_record(c, jsonb_build_object('id', 'c' || i))).* FROM conversations c, generate_series(1, 20000) i`);
      await s.db.query('ANALYZE conversations');
      await s.db.session(async (c) => {
        await c.query('SET plan_cache_mode = force_generic_plan');
        await c.query(`PREPARE append_(jsonb, jsonb, jsonb, jsonb) AS ${APPEND}`);
        const plan = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE append_('[["t","c",1,5]]', '[]', '[]', '[]')`)).rows.map((r) => r['QUERY PLAN']).join('\n');
        const hd = plan.slice(plan.indexOf('CTE hd'), plan.indexOf('CTE rd'));
        assert.match(hd, /Tid Scan on conversations c/, plan);
        assert.doesNotMatch(hd, /Seq Scan|Join Filter/, plan);
        await c.query('DEALLOCATE append_');
      });
      // And it appends as before: seqs from the head, the head moved.
      const r = await s.messages.append([message('c', 'a'), message('c9', 'a'), message('c', 'a')]);
      assert.deepEqual(r.map((x) => (x.ok ? x.message.seq : x.code)), [1, 1, 2]);
      assert.equal((await s.conversations.getConversation('t', 'c'))?.last_seq, 2);
      assert.equal((await s.conversations.getConversation('t', 'c9'))?.last_seq, 1);
    } finally {
      await s.close();
    }
  });

  it('nodes opening one database at once apply each migration exactly once', async () => {
    const url = await freshDatabase();
    const nodes = await Promise.all(Array.from({ length: 4 }, () => createPostgresStorage({ url, poolSize: 2 })));
    try {
      const { rows } = await nodes[0]!.db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows, migrationFiles().map((m) => ({ version: m.version, name: m.name })));
      // A node started later applies nothing and works.
      const late = await createPostgresStorage({ url });
      assert.equal((await late.db.query('SELECT 1 FROM schema_migrations')).rowCount, rows.length);
      await late.close();
    } finally {
      await Promise.all(nodes.map((s) => s.close()));
    }
  });

  it('the database going away: writes fail with server.unavailable, ping is false; back, everything works without reopening', async () => {
    const svc = await postgres();
    const outages: unknown[] = [];
    const s = await createPostgresStorage({ url: await freshDatabase(), poolSize: 3, onUnavailable: (e) => outages.push(e) });
    try {
      await seed(s, ['c']);
      // Idle pooled connections exist when the server goes.
      await Promise.all([s.messages.append([message('c', 'a')]), s.conversations.getConversation('t', 'c'), s.users.getUser('t', 'a')]);
      const pid = svc.pid;
      process.kill(pid, 'SIGINT');
      for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(alive(pid), false, 'the server stopped');
      assert.equal(await s.ping(), false);
      await assert.rejects(s.messages.append([message('c', 'a')]), unavailable);
      await assert.rejects(s.users.upsertUser('t', { id: 'z', role: 'patient', name: 'z', avatar: null, disabled: false }, 2), unavailable);
      await assert.rejects(s.conversations.getConversation('t', 'c'), unavailable);
      // Writes queued behind one another all fail (none waits for the database to come back).
      const queued = await Promise.allSettled(Array.from({ length: 20 }, () => s.messages.append([message('c', 'a')])));
      assert.ok(queued.every((r) => r.status === 'rejected' && unavailable(r.reason)));
      assert.equal(outages.length, 1, 'one outage, told once');
      await svc.restart();
      assert.equal(await s.ping(), true);
      const [r] = await s.messages.append([message('c', 'a')]);
      assert.ok(r?.ok && r.message.seq === 2, JSON.stringify(r));
      assert.equal((await s.users.upsertUser('t', { id: 'z', role: 'patient', name: 'z', avatar: null, disabled: false }, 2)).created, true);
    } finally {
      await s.close();
    }
    assert.equal(await s.ping(), false);
    await assert.rejects(s.users.getUser('t', 'a'), (e: unknown) => e instanceof AppError && e.code === 'server.unavailable');
  });

  it('a bad URL fails clearly: not a PostgreSQL URL, nobody listening, no such database', async () => {
    const svc = await postgres();
    await assert.rejects(createPostgresStorage({ url: 'localhost:5432/careline' }), /not a PostgreSQL URL/);
    await assert.rejects(createPostgresStorage({ url: 'mysql://u@127.0.0.1/x' }), /not a PostgreSQL URL/);
    const free = new URL(svc.url);
    free.port = '1';
    await assert.rejects(createPostgresStorage({ url: free.toString() }), (e: unknown) => unavailable(e) && /127\.0\.0\.1:1\/postgres/.test((e as Error).message));
    const nodb = new URL(svc.url);
    nodb.pathname = '/no_such_db';
    nodb.password = 'secret';
    await assert.rejects(createPostgresStorage({ url: nodb.toString() }), (e: unknown) => {
      assert.ok(unavailable(e), String(e));
      assert.match((e as Error).message, /no_such_db/);
      assert.doesNotMatch((e as Error).message, /secret/);
      return true;
    });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
