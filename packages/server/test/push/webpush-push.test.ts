/**
 * Offline push to browsers with Web Push, end to end: a real server with a VAPID key pair made
 * here, a Web install (OS type 3) registered through the SDK with a subscription of a local
 * push service (`support/fake-webpush.ts`) that verifies the VAPID JWT's ES256 signature,
 * its audience and expiry, the RFC 8030 headers, and decrypts the aes128gcm payload with the
 * subscription's private key.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import webpush from 'web-push';
import { webPushTopic } from '../../src/push/webpush.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { PATIENT_NAME, patientAndDoctor, pushSettled } from './support/harness.ts';
import { startFakeWebPush, type FakeWebPush } from './support/fake-webpush.ts';

const SECRET = 'HbA1c 11.2%: insulin dose doubled';
const NAME = PATIENT_NAME;

describe('offline push to browsers (Web Push: VAPID, aes128gcm)', () => {
  let dir: string;
  let wp: FakeWebPush;
  let s: TestServer;
  const vapid = webpush.generateVAPIDKeys();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-webpush-'));
    wp = await startFakeWebPush();
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, wp.ca);
    s = await startTestServer({
      config: { push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, webpush: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: 'mailto:ops@careline.test', caFile } } },
    });
  });
  after(async () => {
    await s?.stop();
    await wp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const settled = () => pushSettled(s);
  async function setup(tag: string) {
    const { pat, doc, conv, client: c } = await patientAndDoctor(s, tag);
    const { public_key } = await c.devices.webPushKey();
    const sub = wp.subscribe(public_key);
    await c.devices.register({ os_type: 3, vendor: 'webpush', push_token: JSON.stringify(sub), device_info: { browser: 'Chromium' } });
    return { pat, doc, conv, sub, client: c };
  }
  const pushesOf = (id: string) => wp.delivered.filter((d) => JSON.parse(d.text).data?.message_id === id);

  it('serves the VAPID public key without credentials', async () => {
    const r = await fetch(`${s.url}/api/v2/push/webpush`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { public_key: vapid.publicKey });
  });

  it('one encrypted, VAPID-signed push per message: ids, the generic title and the badge, nothing private', async () => {
    const { doc, conv, sub } = await setup('one');
    const sent = [await s.sendAs(doc.id, conv, `${SECRET} (1)`), await s.sendAs(doc.id, conv, `${SECRET} (2)`)];
    await settled();
    for (const [i, m] of sent.entries()) {
      const got = pushesOf(m.id);
      assert.equal(got.length, 1);
      const d = got[0]!;
      assert.equal(`${wp.url}/push/${d.id}`, sub.endpoint);
      assert.equal(d.headers['content-encoding'], 'aes128gcm');
      assert.equal(d.headers.urgency, 'high');
      assert.equal(d.headers.topic, webPushTopic(m.id));
      assert.ok(Number(d.headers.ttl) > 0);
      assert.equal(d.claims.sub, 'mailto:ops@careline.test');
      const payload = JSON.parse(d.text);
      // The badge is the unread count when the push goes out: the second message may be in it already.
      assert.ok(payload.badge >= i + 1 && payload.badge <= 2);
      assert.deepEqual(payload, {
        title: 'New message from your care team', badge: payload.badge, quiet: false, tag: conv,
        data: { tenant_id: s.tenantId, conversation_id: conv, message_id: m.id, seq: m.seq },
      });
      for (const secret of ['HbA1c', 'insulin', NAME, 'Olusegun', 'Marchetti']) {
        assert.ok(!d.text.includes(secret), `no "${secret}" in the push`);
        assert.ok(!d.encrypted.includes(Buffer.from(secret)), `no "${secret}" in the encrypted body`);
      }
    }
    assert.deepEqual(wp.rejected, []);
  });

  it('a push the service refuses for its VAPID signature is not counted as sent (the local service checks)', async () => {
    const other = webpush.generateVAPIDKeys();
    const sub = wp.subscribe(vapid.publicKey);
    const details = webpush.generateRequestDetails(sub, 'x', { vapidDetails: { subject: 'mailto:a@b.c', publicKey: vapid.publicKey, privateKey: other.privateKey } });
    const ca = wp.ca;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(details.endpoint, { method: 'POST', headers: details.headers as Record<string, string>, ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(details.body);
    });
    assert.equal(status, 401);
    assert.deepEqual(wp.rejected.splice(0).map((r) => r.reason), ['vapid: signature']);
  });

  it('410 Gone removes the subscription; 503 is retried, nothing lost or doubled', async () => {
    const gone = await setup('gone');
    wp.unsubscribe(gone.sub.endpoint);
    const m = await s.sendAs(gone.doc.id, gone.conv, 'to a closed browser');
    await settled();
    assert.deepEqual(pushesOf(m.id), []);
    assert.equal((await gone.client.devices.list())[0]!.push_token, null);

    const down = await setup('down');
    wp.failNext(3);
    const sent = [await s.sendAs(down.doc.id, down.conv, 'outage 1'), await s.sendAs(down.doc.id, down.conv, 'outage 2')];
    await settled();
    for (const x of sent) assert.equal(pushesOf(x.id).length, 1);
    assert.equal(wp.refused.filter((r) => r.status === 503).length, 3);
    assert.deepEqual(wp.rejected, []);
  });
});
