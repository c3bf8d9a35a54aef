/**
 * The newer channels across nodes: two servers on one PostgreSQL database and one Redis, both
 * configured for Web Push, Huawei, Xiaomi and WeChat against their local verifying servers.
 * The tenant's push settings are changed through one node and the patient's openid through
 * the other (both stored in PostgreSQL); messages committed on either node reach each channel
 * exactly once, whichever node's runner sends them; previews turned on through one node show
 * in pushes planned and sent by the other.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import webpush from 'web-push';
import { CarelineClient, MemoryStorage } from '@careline/sdk';
import { PUSH_JOB, WECHAT_JOB } from '../../src/push/planner.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startPostgres, startRedis, type Service } from '../support/services.ts';
import { eventually } from '../rest/helpers.ts';
import { startFakeWebPush, type FakeWebPush } from './support/fake-webpush.ts';
import { startFakeHuawei, type FakeHuawei } from './support/fake-huawei.ts';
import { startFakeXiaomi, type FakeXiaomi } from './support/fake-xiaomi.ts';
import { startFakeWechat, type FakeWechat } from './support/fake-wechat.ts';

const WX_TEMPLATE = 'Tpl-cluster-0001';
const OPENID = 'oClusterPatientOpenid00000001';

describe('Web Push, Huawei, Xiaomi and WeChat across nodes (PostgreSQL, Redis)', { timeout: 120_000 }, () => {
  let dir: string;
  let postgres: Service;
  let redis: Service;
  let wp: FakeWebPush;
  let hw: FakeHuawei;
  let mi: FakeXiaomi;
  let wx: FakeWechat;
  let a: TestServer;
  let b: TestServer;
  let sub: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-vendors-cluster-'));
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const vapid = webpush.generateVAPIDKeys();
    [wp, hw, mi, wx, postgres, redis] = await Promise.all([
      startFakeWebPush(),
      startFakeHuawei({ appId: '1045', appSecret: 'hw-secret' }),
      startFakeXiaomi({ appSecret: 'mi-secret', packageName: 'org.careline.app' }),
      startFakeWechat({ appId: 'wx0123456789abcdef', appSecret: 'wx-secret', templateId: WX_TEMPLATE, keywords: ['thing1', 'thing2'] }),
      startPostgres(),
      startRedis(),
    ]);
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE careline_vendors_cluster');
    await admin.end();
    const url = new URL(postgres.url);
    url.pathname = '/careline_vendors_cluster';
    const push = {
      pollMs: 20, retryBaseMs: 20, retryMaxMs: 200,
      webpush: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: 'mailto:ops@careline.test', caFile: file('wp.pem', wp.ca) },
      huawei: { appId: '1045', appSecret: 'hw-secret', url: hw.url, tokenUrl: hw.tokenUrl, caFile: file('hw.pem', hw.ca) },
      xiaomi: { appSecret: 'mi-secret', packageName: 'org.careline.app', url: mi.url, caFile: file('mi.pem', mi.ca) },
      wechat: { appId: 'wx0123456789abcdef', appSecret: 'wx-secret', url: wx.url, caFile: file('wx.pem', wx.ca) },
    };
    const config = (nodeId: string) => ({
      storage: { driver: 'postgres', postgresUrl: url.toString() }, bus: { driver: 'redis', redisUrl: redis.url }, presence: { driver: 'redis' },
      cluster: { nodeId }, push,
    });
    a = await startTestServer({ config: config('node-a') });
    b = await startTestServer({ config: config('node-b') });
    sub = JSON.stringify(wp.subscribe(vapid.publicKey));
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await Promise.all([wp?.stop(), hw?.stop(), mi?.stop(), wx?.stop()]);
    await redis?.stop();
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function settled() {
    await a.server.push.planner.drain();
    await b.server.push.planner.drain();
    await eventually(async () => {
      const st = (await a.server.core.storage.jobs.stats()).filter((x) => x.kind === PUSH_JOB || x.kind === WECHAT_JOB);
      return st.every((x) => x.queued + x.leased === 0);
    }, 20_000);
  }

  it('settings on one node, openid on the other; each message reaches each channel once; previews set on B show in pushes from A', async () => {
    const pat = await a.user('pat-c', 'patient', 'Zhang Wei-Lin');
    const doc = await a.user('doc-c', 'doctor', 'Dr. Margarethe Okonkwo');
    const conv = await a.conversation({ participants: [pat.id, doc.id] });
    const put = await a.call('PUT', '/api/v2/management/push/settings', {
      apiKey: a.apiKey, body: { wechat: { enabled: true, templates: { message: { template_id: WX_TEMPLATE, data: { thing1: '{title}', thing2: '{body}' } } } } },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    wx.follow(OPENID);
    const oid = await b.call('PUT', `/api/v2/management/users/${pat.id}/wechat`, { apiKey: a.apiKey, body: { openid: OPENID } });
    assert.equal(oid.status, 200, JSON.stringify(oid.body));
    const installs: [number, 'webpush' | 'huawei' | 'xiaomi', string][] = [
      [3, 'webpush', sub], [2, 'huawei', `IQAAAACy0k${'C'.repeat(60)}`], [2, 'xiaomi', `${'Cl'.repeat(30)}==`],
    ];
    for (const [os_type, vendor, push_token] of installs) {
      await new CarelineClient({ url: b.url, token: pat.token, storage: new MemoryStorage() }).devices.register({ os_type: os_type as 2, vendor, push_token });
    }
    const sendOnB = async (text: string) => {
      const r = await b.call('POST', `/api/v2/sessions/${conv}/messages`, { apiKey: a.apiKey, body: { type: 1, content: { text }, sender_id: doc.id } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return { id: r.body.message.id as string, seq: r.body.message.seq as number };
    };
    const sent = [];
    for (let i = 0; i < 4; i++) sent.push(i % 2 ? await sendOnB(`diagnosis ${i}`) : await a.sendAs(doc.id, conv, `diagnosis ${i}`));
    await settled();
    const per = (id: string) => ({
      webpush: wp.delivered.filter((d) => JSON.parse(d.text).data.message_id === id),
      huawei: hw.delivered.filter((d) => JSON.parse(d.message.data).message_id === id),
      xiaomi: mi.delivered.filter((d) => JSON.parse(d.form.payload!).message_id === id),
      wechat: wx.delivered.filter((d) => d.body.client_msg_id === id),
    });
    for (const m of sent) {
      for (const [channel, got] of Object.entries(per(m.id))) {
        assert.equal(got.length, 1, `${channel}: one for ${m.id}`);
        assert.ok(!JSON.stringify(got[0]).includes('diagnosis'), `${channel}: no text without previews`);
      }
    }

    const prev = await b.call('PUT', '/api/v2/management/push/settings', { apiKey: a.apiKey, body: { preview_conversation_types: [2] } });
    assert.equal(prev.status, 200, JSON.stringify(prev.body));
    const shown = await a.sendAs(doc.id, conv, 'take 5 mg tonight');
    await settled();
    for (const [channel, got] of Object.entries(per(shown.id))) {
      assert.equal(got.length, 1, `${channel}: one`);
      assert.ok(JSON.stringify(got[0]).includes('take 5 mg'), `${channel}: the preview`);
    }
    for (const fake of [wp, hw, mi, wx]) assert.deepEqual(fake.rejected, []);
  });
});
