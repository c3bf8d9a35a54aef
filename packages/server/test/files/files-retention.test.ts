/**
 * Retention on a real server, on SQLite and on PostgreSQL: per conversation type, messages older
 * than the policy become tombstones (seq kept, gap-free) and their files are deleted; a
 * conversation under legal hold keeps everything until the hold is lifted; who may set them;
 * and the periodic run is one job per interval across two nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import sharp from 'sharp';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startPostgres, startRedis, type Service } from '../support/services.ts';

const DAY = 86_400_000;

function suite(name: string, open: () => Promise<TestServer>, close: () => Promise<void>) {
  describe(`retention (${name})`, () => {
    let s: TestServer;
    before(async () => {
      s = await open();
    }, { timeout: 60_000 });
    after(async () => {
      await s?.stop();
      await close();
    });

    const png = (c: string) => sharp({ create: { width: 40, height: 30, channels: 3, background: c } }).png().toBuffer();
    async function upload(token: string, conv: string, name: string) {
      const res = await fetch(`${s.url}/api/v2/sessions/${encodeURIComponent(conv)}/files?name=${name}`, {
        method: 'POST', headers: { authorization: `Bearer ${token}` }, body: new Uint8Array(await png('red')),
      });
      const j = (await res.json()) as any;
      assert.equal(res.status, 200, JSON.stringify(j));
      return j.file.storageId as string;
    }
    const fileStatus = async (id: string, token: string) => (await fetch(`${s.url}/api/v2/files/${id}`, { headers: { authorization: `Bearer ${token}` } })).status;
    const history = async (conv: string) => (await s.call('GET', `/api/v2/sessions/${encodeURIComponent(conv)}/messages?limit=100`)).body.messages as any[];

    it('messages and files older than the type\'s policy are deleted, with tombstones; held conversations and other types keep theirs', async () => {
      const tag = name.slice(0, 2);
      const pat = await s.user(`pat-${tag}`, 'patient');
      const pat2 = await s.user(`pat2-${tag}`, 'patient');
      const doc = await s.user(`doc-${tag}`, 'doctor');
      const admin = await s.user(`adm-${tag}`, 'admin');
      const a = await s.conversation({ participants: [pat.id, doc.id] });
      const held = await s.conversation({ participants: [pat2.id, doc.id] });
      const group = await s.conversation({ participants: [pat.id, pat2.id, doc.id], type: 4 });

      for (const c of [a, held, group]) for (let i = 1; i <= 3; i++) await s.sendAs(doc.id, c, `${c} m${i}`);
      const attached = await upload(pat.token, a, 'a.png');
      const sent = await s.call('POST', `/api/v2/sessions/${a}/messages`, { token: pat.token, body: { type: 2, content: { storageId: attached } } });
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      const orphan = await upload(pat.token, a, 'orphan.png');
      const heldFile = await upload(pat2.token, held, 'h.png');
      await s.call('POST', `/api/v2/sessions/${held}/messages`, { token: pat2.token, body: { type: 2, content: { storageId: heldFile } } });
      const groupFile = await upload(pat.token, group, 'g.png');
      await s.call('POST', `/api/v2/sessions/${group}/messages`, { token: pat.token, body: { type: 2, content: { storageId: groupFile } } });

      // Who sets them: the API key and admins; not a patient or doctor.
      assert.equal((await s.call('PUT', '/api/v2/management/retention/2', { token: pat.token, body: { days: 30 } })).body.code, 'auth.forbidden');
      assert.equal((await s.call('PUT', `/api/v2/sessions/${held}/legal-hold`, { token: doc.token, body: {} })).body.code, 'auth.forbidden');
      assert.equal((await s.call('PUT', '/api/v2/management/retention/2', { body: { days: 0 } })).status, 400);
      const set = await s.call('PUT', '/api/v2/management/retention/2', { body: { days: 30 } });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      await s.call('PUT', '/api/v2/management/retention/4', { token: admin.token, body: { days: 60 } });
      assert.deepEqual((await s.call('GET', '/api/v2/management/retention')).body.policies.map((p: any) => [p.conversation_type, p.days]), [[2, 30], [4, 60]]);
      const hold = await s.call('PUT', `/api/v2/sessions/${held}/legal-hold`, { token: admin.token, body: { reason: 'litigation 2026-17' } });
      assert.equal(hold.status, 200, JSON.stringify(hold.body));
      assert.equal(hold.body.hold.set_by, admin.id);
      assert.equal((await s.call('PUT', '/api/v2/sessions/nope/legal-hold', { body: {} })).body.code, 'conversation.not_found');
      assert.deepEqual((await s.call('GET', '/api/v2/management/legal-holds')).body.holds.map((h: any) => h.conversation_id), [held]);

      const retention = s.server.core.files.retention;
      // Not old enough yet.
      assert.deepEqual(await retention.run(Date.now() + 29 * DAY), { conversations: 0, messages: 0, files: 0 });
      assert.equal(await fileStatus(attached, doc.token), 200);

      const r = await retention.run(Date.now() + 31 * DAY);
      assert.deepEqual(r, { conversations: 1, messages: 4, files: 2 });
      const hist = await history(a);
      assert.deepEqual(hist.map((m) => m.seq), [1, 2, 3, 4], 'the seqs stay, gap-free');
      assert.ok(hist.every((m) => m.content === null && m.recalled_at === null), 'tombstones: content gone');
      assert.equal(await fileStatus(attached, doc.token), 404);
      assert.equal(await fileStatus(attached, pat.token), 404);
      assert.equal(await s.server.core.storage.files.get(s.tenantId, attached), null);
      assert.equal(await s.server.core.storage.files.get(s.tenantId, orphan), null);
      assert.equal(await s.server.core.files.blobs.stat(`f/${attached.slice(0, 2)}/${attached}`), null, 'the bytes are gone');
      // The held conversation and the other type keep everything.
      assert.ok((await history(held)).every((m) => m.content !== null));
      assert.equal(await fileStatus(heldFile, doc.token), 200);
      assert.ok((await history(group)).every((m) => m.content !== null));
      assert.equal(await fileStatus(groupFile, doc.token), 200);
      // New messages go on after the tombstones; a second run finds nothing more.
      assert.equal((await s.sendAs(doc.id, a, 'after')).seq, 5);
      assert.deepEqual(await retention.run(Date.now() + 31 * DAY), { conversations: 1, messages: 1, files: 0 });

      // The other type's policy, later; then the hold lifted.
      const r2 = await retention.run(Date.now() + 61 * DAY);
      assert.equal(r2.files, 1);
      assert.ok((await history(group)).every((m) => m.content === null));
      assert.ok((await history(held)).every((m) => m.content !== null), 'still held');
      assert.equal((await s.call('DELETE', `/api/v2/sessions/${held}/legal-hold`)).status, 200);
      const r3 = await retention.run(Date.now() + 31 * DAY);
      assert.equal(r3.messages, 4);
      assert.equal(await fileStatus(heldFile, doc.token), 404);
      // Removing a policy stops retention for that type.
      await s.call('PUT', '/api/v2/management/retention/2', { body: { days: null } });
      assert.deepEqual((await s.call('GET', '/api/v2/management/retention')).body.policies.map((p: any) => p.conversation_type), [4]);
    });
  });
}

{
  suite('sqlite', () => startTestServer(), async () => {});
}

{
  let postgres: Service;
  suite('postgres', async () => {
    postgres = await startPostgres();
    return startTestServer({ config: { storage: { driver: 'postgres', postgresUrl: postgres.url } } });
  }, async () => {
    await postgres?.stop();
  });
}

describe('the retention job across two nodes', () => {
  let postgres: Service;
  let redis: Service;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE careline_retention_nodes');
    await admin.end();
    const url = new URL(postgres.url);
    url.pathname = '/careline_retention_nodes';
    const config = (nodeId: string) => ({
      storage: { driver: 'postgres', postgresUrl: url.toString() }, bus: { driver: 'redis', redisUrl: redis.url }, presence: { driver: 'redis' }, cluster: { nodeId },
      files: { retentionIntervalSeconds: 3600 },
    });
    a = await startTestServer({ config: config('node-a') });
    b = await startTestServer({ config: config('node-b') });
  }, { timeout: 60_000 });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.stop();
    await postgres?.stop();
  });

  it('both nodes enqueue the interval\'s run; one job exists and one node runs it', async () => {
    const stats = async () => (await a.server.core.storage.jobs.stats()).find((x) => x.kind === 'retention.run');
    const end = Date.now() + 15_000;
    let st = await stats();
    while ((st?.done ?? 0) < 1 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      st = await stats();
    }
    assert.ok(st, 'a retention job was enqueued');
    assert.equal(st.queued + st.leased + st.done + st.dead, 1, JSON.stringify(st));
    assert.equal(st.done, 1);
  });
});
