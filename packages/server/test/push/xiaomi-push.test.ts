/**
 * Offline push to Xiaomi MiPush, end to end: a real server, an Android install with a MiPush
 * regId registered through the SDK, and a local MiPush server API over HTTPS
 * (`support/fake-xiaomi.ts`) that checks the `key=<AppSecret>` authorization, the package
 * name and the form of a notification message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { XiaomiSender, xiaomiNotifyId } from '../../src/push/xiaomi.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { PATIENT_NAME, patientAndDoctor, pushSettled } from './support/harness.ts';
import { startFakeXiaomi, type FakeXiaomi } from './support/fake-xiaomi.ts';

const APP_SECRET = 'c2VjcmV0LW9mLXRoZS1jYXJlbGluZS1hcHA=';
const PACKAGE = 'org.careline.app';
const SECRET = 'HbA1c 11.2%: insulin dose doubled';
const NAME = PATIENT_NAME;

let n = 0;
const regId = () => `${'Rk9vQmFy'.repeat(6)}${++n}/+=`;

describe('offline push to Xiaomi MiPush', () => {
  let dir: string;
  let mi: FakeXiaomi;
  let s: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-xiaomi-'));
    mi = await startFakeXiaomi({ appSecret: APP_SECRET, packageName: PACKAGE });
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, mi.ca);
    s = await startTestServer({
      config: { push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, xiaomi: { appSecret: APP_SECRET, packageName: PACKAGE, url: mi.url, channelId: 'messages', caFile } } },
    });
  });
  after(async () => {
    await s?.stop();
    await mi?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const settled = () => pushSettled(s);
  async function setup(tag: string) {
    const { pat, doc, conv, client: c } = await patientAndDoctor(s, tag);
    const token = regId();
    await c.devices.register({ os_type: 2, vendor: 'xiaomi', push_token: token, device_info: { model: 'Xiaomi 14' } });
    return { pat, doc, conv, token, client: c };
  }
  const pushesOf = (id: string) => mi.delivered.filter((d) => JSON.parse(d.form.payload!).message_id === id);

  it('one notification message per message: ids in the payload, the generic title and description', async () => {
    const { doc, conv, token } = await setup('one');
    const sent = [await s.sendAs(doc.id, conv, `${SECRET} (1)`), await s.sendAs(doc.id, conv, `${SECRET} (2)`)];
    await settled();
    for (const m of sent) {
      const got = pushesOf(m.id);
      assert.equal(got.length, 1);
      const f = got[0]!.form;
      assert.equal(f.registration_id, token);
      assert.equal(f.restricted_package_name, PACKAGE);
      assert.deepEqual(JSON.parse(f.payload!), { tenant_id: s.tenantId, conversation_id: conv, message_id: m.id, seq: m.seq });
      assert.equal(f.title, 'New message from your care team');
      assert.equal(f.description, 'Open the app to read it.');
      assert.equal(f.pass_through, '0');
      assert.equal(f.notify_type, '-1');
      assert.equal(f.notify_id, String(xiaomiNotifyId(conv)));
      assert.equal(f['extra.channel_id'], 'messages');
      for (const secret of ['HbA1c', 'insulin', NAME, 'Olusegun', 'Marchetti']) assert.ok(!decodeURIComponent(got[0]!.raw).includes(secret), `no "${secret}" in the push`);
    }
    assert.deepEqual(mi.rejected, []);
  });

  it('the local MiPush checks the AppSecret: a wrong one is refused (21301) and counted as failed, not retried', async () => {
    const sender = new XiaomiSender({ appSecret: 'wrong', packageName: PACKAGE, url: mi.url, body: 'b', ca: mi.ca });
    try {
      const out = await sender.send(regId(), { collapse_id: 'm', title: 't', badge: 0, quiet: false, data: { tenant_id: 't', conversation_id: 'c', message_id: 'm', seq: 1 } });
      assert.deepEqual(out, { kind: 'failed', reason: '21301' });
      assert.deepEqual(mi.rejected.splice(0).map((r) => r.code), [21301]);
    } finally {
      await sender.close();
    }
  });

  it('a regId in bad_regids is removed; 503 is retried, nothing lost or doubled', async () => {
    const gone = await setup('gone');
    mi.invalidate(gone.token);
    const m = await s.sendAs(gone.doc.id, gone.conv, 'to an uninstalled app');
    await settled();
    assert.deepEqual(pushesOf(m.id), []);
    assert.equal((await gone.client.devices.list())[0]!.push_token, null);
    assert.equal(mi.refused.filter((r) => r.token === gone.token).length, 1);

    const down = await setup('down');
    mi.failNext(3);
    const sent = [await s.sendAs(down.doc.id, down.conv, 'outage 1'), await s.sendAs(down.doc.id, down.conv, 'outage 2')];
    await settled();
    for (const x of sent) assert.equal(pushesOf(x.id).length, 1);
    assert.equal(mi.refused.filter((r) => r.status === 503).length, 3);
    assert.deepEqual(mi.rejected, []);
  });
});
