/**
 * The escalation ladder end to end: a tenant policy (WeChat template after 1 s, SMS after 2 s)
 * over a real server with the local APNs, WeChat and SMS gateway (Twilio API) servers, each
 * verifying what it receives. An unread message climbs every rung and each channel's status is
 * readable over REST (`escalated` with the next channel, then `sent`); a message read in time
 * stops the ladder (`dropped`, `read`); a user's own policy replaces the tenant's; no SMS
 * carries a name or the message text. Bad policies and phone numbers get coded errors.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CarelineClient, MemoryStorage } from '@careline/sdk';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, eventually, ok } from '../rest/helpers.ts';
import { startFakeApns, type FakeApns } from './support/fake-apns.ts';
import { startFakeWechat, type FakeWechat } from './support/fake-wechat.ts';
import { startFakeSms, type FakeSms } from './support/fake-sms.ts';

const KEY_ID = 'KEY123ABCD';
const TEAM_ID = 'TEAM123456';
const TOPIC = 'org.careline.patient';
const WX_TEMPLATE = 'Tpl-escalate-0001';
const SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH = 'sms-auth-token';
const PATIENT_NAME = 'Olusegun Bergström';
const SECRET = 'PSA 14 ng/mL: biopsy needed';

describe('escalation ladder: app push, then WeChat, then SMS', { timeout: 90_000 }, () => {
  let dir: string;
  let apns: FakeApns;
  let wx: FakeWechat;
  let sms: FakeSms;
  let s: TestServer;
  let k = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-escalation-'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    [apns, wx, sms] = await Promise.all([
      startFakeApns({ publicKey: ec.publicKey, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC }),
      startFakeWechat({ appId: 'wx0123456789abcdef', appSecret: 'wx-secret', templateId: WX_TEMPLATE, keywords: ['thing1', 'thing2'] }),
      startFakeSms({ accountSid: SID, authToken: AUTH }),
    ]);
    const file = (name: string, text: string | Buffer) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    s = await startTestServer({
      config: {
        push: {
          pollMs: 20, retryBaseMs: 20, retryMaxMs: 200,
          apns: { url: apns.url, keyFile: file('key.p8', ec.privateKey.export({ type: 'pkcs8', format: 'pem' })), keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC, caFile: file('apns.pem', apns.ca) },
          wechat: { appId: 'wx0123456789abcdef', appSecret: 'wx-secret', url: wx.url, caFile: file('wx.pem', wx.ca) },
        },
        sms: { url: sms.url, accountSid: SID, authToken: AUTH, from: '+8613800000000' },
      },
    });
    const put = await s.call('PUT', '/api/v2/management/push/settings', {
      apiKey: s.apiKey, body: { wechat: { enabled: true, templates: { message: { template_id: WX_TEMPLATE, data: { thing1: '{title}', thing2: '{body}' } } } } },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    ok(await s.call('PUT', '/api/v2/management/push/escalation', {
      apiKey: s.apiKey, body: { policy: { enabled: true, conversation_types: null, steps: [{ channel: 'wechat', after_seconds: 1 }, { channel: 'sms', after_seconds: 2 }] } },
    }));
  });
  after(async () => {
    await s?.stop();
    await Promise.all([apns?.stop(), wx?.stop(), sms?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function patient(tag: string) {
    const pat = await s.user(`pat-${tag}`, 'patient', PATIENT_NAME);
    const doc = await s.user(`doc-${tag}`, 'doctor', 'Dr. Ilse Marchetti');
    const conv = await s.conversation({ participants: [pat.id, doc.id] });
    const token = `e${++k}`.padEnd(64, '7');
    await new CarelineClient({ url: s.url, token: pat.token, storage: new MemoryStorage() }).devices.register({ os_type: 1, vendor: 'apns', push_token: token });
    const openid = `oEscalate${k}`.padEnd(28, 'x');
    wx.follow(openid);
    ok(await s.call('PUT', `/api/v2/management/users/${pat.id}/wechat`, { apiKey: s.apiKey, body: { openid } }));
    const phone = `+86138000${String(k).padStart(5, '0')}`;
    ok(await s.call('PUT', `/api/v2/management/users/${pat.id}/phone`, { apiKey: s.apiKey, body: { phone } }));
    return { pat, doc, conv, token, openid, phone };
  }
  const statuses = async (id: string) =>
    Object.fromEntries(ok(await s.call('GET', `/api/v2/management/push/deliveries/${id}`, { apiKey: s.apiKey })).deliveries.map((d: any) => [d.channel, [d.status, d.detail]]));

  it('an unread message climbs every rung; each channel\'s status is readable', async () => {
    const { doc, conv, token, openid, phone } = await patient('climb');
    const m = await s.sendAs(doc.id, conv, SECRET);
    await eventually(async () => apns.delivered.some((d) => d.token === token && d.body.careline.message_id === m.id), 10_000);
    // WeChat waits for its rung (not sent with the app push).
    assert.ok(!wx.delivered.some((d) => d.body.touser === openid));
    await eventually(async () => wx.delivered.some((d) => d.body.touser === openid && d.body.client_msg_id === m.id), 10_000);
    await eventually(async () => sms.received.some((x) => x.to === phone), 10_000);
    const text = sms.received.find((x) => x.to === phone)!;
    assert.equal(text.from, '+8613800000000');
    for (const secret of [PATIENT_NAME, SECRET, 'PSA']) assert.ok(!text.body.includes(secret), `no "${secret}" in the SMS`);
    await eventually(async () => (await statuses(m.id)).sms?.[0] === 'sent', 10_000);
    const st = await statuses(m.id);
    assert.equal(st.apns[0], 'escalated', 'the app push was escalated (to WeChat, or to SMS if it went out after the WeChat rung)');
    assert.deepEqual(st.wechat, ['escalated', 'sms']);
    assert.equal(st.sms[0], 'sent');
    assert.equal(sms.received.filter((x) => x.to === phone).length, 1, 'one SMS');
    assert.deepEqual(sms.rejected, []);
  });

  it('reading the message stops the ladder', async () => {
    const { pat, doc, conv, token, openid, phone } = await patient('read');
    const m = await s.sendAs(doc.id, conv, SECRET);
    await eventually(async () => apns.delivered.some((d) => d.token === token && d.body.careline.message_id === m.id), 10_000);
    ok(await s.call('POST', `/api/v2/sessions/${conv}/read`, { token: pat.token, body: {} }));
    await eventually(async () => (await statuses(m.id)).wechat?.[0] === 'dropped', 10_000);
    assert.deepEqual((await statuses(m.id)).wechat, ['dropped', 'read']);
    assert.equal((await statuses(m.id)).apns[0], 'sent');
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(!wx.delivered.some((d) => d.body.touser === openid));
    assert.ok(!sms.received.some((x) => x.to === phone));
  });

  it('a user\'s own policy replaces the tenant\'s; bad policies and phones are coded errors', async () => {
    const { pat, doc, conv, openid, phone } = await patient('own');
    ok(await s.call('PUT', `/api/v2/management/users/${pat.id}/push/escalation`, {
      apiKey: s.apiKey, body: { policy: { enabled: true, conversation_types: null, steps: [{ channel: 'sms', after_seconds: 1 }] } },
    }));
    const m = await s.sendAs(doc.id, conv, SECRET);
    await eventually(async () => sms.received.some((x) => x.to === phone), 10_000);
    // Without a WeChat rung of their own, the template message goes with the app push (the tenant's channel), not after a wait.
    await eventually(async () => (await statuses(m.id)).sms?.[0] === 'sent', 10_000);
    assert.ok(wx.delivered.some((d) => d.body.touser === openid && d.body.client_msg_id === m.id));
    assert.equal((await statuses(m.id)).apns[0], 'escalated');
    const bad = [
      { enabled: true, steps: [] },
      { steps: [{ channel: 'fax', after_seconds: 5 }] },
      { steps: [{ channel: 'sms', after_seconds: 5 }, { channel: 'wechat', after_seconds: 2 }] },
      { steps: [{ channel: 'sms', after_seconds: 0 }] },
    ];
    for (const policy of bad) assertError(await s.call('PUT', '/api/v2/management/push/escalation', { apiKey: s.apiKey, body: { policy } }), 'push.escalation_invalid');
    assertError(await s.call('PUT', `/api/v2/management/users/${pat.id}/phone`, { apiKey: s.apiKey, body: { phone: '13800001111' } }), 'push.phone_invalid');
    assertError(await s.call('PUT', '/api/v2/management/push/escalation', { token: pat.token, body: { policy: null } }), 'auth.forbidden');
  });
});
