/**
 * WeChat template messages (seed 000), end to end: a real server with an Official Account's
 * credentials, a tenant that enables the channel and sets its template through the
 * management API, a patient whose openid the integrator sets over REST, and a local WeChat API
 * over HTTPS (`support/fake-wechat.ts`) that checks the AppID and AppSecret, the
 * access_token it issued, the follower, the template id and keywords and their lengths.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CarelineClient } from '@careline/sdk';
import { PUSH_JOB } from '../../src/push/planner.ts';
import { WECHAT_JOB, wechatTime } from '../../src/push/wechat.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { eventually } from '../rest/helpers.ts';
import { startFakeWechat, type FakeWechat } from './support/fake-wechat.ts';

const APP_ID = 'wx8f3a9c2d1e0b4a7c';
const APP_SECRET = '5c1e0d3b2a4f6e8d7c9b0a1f2e3d4c5b';
const TEMPLATE = 'Kx9fZq1-AbCdEfGhIjKlMnOpQrStUvWxYz012345678';
const SECRET = 'HbA1c 11.2%: insulin dose doubled';
const NAME = 'Olusegun Bergström';

let n = 0;
const openid = () => `oUpF8uMuAJO_M2pxb1Q9zNjW${String(++n).padStart(4, '0')}`;

describe('WeChat template messages to patients without a live connection', () => {
  let dir: string;
  let wx: FakeWechat;
  let s: TestServer;
  const template = {
    template_id: TEMPLATE, url: 'https://care.example.org/c/{conversation_id}?m={message_id}',
    data: { thing1: '{title}', time2: '{time}', thing3: '{body}' },
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-wechat-'));
    wx = await startFakeWechat({ appId: APP_ID, appSecret: APP_SECRET, templateId: TEMPLATE, keywords: ['thing1', 'time2', 'thing3'] });
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, wx.ca);
    s = await startTestServer({ config: { push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, wechat: { appId: APP_ID, appSecret: APP_SECRET, url: wx.url, caFile } } } });
    const r = await s.call('PUT', '/api/v2/management/push/settings', { apiKey: s.apiKey, body: { wechat: { enabled: true, templates: { message: template } } } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });
  after(async () => {
    await s?.stop();
    await wx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function settled() {
    await s.server.push.planner.drain();
    await eventually(async () => {
      const st = (await s.server.core.storage.jobs.stats()).filter((x) => x.kind === PUSH_JOB || x.kind === WECHAT_JOB);
      return st.every((x) => x.queued + x.leased === 0);
    }, 15_000);
  }
  async function setup(tag: string) {
    const pat = await s.user(`pat-${tag}`, 'patient', NAME);
    const doc = await s.user(`doc-${tag}`, 'doctor', 'Dr. Ilse Marchetti');
    const conv = await s.conversation({ participants: [pat.id, doc.id] });
    const oid = openid();
    wx.follow(oid);
    const r = await s.call('PUT', `/api/v2/management/users/${pat.id}/wechat`, { apiKey: s.apiKey, body: { openid: oid } });
    assert.deepEqual(r.body, { user_id: pat.id, openid: oid });
    return { pat, doc, conv, openid: oid };
  }
  const messagesOf = (id: string) => wx.delivered.filter((d) => d.body.client_msg_id === id);

  it('one template message per message, one cached access_token: the template filled with generic text and ids', async () => {
    const { doc, conv, openid: oid } = await setup('one');
    const sent = [await s.sendAs(doc.id, conv, `${SECRET} (1)`), await s.sendAs(doc.id, conv, `${SECRET} (2)`)];
    await settled();
    for (const m of sent) {
      const got = messagesOf(m.id);
      assert.equal(got.length, 1);
      const b = got[0]!.body;
      assert.equal(b.touser, oid);
      assert.equal(b.template_id, TEMPLATE);
      assert.equal(b.url, `https://care.example.org/c/${encodeURIComponent(conv)}?m=${encodeURIComponent(m.id)}`);
      const stored = (await s.server.core.storage.messages.getById(s.tenantId, conv, m.id))!;
      assert.deepEqual(b.data, {
        thing1: { value: 'New message from yo…' }, // WeChat's 20 characters for a thing keyword
        time2: { value: wechatTime(stored.created_at, 'Asia/Shanghai') },
        thing3: { value: 'Open the app to rea…' },
      });
      for (const secret of ['HbA1c', 'insulin', NAME, 'Olusegun', 'Marchetti']) assert.ok(!got[0]!.raw.includes(secret), `no "${secret}" in the message`);
    }
    assert.equal(wx.tokenFetches, 1, 'the access_token is cached');
    assert.deepEqual(wx.rejected, []);
  });

  it('an expired access_token (42001) is fetched again and the message sent once', async () => {
    const { doc, conv } = await setup('expired');
    wx.expireTokens();
    const before = wx.tokenFetches;
    const m = await s.sendAs(doc.id, conv, 'after expiry');
    await settled();
    assert.equal(messagesOf(m.id).length, 1);
    assert.equal(wx.tokenFetches, before + 1);
    assert.ok(wx.refused.some((r) => r.errcode === 42001));
    assert.deepEqual(wx.rejected, []);
  });

  it('a patient with a live connection gets none; nor one who muted the conversation or switched push off', async () => {
    const { pat, doc, conv, openid: oid } = await setup('online');
    const c = new CarelineClient({ url: s.url, token: pat.token });
    await c.connect();
    try {
      const m = await s.sendAs(doc.id, conv, 'while online');
      await settled();
      assert.deepEqual(messagesOf(m.id), []);
    } finally {
      await c.close();
    }
    await eventually(async () => !(await s.server.core.presence.status(s.tenantId, pat.id)).online, 5000);
    const api = new CarelineClient({ url: s.url, token: pat.token });
    await api.devices.mute(conv);
    const muted = await s.sendAs(doc.id, conv, 'muted');
    await settled();
    assert.deepEqual(messagesOf(muted.id), []);
    await api.devices.unmute(conv);
    await api.devices.updateSettings({ push_enabled: false });
    const off = await s.sendAs(doc.id, conv, 'push off');
    await settled();
    assert.deepEqual(messagesOf(off.id), []);
    assert.ok(!wx.delivered.some((d) => d.body.touser === oid));
  });

  it('40003 (invalid openid) clears the openid; system busy (-1) is retried, nothing lost or doubled', async () => {
    const gone = await setup('gone');
    const stranger = openid();
    await s.call('PUT', `/api/v2/management/users/${gone.pat.id}/wechat`, { apiKey: s.apiKey, body: { openid: stranger } });
    const m = await s.sendAs(gone.doc.id, gone.conv, 'to an unknown openid');
    await settled();
    assert.deepEqual(messagesOf(m.id), []);
    assert.deepEqual((await s.call('GET', `/api/v2/management/users/${gone.pat.id}/wechat`, { apiKey: s.apiKey })).body, { user_id: gone.pat.id, openid: null });

    const down = await setup('down');
    wx.failNext(3);
    const sent = [await s.sendAs(down.doc.id, down.conv, 'outage 1'), await s.sendAs(down.doc.id, down.conv, 'outage 2')];
    await settled();
    for (const x of sent) assert.equal(messagesOf(x.id).length, 1);
    assert.equal(wx.refused.filter((r) => r.errcode === -1).length, 3);
    assert.deepEqual(wx.rejected, []);
  });

  it('bad input gets coded errors', async () => {
    const pat = await s.user('pat-bad', 'patient');
    const put = (body: unknown) => s.call('PUT', '/api/v2/management/push/settings', { apiKey: s.apiKey, body });
    const bad = [
      await put({ wechat: { enabled: true } }),
      await put({ wechat: { enabled: true, templates: { message: { ...template, data: { thing1: '{patient_name}' } } } } }),
      await put({ wechat: { enabled: true, templates: { message: { ...template, template_id: 'no spaces allowed' } } } }),
      await put({ preview_conversation_types: [2, 99] }),
    ];
    for (const r of bad) assert.equal(r.body.code, 'push.settings_invalid', JSON.stringify(r.body));
    assert.equal((await s.call('PUT', `/api/v2/management/users/${pat.id}/wechat`, { apiKey: s.apiKey, body: { openid: 'has space' } })).body.code, 'push.openid_invalid');
    assert.equal((await s.call('PUT', '/api/v2/management/users/nobody/wechat', { apiKey: s.apiKey, body: { openid: openid() } })).body.code, 'user.not_found');
    const asPatient = await s.call('PUT', `/api/v2/management/users/${pat.id}/wechat`, { token: pat.token, body: { openid: openid() } });
    assert.equal(asPatient.status, 403);
    assert.equal((await s.call('GET', '/api/v2/management/push/settings', { token: pat.token })).status, 403);
  });
});
