/**
 * Offline push to FCM HTTP v1, end to end: a real server, an Android install registered
 * through the SDK, and a local FCM + OAuth2 token endpoint over HTTPS that verifies the
 * service account's RS256 assertion with its public key, the access token, the project and
 * the message (`support/fake-fcm.ts`). The service account key is an RSA key made here.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FcmSender } from '../../src/push/fcm.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { PATIENT_NAME, patientAndDoctor, pushSettled } from './support/harness.ts';
import { startFakeFcm, type FakeFcm } from './support/fake-fcm.ts';

const PROJECT = 'careline-test-project';
const EMAIL = 'push@careline-test-project.iam.gserviceaccount.com';
const SECRET = 'HbA1c 11.2%: insulin dose doubled';
const NAME = PATIENT_NAME;

let n = 0;
const fcmToken = () => `c${++n}Xy:APA91b${'Q'.repeat(140)}${n}`;

describe('offline push to FCM HTTP v1', () => {
  let dir: string;
  let fcm: FakeFcm;
  let s: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-fcm-'));
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    fcm = await startFakeFcm({ publicKey, clientEmail: EMAIL, projectId: PROJECT });
    const serviceAccountFile = join(dir, 'service-account.json');
    writeFileSync(serviceAccountFile, JSON.stringify({
      type: 'service_account', project_id: PROJECT, private_key_id: 'k1', client_email: EMAIL,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), token_uri: fcm.tokenUrl,
    }));
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, fcm.ca);
    s = await startTestServer({ config: { push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, fcm: { serviceAccountFile, url: fcm.url, caFile } } } });
  });
  after(async () => {
    await s?.stop();
    await fcm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const settled = () => pushSettled(s);
  async function setup(tag: string) {
    const { pat, doc, conv, client: c } = await patientAndDoctor(s, tag);
    const token = fcmToken();
    await c.devices.register({ os_type: 2, vendor: 'fcm', push_token: token, device_info: { model: 'Pixel 8' } });
    return { pat, doc, conv, token, client: c };
  }
  const pushesOf = (id: string) => fcm.delivered.filter((d) => d.message.data?.message_id === id);

  it('one push per message, one OAuth2 exchange for them all (cached), ids and a generic title only', async () => {
    const { doc, conv, token } = await setup('one');
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await s.sendAs(doc.id, conv, `${SECRET} (${i})`));
    await settled();
    for (const m of sent) {
      const got = pushesOf(m.id);
      assert.equal(got.length, 1);
      const msg = got[0]!.message;
      assert.equal(msg.token, token);
      assert.deepEqual(msg.notification, { title: 'New message from your care team' });
      assert.deepEqual(msg.data, { tenant_id: s.tenantId, conversation_id: conv, message_id: m.id, seq: String(m.seq) });
      assert.equal(msg.android.collapse_key, m.id);
      assert.equal(msg.android.priority, 'HIGH');
      assert.ok(msg.android.notification.notification_count >= 1);
      for (const secret of ['HbA1c', 'insulin', NAME, 'Olusegun', 'Marchetti']) assert.ok(!got[0]!.raw.includes(secret), `no "${secret}" in the push`);
    }
    assert.equal(fcm.exchanges, 1, 'the access token is cached');
    assert.deepEqual(fcm.rejected, []);
  });

  it('the local FCM checks what it gets: an assertion signed with another key, or for another account, gets no access token', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const n = { collapse_id: 'm', title: 't', badge: 0, quiet: false, data: { tenant_id: 't', conversation_id: 'c', message_id: 'm', seq: 1 } };
    for (const [account, reason] of [
      [{ project_id: PROJECT, client_email: EMAIL, private_key: other }, 'invalid_grant: signature'],
    ] as const) {
      const before = fcm.rejected.length;
      const sender = new FcmSender({ account, url: fcm.url, tokenUrl: fcm.tokenUrl, ca: fcm.ca });
      try {
        const out = await sender.send(fcmToken(), n);
        assert.equal(out.kind, 'retry');
        assert.deepEqual(fcm.rejected.slice(before).map((r) => r.reason), [reason]);
      } finally {
        await sender.close();
      }
    }
    fcm.rejected.length = 0;
  });

  it('UNREGISTERED removes the token; 503 is retried, nothing lost or doubled', async () => {
    const gone = await setup('gone');
    fcm.unregister(gone.token);
    const m = await s.sendAs(gone.doc.id, gone.conv, 'to an uninstalled app');
    await settled();
    assert.deepEqual(pushesOf(m.id), []);
    assert.equal((await gone.client.devices.list())[0]!.push_token, null);
    assert.equal(fcm.refused.filter((r) => r.token === gone.token).length, 1);

    const down = await setup('down');
    fcm.failNext(3);
    const sent = [await s.sendAs(down.doc.id, down.conv, 'outage 1'), await s.sendAs(down.doc.id, down.conv, 'outage 2')];
    await settled();
    for (const x of sent) assert.equal(pushesOf(x.id).length, 1);
    assert.equal(fcm.refused.filter((r) => r.status === 503).length, 3);
    assert.deepEqual(fcm.rejected, []);
  });
});
