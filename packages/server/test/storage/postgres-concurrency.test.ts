/**
 * PostgreSQL with several nodes writing at once: two storages (two pools, as two server
 * nodes) on one database. Appends to the same conversations from both nodes lock them in one
 * order (no deadlock, no retry) and keep seqs gap-free. The audit chain and the notification sequence of a tenant follow
 * the commit order whichever node writes; replacements (team members, tags, settings) apply
 * one after the other. Also what the SQLite audit-chain test checks, for PostgreSQL: the
 * table refuses changes, and verify finds records changed or added behind the server's back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type Service } from '../support/services.ts';
import { createPostgresStorage, type PostgresStorage } from '../../src/storage/postgres/index.ts';
import { auditHash, verifyAuditChain } from '../../src/domain/audit.ts';
import { newId } from '../../src/domain/ids.ts';
import type { AuditEntry, NewMessage, NewNotification, NotificationTarget } from '../../src/domain/types.ts';

const T = 'tenant-c';
const OTHER = 'tenant-d';

describe('postgres: two nodes writing at once', () => {
  let server: Service;
  let a: PostgresStorage;
  let b: PostgresStorage;
  let admin: pg.Client;

  before(async () => {
    server = await startPostgres();
    a = await createPostgresStorage({ url: server.url, poolSize: 4 });
    b = await createPostgresStorage({ url: server.url, poolSize: 4 });
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    for (const id of [T, OTHER]) await a.tenants.createTenant({ id, name: id, created_at: 1 });
    for (const id of ['u1', 'u2', 'u3']) await a.users.upsertUser(T, { id, role: 'patient', name: id, avatar: null, disabled: false }, 10);
  });
  after(async () => {
    await admin?.end();
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  const entry = (tenant: string, node: string, i: number): AuditEntry => ({
    tenant_id: tenant, at: 1000 + i, actor_kind: 'user', actor_id: `${node}-${i}`, app_id: i % 3 ? null : 'his',
    action: 'messages.history', conversation_id: 'c1', detail: { z: i, a: node, nested: { y: [1, 'two'], b: null } },
  });

  it('audit: appends of both nodes to one tenant form one unbroken chain, in commit order', async () => {
    const BATCHES = 30;
    const appends: Promise<void>[] = [];
    for (let i = 0; i < BATCHES; i++) {
      // Batches of 1–3 entries, some with a second tenant in them.
      const batch = (node: string) => [entry(T, node, i), ...(i % 2 ? [entry(OTHER, node, i)] : []), ...(i % 3 ? [] : [entry(T, node, i + 100)])];
      appends.push(a.audit.append(batch('a')), b.audit.append(batch('b')));
    }
    await Promise.all(appends);
    const perNode = (t: string) => 2 * Array.from({ length: BATCHES }, (_, i) => (t === T ? 1 + (i % 3 ? 0 : 1) : i % 2)).reduce((x, y) => x + y, 0);

    for (const [t, store] of [[T, a.audit], [OTHER, b.audit]] as const) {
      const report = await verifyAuditChain(store, t, 7);
      assert.deepEqual([report.ok, report.broken, report.records], [true, null, perNode(t)], t);
      const chain = await store.chain(t, { after_seq: 0, limit: 1000 });
      assert.deepEqual(chain.map((r) => r.seq), chain.map((_, i) => i + 1));
      // The storage ids (the order of `query`) follow the chain: one order for both reads.
      const ids = chain.map((r) => r.id);
      assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
      assert.deepEqual((await store.query(t, { limit: 1000 })).map((r) => r.seq), chain.map((r) => r.seq));
      assert.deepEqual(await a.audit.head(t), { seq: chain.length, hash: chain.at(-1)!.hash });
      assert.deepEqual(await b.audit.head(t), await a.audit.head(t));
    }
    // Details are stored in their canonical form and read back as given.
    const first = (await a.audit.query(T, { actor_id: 'a-0', limit: 1 }))[0]!;
    assert.deepEqual(first.detail, { z: 0, a: 'a', nested: { y: [1, 'two'], b: null } });
    const { rows } = await admin.query('SELECT detail FROM audit_log WHERE id = $1', [first.id]);
    assert.equal(rows[0].detail, '{"a":"a","nested":{"b":null,"y":[1,"two"]},"z":0}');
    assert.deepEqual((await a.audit.tenants()).filter((t) => t === T || t === OTHER), [T, OTHER]);
  });

  it('audit: chained records refuse UPDATE, DELETE and TRUNCATE; verify finds a changed record and one added outside the chain', async () => {
    const t = 'tenant-tamper';
    await a.audit.append([entry(t, 'a', 1), entry(t, 'a', 2), entry(t, 'a', 3)]);
    const [r2] = await a.audit.chain(t, { after_seq: 1, limit: 1 });
    await assert.rejects(admin.query("UPDATE audit_log SET actor_id = 'someone' WHERE id = $1", [r2!.id]), /append-only/);
    await assert.rejects(admin.query('DELETE FROM audit_log WHERE id = $1', [r2!.id]), /append-only/);
    await assert.rejects(admin.query('TRUNCATE audit_log'), /append-only/);
    assert.equal((await verifyAuditChain(a.audit, t)).ok, true);

    // Someone with the database's owner rights goes around the triggers: the chain shows it.
    await admin.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
    try {
      await admin.query("UPDATE audit_log SET actor_id = 'someone' WHERE id = $1", [r2!.id]);
    } finally {
      await admin.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
    }
    const changed = await verifyAuditChain(b.audit, t);
    assert.deepEqual([changed.ok, changed.broken?.seq, changed.broken?.reason, changed.records], [false, 2, 'hash', 1]);

    const t2 = 'tenant-outside';
    await b.audit.append([entry(t2, 'b', 1)]);
    await admin.query(
      "INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, action, conversation_id) VALUES ($1, 5, 'user', 'x', 'messages.get', 'c1')",
      [t2],
    );
    assert.equal(await a.audit.unchained(t2), 1);
    const outside = await verifyAuditChain(a.audit, t2);
    assert.deepEqual([outside.ok, outside.broken?.reason, outside.records], [false, 'unchained', 1]);
    // The next append continues the chain from its head, not from the stray record.
    await a.audit.append([entry(t2, 'a', 2)]);
    const chain = await a.audit.chain(t2, { after_seq: 0, limit: 10 });
    assert.deepEqual(chain.map((r) => r.seq), [1, 2]);
    assert.equal(chain[1]!.prev_hash, chain[0]!.hash);
    for (const r of chain) assert.equal(r.hash, auditHash(r));
  });

  it('notifications: creates of both nodes get seq 1..N without gaps, ids increasing with seq; since returns them with recipients', async () => {
    const N = 24;
    // Ids made up front and sent in the reverse order: most are older than the tenant's newest
    // when stored, so the store replaces them with the next id after it.
    const ids = Array.from({ length: 2 * N }, () => newId()).reverse();
    const note = (i: number): NewNotification => ({
      tenant_id: T, id: ids[i]!, kind: i % 4 ? 'LAB_RESULT' : 'S2C_SYSTEM_PUSH', mode: 'each', title: `n${i}`, body: null, data: { i }, sender_id: null,
      audience: i % 4 ? 'users' : 'tenant', audience_id: null, created_by: 'app', created_at: 1000 + i,
    });
    const target = (i: number): NotificationTarget => (i % 4 ? { type: 'users', ids: i % 2 ? ['u1', 'u2'] : ['u3'] } : { type: 'tenant' });
    const made = await Promise.all(Array.from({ length: 2 * N }, (_, i) => (i % 2 ? a : b).notifications.create(note(i), target(i))));

    const seqs = made.map((m) => m.notification.seq).sort((x, y) => x - y);
    assert.deepEqual(seqs, Array.from({ length: 2 * N }, (_, i) => i + 1));
    const all = await b.notifications.since(T, 0, 1000);
    assert.deepEqual(all.map((r) => r.notification.seq), seqs);
    for (let i = 1; i < all.length; i++) assert.ok(all[i]!.notification.id > all[i - 1]!.notification.id, `id of seq ${i + 1} after seq ${i}`);
    // What create returned is what since reads: the same id, seq, content and recipients.
    const bySeq = new Map(all.map((r) => [r.notification.seq, r]));
    for (const m of made) {
      const r = bySeq.get(m.notification.seq)!;
      assert.deepEqual(r.notification, m.notification);
      assert.deepEqual(r.recipients, m.recipients === null ? null : [...m.recipients].sort());
      assert.equal(m.count, m.recipients === null ? 3 : m.recipients.length);
    }
    // Paging by seq, from either node.
    assert.deepEqual((await a.notifications.since(T, 10, 5)).map((r) => r.notification.seq), [11, 12, 13, 14, 15]);
    assert.deepEqual(await a.notifications.since(T, 2 * N, 10), []);
    assert.deepEqual(await a.notifications.since(OTHER, 0, 10), []);
    // The inbox (by id) and the catch-up agree with the seq order.
    const inbox = await a.notifications.inboxAfter(T, 'u3', { limit: 1000 });
    assert.deepEqual(inbox.map((n) => n.seq), all.filter((r) => r.recipients === null || r.recipients.includes('u3')).map((r) => r.notification.seq));
    assert.equal(await b.notifications.head(T, 'u3'), inbox.at(-1)!.id);
  });

  it('notifications: a create that fails takes no seq; another tenant has its own sequence', async () => {
    const before = (await a.notifications.since(T, 0, 1000)).length;
    const n = (tenant: string, id: string): NewNotification => ({
      tenant_id: tenant, id, kind: 'LAB_RESULT', mode: 'each', title: 't', body: null, data: null, sender_id: null,
      audience: 'users', audience_id: null, created_by: 'app', created_at: 5,
    });
    await assert.rejects(a.notifications.create(n(T, newId()), { type: 'users', ids: ['u1', 'ghost'] }), /ghost/);
    await a.teams.putTeam(T, 'nobody', 'Nobody', [], 5);
    await assert.rejects(b.notifications.create(n(T, newId()), { type: 'team', id: 'nobody' }), /no members/);
    const next = await b.notifications.create(n(T, newId()), { type: 'users', ids: ['u1'] });
    assert.equal(next.notification.seq, before + 1);
    await a.users.upsertUser(OTHER, { id: 'o1', role: 'patient', name: 'o1', avatar: null, disabled: false }, 10);
    const other = await a.notifications.create(n(OTHER, 'any-id'), { type: 'users', ids: ['o1'] });
    assert.deepEqual([other.notification.seq, other.notification.id], [1, 'any-id']);
  });

  it('replacements from both nodes at once apply one after the other: team members, tags, a kind, settings', async () => {
    const sets = [['u1'], ['u2', 'u3'], ['u1', 'u2', 'u3'], ['u3']];
    const puts = await Promise.all(sets.map((m, i) => (i % 2 ? a : b).teams.putTeam(T, 'race', `race ${i}`, m, 100 + i)));
    assert.equal(puts.filter((p) => p.created).length, 1);
    const team = (await a.teams.getTeam(T, 'race'))!;
    // The members of the team whose name stayed: one put, whole.
    assert.deepEqual(team.members, sets[Number(team.name.slice('race '.length))]);

    const tagSets = [['x', 'y'], ['y', 'z'], ['w'], ['x', 'y', 'z']];
    await Promise.all(tagSets.map((tags, i) => (i % 2 ? a : b).teams.setTags(T, 'u1', tags, 100)));
    const tags = await b.teams.getTags(T, 'u1');
    assert.ok(tagSets.some((s) => JSON.stringify(s) === JSON.stringify(tags)), `one whole set: ${tags.join(',')}`);

    const kinds = await Promise.all([a, b, a, b].map((s, i) => s.notifications.registerKind(T, 'RACE_KIND', 'latest', 100 + i)));
    assert.equal(kinds.filter((k) => k.created).length, 1);
    assert.equal(new Set(kinds.map((k) => k.kind.created_at)).size, 1);

    await Promise.all([
      a.settings.update(T, { connection_policy: 'kick' }, 200),
      b.settings.update(T, { patient_to_patient: true }, 201),
    ]);
    const settings = await a.settings.get(T);
    assert.deepEqual([settings.connection_policy, settings.patient_to_patient], ['kick', true]);
  });
  it('messages: batches of two nodes over the same conversations in opposite orders all commit, gap-free, without a deadlock or a retry', async () => {
    // Nodes of their own, named, so that their backends' exit (which flushes their statistics) can be waited for.
    const url = `${server.url}?application_name=append-order`;
    const x = await createPostgresStorage({ url, poolSize: 2 });
    const y = await createPostgresStorage({ url, poolSize: 2 });
    const CONVS = 24;
    const ROUNDS = 3;
    const ids = Array.from({ length: CONVS }, (_, i) => `order-${String(i).padStart(2, '0')}`);
    for (const id of ids) {
      await a.conversations.createConversation({
        tenant_id: T, id, type: 1, business_type: 0, name: '', status: 0, created_by: 'u1',
        participants: [{ user_id: 'u1', role: 'member' }, { user_id: 'u2', role: 'member' }],
      }, 10);
    }
    const deadlocks = async () => (await admin.query(`SELECT deadlocks::int AS d FROM pg_stat_database WHERE datname = current_database()`)).rows[0].d as number;
    const before = await deadlocks();
    const msg = (node: string, sender: string, conv: string, i: number): NewMessage => ({
      tenant_id: T, conversation_id: conv, id: newId(), sender_id: sender, type: 1, content: { n: i }, content_json: `{"n":${i}}`,
      client_id: `${node}-${conv}-${i}`, created_at: 1000 + i, forward: null,
    });
    let appended = 0;
    const blocker = new pg.Client({ connectionString: server.url });
    await blocker.connect();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // A third session holds the middle conversation, so that both batches are inside their
        // locking at once: one node's batch lists the conversations in id order, the other's in
        // reverse. Locked in the order given, each would hold half of what the other waits for.
        await blocker.query('BEGIN');
        await blocker.query('SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 FOR UPDATE', [T, ids[CONVS / 2]]);
        const up = ids.map((c) => msg('x', 'u1', c, round));
        const down = [...ids].reverse().map((c) => msg('y', 'u2', c, round));
        const both = Promise.all([x.messages.append(up), y.messages.append(down)]);
        both.catch(() => {});
        // Both nodes' backends waiting on a lock (bounded), then the middle is let go.
        for (let i = 0; i < 200; i++) {
          const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'append-order' AND wait_event_type = 'Lock'`);
          if (rows[0].n >= 2) break;
          await new Promise((r) => setTimeout(r, 25));
        }
        await blocker.query('COMMIT');
        const [rx, ry] = await both;
        for (const r of [...rx, ...ry]) assert.equal(r.ok && !r.duplicate, true, JSON.stringify(r));
        appended += rx.length + ry.length;
      }
    } finally {
      await blocker.end();
      await x.close();
      await y.close();
    }
    for (const id of ids) {
      const { rows } = await admin.query('SELECT seq FROM messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY seq', [T, id]);
      assert.deepEqual(rows.map((r) => Number(r.seq)), Array.from({ length: 2 * ROUNDS }, (_, i) => i + 1), id);
      const { rows: head } = await admin.query('SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2', [T, id]);
      assert.equal(Number(head[0].last_seq), 2 * ROUNDS);
    }
    assert.equal(appended, 2 * ROUNDS * CONVS);
    // A backend reports its statistics when it exits: wait (bounded) until those of both nodes have.
    for (let i = 0; i < 100; i++) {
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'append-order'`);
      if (rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // A deadlock would be detected, counted and the transaction run again (the appends above would still succeed).
    assert.equal((await deadlocks()) - before, 0);
  });
});
