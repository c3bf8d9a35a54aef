/**
 * Offline push to Huawei Push Kit, end to end: a real server, an Android install with a
 * Huawei token registered through the SDK, and a local Push Kit + OAuth2 endpoint over HTTPS
 * (`support/fake-huawei.ts`) that checks the client credentials, the bearer token it issued,
 * the app id in the path and the message's structure.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HuaweiSender } from '../../src/push/huawei.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { PATIENT_NAME, patientAndDoctor, pushSettled } from './support/harness.ts';
import { startFakeHuawei, type FakeHuawei } from './support/fake-huawei.ts';

const APP_ID = '104512345';
const APP_SECRET = 'a3f1c0ffee5ecre7a3f1c0ffee5ecre7a3f1c0ffee5ecre7a3f1c0ffee5ecre7';
const SECRET = 'HbA1c 11.2%: insulin dose doubled';
const NAME = PATIENT_NAME;

let n = 0;
const hmsToken = () => `IQAAAACy0k${'Bq7'.repeat(40)}${++n}`;

describe('offline push to Huawei Push Kit', () => {
  let dir: string;
  let hw: FakeHuawei;
  let s: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-huawei-'));
    hw = await startFakeHuawei({ appId: APP_ID, appSecret: APP_SECRET });
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, hw.ca);
    s = await startTestServer({
      config: { push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, huawei: { appId: APP_ID, appSecret: APP_SECRET, url: hw.url, tokenUrl: hw.tokenUrl, badgeClass: 'org.careline.app.MainActivity', caFile } } },
    });
  });
  after(async () => {
    await s?.stop();
    await hw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const settled = () => pushSettled(s);
  async function setup(tag: string) {
    const { pat, doc, conv, client: c } = await patientAndDoctor(s, tag);
    const token = hmsToken();
    await c.devices.register({ os_type: 2, vendor: 'huawei', push_token: token, device_info: { model: 'Mate 60' } });
    return { pat, doc, conv, token, client: c };
  }
  const pushesOf = (id: string) => hw.delivered.filter((d) => JSON.parse(d.message.data).message_id === id);

  it('one push per message with one cached access token: ids, the generic title and body, the badge', async () => {
    const { doc, conv, token } = await setup('one');
    const sent = [await s.sendAs(doc.id, conv, `${SECRET} (1)`), await s.sendAs(doc.id, conv, `${SECRET} (2)`)];
    await settled();
    for (const [i, m] of sent.entries()) {
      const got = pushesOf(m.id);
      assert.equal(got.length, 1);
      const msg = got[0]!.message;
      assert.deepEqual(msg.token, [token]);
      assert.deepEqual(JSON.parse(msg.data), { tenant_id: s.tenantId, conversation_id: conv, message_id: m.id, seq: m.seq });
      assert.equal(msg.android.notification.title, 'New message from your care team');
      assert.equal(msg.android.notification.body, 'Open the app to read it.');
      assert.equal(msg.android.notification.tag, conv);
      // The badge is the unread count when the push goes out: the second message may be in it already.
      assert.equal(msg.android.notification.badge.class, 'org.careline.app.MainActivity');
      assert.ok(msg.android.notification.badge.set_num >= i + 1 && msg.android.notification.badge.set_num <= 2);
      assert.equal(msg.android.bi_tag, m.id);
      assert.equal(msg.android.category, 'IM');
      for (const secret of ['HbA1c', 'insulin', NAME, 'Olusegun', 'Marchetti']) assert.ok(!got[0]!.raw.includes(secret), `no "${secret}" in the push`);
    }
    assert.equal(hw.exchanges, 1, 'the access token is cached');
    assert.deepEqual(hw.rejected, []);
  });

  it('an expired access token (80200003) is fetched again and the push retried, once', async () => {
    const { doc, conv } = await setup('expired');
    hw.expireTokens();
    const before = hw.exchanges;
    const m = await s.sendAs(doc.id, conv, 'after expiry');
    await settled();
    assert.equal(pushesOf(m.id).length, 1);
    assert.equal(hw.exchanges, before + 1);
    assert.ok(hw.refused.some((r) => r.code === '80200003'));
    assert.deepEqual(hw.rejected, []);
  });

  it('the local Push Kit checks the credentials: a wrong app secret gets no token and the push is retried later', async () => {
    const sender = new HuaweiSender({ appId: APP_ID, appSecret: 'wrong', url: hw.url, tokenUrl: hw.tokenUrl, body: 'b', ca: hw.ca });
    try {
      const out = await sender.send(hmsToken(), { collapse_id: 'm', title: 't', badge: 0, quiet: false, data: { tenant_id: 't', conversation_id: 'c', message_id: 'm', seq: 1 } });
      assert.equal(out.kind, 'retry');
      assert.deepEqual(hw.rejected.splice(0).map((r) => r.reason), ['invalid client']);
    } finally {
      await sender.close();
    }
  });

  it('80300007 (token invalid) removes the token; 503 is retried, nothing lost or doubled', async () => {
    const gone = await setup('gone');
    hw.invalidate(gone.token);
    const m = await s.sendAs(gone.doc.id, gone.conv, 'to an uninstalled app');
    await settled();
    assert.deepEqual(pushesOf(m.id), []);
    assert.equal((await gone.client.devices.list())[0]!.push_token, null);
    assert.equal(hw.refused.filter((r) => r.token === gone.token).length, 1);

    const down = await setup('down');
    hw.failNext(3);
    const sent = [await s.sendAs(down.doc.id, down.conv, 'outage 1'), await s.sendAs(down.doc.id, down.conv, 'outage 2')];
    await settled();
    for (const x of sent) assert.equal(pushesOf(x.id).length, 1);
    assert.equal(hw.refused.filter((r) => r.code === '503').length, 3);
    assert.deepEqual(hw.rejected, []);
  });
});
