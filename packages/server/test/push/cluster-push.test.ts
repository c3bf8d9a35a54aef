/**
 * Offline push across nodes: two servers on one PostgreSQL database and one Redis (bus and
 * presence), both sending push jobs to a local APNs. A patient connected to node B gets no
 * push for a message committed on node A; once they are gone from every node, each message
 * gets exactly one push per install, whichever node's runner takes the job.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { CarelineClient } from '@careline/sdk';
import { PUSH_JOB } from '../../src/push/planner.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startPostgres, startRedis, type Service } from '../support/services.ts';
import { closeWs, eventually, openWs } from '../rest/helpers.ts';
import { startFakeApns, type FakeApns } from './support/fake-apns.ts';

const KEY_ID = 'KEY123ABCD';
const TEAM_ID = 'TEAM123456';
const TOPIC = 'org.careline.patient';

describe('offline push across nodes (PostgreSQL, Redis)', { timeout: 120_000 }, () => {
  let dir: string;
  let apns: FakeApns;
  let postgres: Service;
  let redis: Service;
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-push-cluster-'));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyFile = join(dir, 'AuthKey.p8');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    apns = await startFakeApns({ publicKey, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC });
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, apns.ca);
    [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE careline_push_cluster');
    await admin.end();
    const url = new URL(postgres.url);
    url.pathname = '/careline_push_cluster';
    const config = (nodeId: string) => ({
      storage: { driver: 'postgres', postgresUrl: url.toString() }, bus: { driver: 'redis', redisUrl: redis.url }, presence: { driver: 'redis' },
      cluster: { nodeId },
      push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, apns: { url: apns.url, keyFile, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC, caFile } },
    });
    a = await startTestServer({ config: config('node-a') });
    b = await startTestServer({ config: config('node-b') });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await apns?.stop();
    await redis?.stop();
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const pushJobs = async () => (await a.server.core.storage.jobs.stats()).find((x) => x.kind === PUSH_JOB) ?? { queued: 0, leased: 0, done: 0, dead: 0 };

  it('online on another node: no push; offline everywhere: exactly one per message per install, sent by either node', async () => {
    const pat = await a.user('pat-x', 'patient');
    const doc = await a.user('doc-x', 'doctor');
    const conv = await a.conversation({ participants: [pat.id, doc.id] });
    const tokens = ['aa', 'bb'].map((c) => c.repeat(32));
    for (const t of tokens) await new CarelineClient({ url: b.url, token: pat.token }).devices.register({ os_type: 1, vendor: 'apns', push_token: t });

    const ws = await openWs(b, pat.token);
    try {
      await eventually(async () => (await a.server.core.presence.status(a.tenantId, pat.id)).online, 10_000);
      const m = await a.sendAs(doc.id, conv, 'while connected to node B');
      await a.server.push.planner.drain();
      const st = await pushJobs();
      assert.equal(st.queued + st.leased + st.done + st.dead, 0, 'no push job for a user connected on another node');
      assert.equal(apns.delivered.filter((d) => d.body.careline.message_id === m.id).length, 0);
    } finally {
      await closeWs(ws);
    }
    await eventually(async () => !(await a.server.core.presence.status(a.tenantId, pat.id)).online, 10_000);

    const sent = [];
    // Committed on both nodes (B with the tenant's API key, as the balancer would route it).
    const sendOnB = async (text: string) => {
      const r = await b.call('POST', `/api/v2/sessions/${conv}/messages`, { apiKey: a.apiKey, body: { type: 1, content: { text }, sender_id: doc.id } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return { id: r.body.message.id as string, seq: r.body.message.seq as number };
    };
    for (let i = 0; i < 6; i++) sent.push(i % 2 ? await sendOnB(`offline ${i}`) : await a.sendAs(doc.id, conv, `offline ${i}`));
    await a.server.push.planner.drain();
    await b.server.push.planner.drain();
    await eventually(async () => {
      const st = await pushJobs();
      return st.queued + st.leased === 0 && st.done === sent.length * tokens.length;
    }, 20_000);
    for (const m of sent) {
      const got = apns.delivered.filter((d) => d.body.careline.message_id === m.id).map((d) => d.token).sort();
      assert.deepEqual(got, tokens, `message ${m.id}: one push per install`);
    }
    assert.equal(apns.delivered.length, sent.length * tokens.length, 'nothing doubled');
    assert.deepEqual(apns.rejected, []);
  });
});
