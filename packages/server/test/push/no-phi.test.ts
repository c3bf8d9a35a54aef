/**
 * No patient data in a push, on every channel at once: one server configured for APNs, FCM,
 * Web Push, Huawei, Xiaomi and WeChat, each against its local verifying server; a patient with
 * an install of each vendor and a WeChat openid. A doctor writes a diagnosis; every request
 * every local vendor received (Web Push decrypted) is searched for the message text, the
 * patient's and the doctor's names, the diagnosis and the conversation's name: none appear.
 * Then the tenant turns previews on for one-to-one conversations (type 2): pushes of that type
 * carry the message text, pushes of another type (4) still do not.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import webpush from 'web-push';
import { CarelineClient, MemoryStorage } from '@careline/sdk';
import { PUSH_JOB, WECHAT_JOB } from '../../src/push/planner.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { eventually } from '../rest/helpers.ts';
import { startFakeApns, type FakeApns } from './support/fake-apns.ts';
import { startFakeFcm, type FakeFcm } from './support/fake-fcm.ts';
import { startFakeWebPush, type FakeWebPush } from './support/fake-webpush.ts';
import { startFakeHuawei, type FakeHuawei } from './support/fake-huawei.ts';
import { startFakeXiaomi, type FakeXiaomi } from './support/fake-xiaomi.ts';
import { startFakeWechat, type FakeWechat } from './support/fake-wechat.ts';

const TEXT = 'Biopsy: malignant melanoma stage II, start pembrolizumab';
const PRIVATE = ['Biopsy', 'melanoma', 'pembrolizumab', 'Zhang Wei-Lin', 'Wei-Lin', 'Margarethe', 'Okonkwo', 'Oncology follow-up'];
const WX_TEMPLATE = 'Tpl-careline-message-0001';

describe('no patient data in any outgoing push unless the tenant turns previews on', () => {
  let dir: string;
  let s: TestServer;
  let apns: FakeApns;
  let fcm: FakeFcm;
  let wp: FakeWebPush;
  let hw: FakeHuawei;
  let mi: FakeXiaomi;
  let wx: FakeWechat;
  let pat: { id: string; token: string };
  let doc: { id: string; token: string };
  let p2p: string;
  let group: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-nophi-'));
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const vapid = webpush.generateVAPIDKeys();
    [apns, fcm, wp, hw, mi, wx] = await Promise.all([
      startFakeApns({ publicKey: ec.publicKey, keyId: 'KEY1234567', teamId: 'TEAM123456', topic: 'org.careline.app' }),
      startFakeFcm({ publicKey: rsa.publicKey, clientEmail: 'push@p.iam.gserviceaccount.com', projectId: 'p' }),
      startFakeWebPush(),
      startFakeHuawei({ appId: '1045', appSecret: 'hw-secret' }),
      startFakeXiaomi({ appSecret: 'mi-secret', packageName: 'org.careline.app' }),
      startFakeWechat({ appId: 'wx0123456789abcdef', appSecret: 'wx-secret', templateId: WX_TEMPLATE, keywords: ['thing1', 'thing2'] }),
    ]);
    const account = file('sa.json', JSON.stringify({
      project_id: 'p', client_email: 'push@p.iam.gserviceaccount.com', private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), token_uri: fcm.tokenUrl,
    }));
    s = await startTestServer({
      config: {
        push: {
          pollMs: 20, retryBaseMs: 20, retryMaxMs: 200,
          apns: { url: apns.url, keyFile: file('k.p8', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string), keyId: 'KEY1234567', teamId: 'TEAM123456', topic: 'org.careline.app', caFile: file('apns.pem', apns.ca) },
          fcm: { serviceAccountFile: account, url: fcm.url, caFile: file('fcm.pem', fcm.ca) },
          webpush: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: 'mailto:ops@careline.test', caFile: file('wp.pem', wp.ca) },
          huawei: { appId: '1045', appSecret: 'hw-secret', url: hw.url, tokenUrl: hw.tokenUrl, caFile: file('hw.pem', hw.ca) },
          xiaomi: { appSecret: 'mi-secret', packageName: 'org.careline.app', url: mi.url, caFile: file('mi.pem', mi.ca) },
          wechat: { appId: 'wx0123456789abcdef', appSecret: 'wx-secret', url: wx.url, caFile: file('wx.pem', wx.ca) },
        },
      },
    });
    pat = await s.user('pat', 'patient', 'Zhang Wei-Lin');
    doc = await s.user('doc', 'doctor', 'Dr. Margarethe Okonkwo');
    p2p = await s.conversation({ participants: [pat.id, doc.id], name: 'Oncology follow-up' });
    group = await s.conversation({ participants: [pat.id, doc.id], type: 4, name: 'Oncology follow-up' });
    const put = await s.call('PUT', '/api/v2/management/push/settings', {
      apiKey: s.apiKey, body: { wechat: { enabled: true, templates: { message: { template_id: WX_TEMPLATE, data: { thing1: '{title}', thing2: '{body}' } } } } },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    wx.follow('oPatientOpenid0000000000001');
    assert.equal((await s.call('PUT', `/api/v2/management/users/${pat.id}/wechat`, { apiKey: s.apiKey, body: { openid: 'oPatientOpenid0000000000001' } })).status, 200);
    const installs: [number, string, string][] = [
      [1, 'apns', 'ab'.repeat(32)],
      [2, 'fcm', `fcm:APA91b${'F'.repeat(60)}`],
      [3, 'webpush', JSON.stringify(wp.subscribe(vapid.publicKey))],
      [2, 'huawei', `IQAAAACy0k${'H'.repeat(60)}`],
      [2, 'xiaomi', `${'Mi'.repeat(30)}==`],
    ];
    for (const [os_type, vendor, push_token] of installs) {
      const c = new CarelineClient({ url: s.url, token: pat.token, storage: new MemoryStorage() });
      await c.devices.register({ os_type: os_type as 1, vendor: vendor as 'apns', push_token, device_info: { model: 'x' } });
    }
  });
  after(async () => {
    await s?.stop();
    await Promise.all([apns?.stop(), fcm?.stop(), wp?.stop(), hw?.stop(), mi?.stop(), wx?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function settled() {
    await s.server.push.planner.drain();
    await eventually(async () => {
      const st = (await s.server.core.storage.jobs.stats()).filter((x) => x.kind === PUSH_JOB || x.kind === WECHAT_JOB);
      return st.every((x) => x.queued + x.leased === 0);
    }, 20_000);
  }
  /** What each channel sent for the message, as text (Web Push: decrypted). */
  function outgoing(messageId: string): Record<string, string[]> {
    return {
      apns: apns.delivered.filter((d) => d.body.careline?.message_id === messageId).map((d) => d.raw + JSON.stringify(d.headers)),
      fcm: fcm.delivered.filter((d) => d.message.data?.message_id === messageId).map((d) => d.raw),
      webpush: wp.delivered.filter((d) => JSON.parse(d.text).data.message_id === messageId).map((d) => d.text + JSON.stringify(d.headers)),
      huawei: hw.delivered.filter((d) => JSON.parse(d.message.data).message_id === messageId).map((d) => d.raw),
      xiaomi: mi.delivered.filter((d) => JSON.parse(d.form.payload!).message_id === messageId).map((d) => decodeURIComponent(d.raw.replace(/\+/g, ' '))),
      wechat: wx.delivered.filter((d) => d.body.client_msg_id === messageId).map((d) => d.raw),
    };
  }

  it('by default: one push per channel, and none carries the text, a name, the diagnosis or the conversation name', async () => {
    const m = await s.sendAs(doc.id, p2p, TEXT);
    await settled();
    const out = outgoing(m.id);
    for (const [channel, sent] of Object.entries(out)) {
      assert.equal(sent.length, 1, `${channel}: one push`);
      for (const word of PRIVATE) assert.ok(!sent[0]!.includes(word), `${channel}: no "${word}" in ${sent[0]}`);
    }
  });

  it('previews on for conversation type 2: its pushes carry the text on every channel; type 4 still none', async () => {
    const r = await s.call('PUT', '/api/v2/management/push/settings', { apiKey: s.apiKey, body: { preview_conversation_types: [2] } });
    assert.deepEqual(r.body.settings.preview_conversation_types, [2]);
    const shown = await s.sendAs(doc.id, p2p, 'Please take 5 mg tonight');
    const hidden = await s.sendAs(doc.id, group, `${TEXT} (group)`);
    await settled();
    const withPreview = outgoing(shown.id);
    for (const [channel, sent] of Object.entries(withPreview)) {
      assert.equal(sent.length, 1, `${channel}: one push`);
      // WeChat's thing keywords hold 20 characters.
      const expected = channel === 'wechat' ? 'Please take 5 mg to…' : 'Please take 5 mg tonight';
      assert.ok(sent[0]!.includes(expected), `${channel}: the preview in ${sent[0]}`);
      for (const word of ['Zhang Wei-Lin', 'Okonkwo', 'Oncology follow-up']) assert.ok(!sent[0]!.includes(word), `${channel}: no "${word}" (names stay out even with previews)`);
    }
    for (const [channel, sent] of Object.entries(outgoing(hidden.id))) {
      assert.equal(sent.length, 1, `${channel}: one push`);
      for (const word of PRIVATE) assert.ok(!sent[0]!.includes(word), `${channel}: no "${word}" in a type-4 push`);
    }
    for (const fake of [apns, fcm, wp, hw, mi, wx]) assert.deepEqual(fake.rejected, []);
  });
});
