/**
 * Offline push to APNs, end to end: a real server (SQLite file), devices registered through
 * the SDK, messages sent over REST, and a local APNs over HTTP/2 + TLS that verifies the
 * provider JWT's ES256 signature with the public key, the headers and the body
 * (`support/fake-apns.ts`). The .p8 key is a P-256 key made here.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CarelineClient, MemoryStorage } from '@careline/sdk';
import { JobRunner } from '../../src/domain/jobs.ts';
import { PushWorker } from '../../src/push/worker.ts';
import { ApnsSender } from '../../src/push/apns.ts';
import { PUSH_JOB } from '../../src/push/planner.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { closeWs, eventually, openWs } from '../rest/helpers.ts';
import { startFakeApns, type FakeApns } from './support/fake-apns.ts';

const KEY_ID = 'KEY123ABCD';
const TEAM_ID = 'TEAM123456';
const TOPIC = 'org.careline.patient';
const SECRET_TEXT = 'Biopsy result: malignant melanoma, stage II';
const PATIENT_NAME = 'Zhang Wei-Lin';
const DOCTOR_NAME = 'Dr. Margarethe Okonkwo';

let n = 0;
const token = () => (++n).toString(16).padStart(4, '0').repeat(16);

describe('offline push to APNs', () => {
  let dir: string;
  let apns: FakeApns;
  let s: TestServer;
  let config: Record<string, unknown>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-apns-'));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyFile = join(dir, `AuthKey_${KEY_ID}.p8`);
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    apns = await startFakeApns({ publicKey, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC });
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, apns.ca);
    config = { push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, apns: { url: apns.url, keyFile, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC, caFile } } };
    s = await startTestServer({ config });
  });
  after(async () => {
    await s?.stop();
    await apns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const sdk = (t: string) => new CarelineClient({ url: s.url, token: t, storage: new MemoryStorage() });
  /** A doctor and a patient in a conversation; the patient's installs registered through the SDK. */
  async function setup(tag: string, installs = 1) {
    const pat = await s.user(`pat-${tag}`, 'patient', PATIENT_NAME);
    const doc = await s.user(`doc-${tag}`, 'doctor', DOCTOR_NAME);
    const conv = await s.conversation({ participants: [pat.id, doc.id], name: `${PATIENT_NAME} oncology` });
    const devices = [];
    for (let i = 0; i < installs; i++) {
      const c = sdk(pat.token);
      const t = token();
      const r = await c.devices.register({ os_type: 1, vendor: 'apns', push_token: t, device_info: { model: 'iPhone15,2' } });
      devices.push({ client: c, token: t, id: r.device.device_id });
    }
    return { pat, doc, conv, devices, patient: sdk(pat.token) };
  }
  /** Waits until every push job is done or dead (the planner drained first). */
  async function settled() {
    await s.server.push.planner.drain();
    await eventually(async () => {
      const st = (await s.server.core.storage.jobs.stats()).find((x) => x.kind === PUSH_JOB);
      return !st || st.queued + st.leased === 0;
    }, 15_000);
  }
  const pushesOf = (messageId: string) => apns.delivered.filter((d) => d.body.careline?.message_id === messageId);

  it('an offline patient gets exactly one push per message on each install (unique code), free of patient data', async () => {
    const { doc, conv, devices } = await setup('one', 2);
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await s.sendAs(doc.id, conv, `${SECRET_TEXT} #${i}`));
    await settled();
    for (const [i, m] of sent.entries()) {
      const got = pushesOf(m.id);
      assert.deepEqual(got.map((g) => g.token).sort(), devices.map((d) => d.token).sort(), `message ${i}: one push per install`);
      for (const g of got) {
        assert.equal(g.headers['apns-topic'], TOPIC);
        assert.equal(g.headers['apns-push-type'], 'alert');
        assert.equal(g.headers['apns-priority'], '10');
        assert.equal(g.headers['apns-collapse-id'], m.id, 'collapse id = message id');
        assert.equal(g.claims.iss, TEAM_ID);
        assert.deepEqual(g.body.aps.alert, { title: 'New message from your care team' });
        // The badge is the unread count when the push is sent: at least this message's, at most all three.
        assert.ok(g.body.aps.badge >= i + 1 && g.body.aps.badge <= 3, `badge ${g.body.aps.badge} for message ${i}`);
        assert.equal(g.body.aps.sound, 'default');
        assert.deepEqual(g.body.careline, { tenant_id: s.tenantId, conversation_id: conv, message_id: m.id, seq: m.seq });
        for (const secret of ['Biopsy', 'melanoma', SECRET_TEXT, PATIENT_NAME, DOCTOR_NAME, 'oncology', 'Zhang', 'Okonkwo']) {
          assert.ok(!g.raw.includes(secret), `no "${secret}" in the push`);
          assert.ok(!Object.values(g.headers).some((v) => v.includes(secret)), `no "${secret}" in the headers`);
        }
      }
    }
    assert.deepEqual(apns.rejected, [], 'every request passed the APNs checks (JWT signature, headers, body)');
    assert.equal(apns.connections, 1, 'one HTTP/2 connection, reused');
  });

  it('a burst of 40 messages sent at once: 40 pushes, one each, none doubled', async () => {
    const { doc, conv, devices } = await setup('burst');
    const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => s.sendAs(doc.id, conv, `burst ${i}`)));
    await settled();
    for (const m of sent) assert.deepEqual(pushesOf(m.id).map((g) => g.token), [devices[0]!.token]);
    assert.equal(apns.delivered.filter((g) => g.token === devices[0]!.token).length, 40);
  });

  it('a patient with a live connection gets none; the sender gets none for their own message', async () => {
    const { pat, doc, conv, devices } = await setup('online');
    await sdk(doc.token).devices.register({ os_type: 1, vendor: 'apns', push_token: token() });
    const ws = await openWs(s, pat.token);
    try {
      await eventually(async () => (await s.server.core.presence.status(s.tenantId, pat.id)).online);
      const m = await s.sendAs(doc.id, conv, 'while online');
      await settled();
      assert.deepEqual(pushesOf(m.id), []);
    } finally {
      await closeWs(ws);
    }
    await eventually(async () => !(await s.server.core.presence.status(s.tenantId, pat.id)).online);
    const m2 = await s.sendAs(doc.id, conv, 'after leaving');
    await settled();
    assert.deepEqual(pushesOf(m2.id).map((g) => g.token), [devices[0]!.token], 'offline again: one push, to the patient only');
  });

  it('push off (install, user), muted, de-registered: none; a mute that ended and push back on: pushes again', async () => {
    const { doc, conv, devices, patient } = await setup('off', 2);
    const [a, b] = devices as [typeof devices[0], typeof devices[0]];
    await a.client.devices.setPush(false);
    let m = await s.sendAs(doc.id, conv, 'one install off');
    await settled();
    assert.deepEqual(pushesOf(m.id).map((g) => g.token), [b.token]);

    await patient.devices.updateSettings({ push_enabled: false });
    m = await s.sendAs(doc.id, conv, 'user off');
    await settled();
    assert.deepEqual(pushesOf(m.id), []);
    await patient.devices.updateSettings({ push_enabled: true });

    await patient.devices.mute(conv);
    m = await s.sendAs(doc.id, conv, 'muted');
    await settled();
    assert.deepEqual(pushesOf(m.id), []);
    await patient.devices.mute(conv, Date.now() + 500);
    await eventually(async () => Date.now() > (await patient.devices.mutes())[0]!.until!, 5000);
    m = await s.sendAs(doc.id, conv, 'mute ended');
    await settled();
    assert.deepEqual(pushesOf(m.id).map((g) => g.token), [b.token]);

    await b.client.devices.deregister();
    await a.client.devices.setPush(true);
    m = await s.sendAs(doc.id, conv, 'after de-registration');
    await settled();
    assert.deepEqual(pushesOf(m.id).map((g) => g.token), [a.token], 'the de-registered code never gets one');
  });

  it('in the user\'s quiet hours the push comes without sound', async () => {
    const { doc, conv, patient } = await setup('quiet');
    const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
    await patient.devices.updateSettings({ quiet_hours: { start: hhmm(Date.now() - 3_600_000), end: hhmm(Date.now() + 3_600_000), time_zone: 'UTC' } });
    const m = await s.sendAs(doc.id, conv, 'at night');
    await settled();
    const [g] = pushesOf(m.id);
    assert.ok(g, 'still pushed');
    assert.equal(g.body.aps.sound, undefined);
    assert.equal(g.body.aps['interruption-level'], 'passive');
  });

  it('token rotation: the install\'s new token gets the push, the old one never again', async () => {
    const { doc, conv, devices } = await setup('rotate');
    const d = devices[0]!;
    const fresh = token();
    await d.client.devices.register({ os_type: 1, vendor: 'apns', push_token: fresh });
    const m = await s.sendAs(doc.id, conv, 'after rotation');
    await settled();
    assert.deepEqual(pushesOf(m.id).map((g) => g.token), [fresh]);
    assert.equal(apns.delivered.filter((g) => g.token === d.token).length, 0);
  });

  it('410 Unregistered removes the token: no push is tried for it again', async () => {
    const { doc, conv, devices } = await setup('gone');
    const d = devices[0]!;
    apns.unregister(d.token);
    const m = await s.sendAs(doc.id, conv, 'to an uninstalled app');
    await settled();
    assert.deepEqual(pushesOf(m.id), []);
    assert.equal(apns.refused.filter((r) => r.token === d.token && r.status === 410).length, 1, 'tried once, not retried');
    const [dev] = await d.client.devices.list();
    assert.equal(dev!.push_token, null);
    const m2 = await s.sendAs(doc.id, conv, 'again');
    await settled();
    assert.deepEqual(pushesOf(m2.id), []);
    assert.equal(apns.refused.filter((r) => r.token === d.token).length, 1);
  });

  it('APNs down for a while (503): retried with backoff, nothing lost, nothing doubled', async () => {
    const { doc, conv, devices } = await setup('down', 2);
    apns.failNext(5);
    const refusedBefore = apns.refused.length;
    const sent = [await s.sendAs(doc.id, conv, 'during the outage 1'), await s.sendAs(doc.id, conv, 'during the outage 2')];
    await settled();
    assert.equal(apns.refused.length - refusedBefore, 5, 'five attempts refused');
    for (const m of sent) assert.deepEqual(pushesOf(m.id).map((g) => g.token).sort(), devices.map((d) => d.token).sort(), 'one push per install per message');
    const text = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(text, /careline_push_retried_total\{vendor="apns"\} [1-9]/);
    assert.match(text, /careline_push_sent_total\{vendor="apns"\} [1-9]/);
    assert.match(text, /careline_push_failed_total\{vendor="apns",reason="ServiceUnavailable"\} 5/);
  });

  it('jobs survive a restart: pushes pending while APNs is down are sent after the server comes back, once', async () => {
    const { doc, conv, devices } = await setup('restart');
    apns.failNext(1_000_000);
    const refusedBefore = apns.refused.length;
    const m = await s.sendAs(doc.id, conv, 'before the restart');
    await s.server.push.planner.drain();
    await eventually(async () => apns.refused.length > refusedBefore, 10_000);
    await s.restart();
    apns.failNext(0);
    await settled();
    assert.deepEqual(pushesOf(m.id).map((g) => g.token), [devices[0]!.token]);
  });

  it('the local APNs checks what it gets: a JWT signed with another key, a wrong team or topic are refused as APNs does', async () => {
    const n = { collapse_id: 'm1', title: 't', badge: 0, quiet: false, data: { tenant_id: 't', conversation_id: 'c', message_id: 'm1', seq: 1 } };
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const own = (await import('node:fs')).readFileSync((config.push as any).apns.keyFile, 'utf8');
    // A provider token refused is retried with a new JWT (an operator may be fixing the key); a wrong topic is not.
    const cases: [Partial<ConstructorParameters<typeof ApnsSender>[0]>, string, string][] = [
      [{ key: other }, 'retry', 'InvalidProviderToken'], [{ teamId: 'OTHERTEAM1' }, 'retry', 'InvalidProviderToken'],
      [{ keyId: 'OTHERKEY12' }, 'retry', 'InvalidProviderToken'], [{ topic: 'org.example.other' }, 'failed', 'TopicDisallowed'],
    ];
    for (const [over, kind, reason] of cases) {
      const sender = new ApnsSender({ url: apns.url, key: own, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC, ca: apns.ca, ...over });
      try {
        assert.deepEqual(await sender.send(token(), n), { kind, reason }, JSON.stringify(Object.keys(over)));
      } finally {
        await sender.close();
      }
    }
    assert.equal(apns.rejected.length, cases.length);
    apns.rejected.length = 0;
  });

  it('a message the patient read before the push went out is not pushed', async () => {
    // A second server on its own database, sending no pushes itself (push.workers 0): the jobs wait.
    const idle = await startTestServer({ config: { ...config, push: { ...(config.push as object), workers: 0 } } });
    try {
      const pat = await idle.user('pat-read', 'patient');
      const doc = await idle.user('doc-read', 'doctor');
      const conv = await idle.conversation({ participants: [pat.id, doc.id] });
      const t1 = token();
      await new CarelineClient({ url: idle.url, token: pat.token }).devices.register({ os_type: 1, vendor: 'apns', push_token: t1 });
      const read = await idle.sendAs(doc.id, conv, 'read first');
      const unread = await idle.sendAs(doc.id, conv, 'still unread');
      await idle.server.push.planner.drain();
      // The patient reads the first only.
      const r = await idle.call('POST', `/api/v2/sessions/${conv}/read`, { token: pat.token, body: { seq: read.seq } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      // Now a worker takes the jobs (the same code a node runs).
      const core = idle.server.core;
      const worker = new PushWorker({ storage: core.storage, messages: core.messages, notifications: core.notifications, senders: s.server.push.senders, title: 'New message from your care team' });
      const runner = new JobRunner({ jobs: core.storage.jobs, worker: 'late-node', pollMs: 10 }).register(PUSH_JOB, worker.handle);
      runner.start();
      try {
        await eventually(async () => {
          const st = (await core.storage.jobs.stats()).find((x) => x.kind === PUSH_JOB);
          return st !== undefined && st.queued + st.leased === 0 && st.done === 2;
        }, 10_000);
      } finally {
        await runner.close();
      }
      assert.deepEqual(apns.delivered.filter((g) => g.token === t1).map((g) => g.body.careline.message_id), [unread.id]);
      assert.equal(apns.delivered.find((g) => g.token === t1)!.body.aps.badge, 1);
    } finally {
      await idle.stop();
    }
  });
});
