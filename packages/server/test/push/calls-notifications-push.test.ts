/**
 * Pushes beyond messages, end to end against the local APNs (HTTP/2 + TLS, verifying the JWT,
 * headers and body) and FCM (OAuth2 + messages:send) servers: a call invite rings a callee
 * without a live connection by a VoIP push (APNs `apns-push-type: voip` to the install's
 * PushKit token, topic `<bundle>.voip`) and a high-priority FCM data message; a missed call
 * becomes an unread item and an `S2C_MISSED_CALL` notification, itself pushed; a seed 001
 * notification is pushed with ids only, never its title or body; a topic start reaches the
 * patient's phone. No name, title text or diagnosis appears in any push.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CarelineClient, MemoryStorage } from '@careline/sdk';
import { startTestServer, type TestServer } from '../support/server.ts';
import { eventually, ok } from '../rest/helpers.ts';
import { startFakeApns, type FakeApns } from './support/fake-apns.ts';
import { startFakeFcm, type FakeFcm } from './support/fake-fcm.ts';

const KEY_ID = 'KEY123ABCD';
const TEAM_ID = 'TEAM123456';
const TOPIC = 'org.careline.patient';
const PROJECT = 'careline-test';
const EMAIL = 'push@careline-test.iam.gserviceaccount.com';
const PATIENT_NAME = 'Zhang Wei-Lin';
const DOCTOR_NAME = 'Dr. Margarethe Okonkwo';
const SECRET = 'Your HIV test result is ready';

describe('pushes for call invites, missed calls, notifications and topic events', { timeout: 60_000 }, () => {
  let dir: string;
  let apns: FakeApns;
  let fcm: FakeFcm;
  let s: TestServer;
  let n = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-voip-'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    apns = await startFakeApns({ publicKey: ec.publicKey, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC });
    fcm = await startFakeFcm({ publicKey: rsa.publicKey, clientEmail: EMAIL, projectId: PROJECT });
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
          fcm: {
            url: fcm.url, caFile: file('fcm.pem', fcm.ca),
            serviceAccountFile: file('sa.json', JSON.stringify({
              type: 'service_account', project_id: PROJECT, client_email: EMAIL, private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), token_uri: fcm.tokenUrl,
            })),
          },
        },
        calls: { ringTimeoutMs: 1500, heartbeatTimeoutMs: 5000, pollMs: 50 },
      },
    });
  });
  after(async () => {
    await s?.stop();
    await Promise.all([apns?.stop(), fcm?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A patient with an iPhone (push and VoIP tokens) and an Android phone, and a doctor, in a conversation. */
  async function setup(tag: string) {
    const pat = await s.user(`pat-${tag}`, 'patient', PATIENT_NAME);
    const doc = await s.user(`doc-${tag}`, 'doctor', DOCTOR_NAME);
    const conv = await s.conversation({ participants: [pat.id, doc.id], name: `${PATIENT_NAME} HIV clinic` });
    const k = ++n;
    const ios = { push: `a${k}`.padEnd(64, '1'), voip: `b${k}`.padEnd(64, '2') };
    const android = `c${k}Xy:APA91b${'Q'.repeat(140)}`;
    const sdk = () => new CarelineClient({ url: s.url, token: pat.token, storage: new MemoryStorage() });
    await sdk().devices.register({ os_type: 1, vendor: 'apns', push_token: ios.push, voip_token: ios.voip });
    await sdk().devices.register({ os_type: 2, vendor: 'fcm', push_token: android });
    return { pat, doc, conv, ios, android };
  }
  const noPhi = (raw: string) => {
    for (const x of [PATIENT_NAME, DOCTOR_NAME, SECRET, 'HIV']) assert.ok(!raw.includes(x), `no "${x}" in a push: ${raw}`);
  };

  it('a call invite rings the offline callee by VoIP push (APNs) and a high-priority data message (FCM); a missed call is unread and a notification, pushed', async () => {
    const { pat, doc, conv, ios, android } = await setup('call');
    const call = ok(await s.call('POST', '/api/v2/calls', { token: doc.token, body: { conversation_id: conv, av_type: 'video' } })).call;

    await eventually(async () => apns.delivered.some((d) => d.token === ios.voip) && fcm.delivered.some((d) => d.message.token === android && d.message.data?.subject === 'call'), 10_000);
    const voip = apns.delivered.find((d) => d.token === ios.voip)!;
    assert.equal(voip.headers['apns-push-type'], 'voip');
    assert.equal(voip.headers['apns-topic'], `${TOPIC}.voip`);
    assert.equal(voip.headers['apns-priority'], '10');
    const expires = Number(voip.headers['apns-expiration']);
    assert.ok(expires >= Math.floor(call.created_at / 1000) && expires <= Math.ceil(call.created_at / 1000) + 3, 'a VoIP push expires with the ring time');
    assert.deepEqual(voip.body.careline, { tenant_id: s.tenantId, subject: 'call', call_id: call.id, conversation_id: conv, av_type: 'video', caller_id: doc.id });
    assert.deepEqual(voip.body.aps, {});
    assert.ok(!apns.delivered.some((d) => d.token === ios.push && d.body.careline?.subject === 'call'), 'the call goes to the VoIP token, not as an alert');
    const data = fcm.delivered.find((d) => d.message.token === android && d.message.data?.subject === 'call')!.message;
    assert.equal(data.notification, undefined, 'a data-only message');
    assert.equal(data.android.priority, 'HIGH');
    assert.match(data.android.ttl, /^[12]s$/);
    assert.equal(data.data.call_id, call.id);
    for (const d of [...apns.delivered, ...fcm.delivered.map((x) => ({ raw: x.raw }))]) noPhi(d.raw);

    // Nobody answers: the ring times out; the record is unread, and the callee has a missed-call notification.
    await eventually(async () => ok(await s.call('GET', `/api/v2/calls/${call.id}`, { token: doc.token })).call.state === 'ended', 10_000);
    const unread = ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, { token: pat.token }));
    assert.equal(unread.count, 1);
    assert.equal(unread.messages[0].type, 1002);
    await eventually(async () => ok(await s.call('GET', '/api/v2/notifications', { token: pat.token })).notifications.some((x: any) => x.kind === 'S2C_MISSED_CALL'), 10_000);
    const inbox = ok(await s.call('GET', '/api/v2/notifications', { token: pat.token })).notifications.find((x: any) => x.kind === 'S2C_MISSED_CALL');
    assert.equal(inbox.data.call_id, call.id);
    assert.equal(inbox.data.caller_id, doc.id);
    // The missed call's notification is pushed (ids only), to both installs; the record itself is not pushed a second time.
    await eventually(async () => apns.delivered.some((d) => d.token === ios.push && d.body.careline?.notification_id === inbox.id)
      && fcm.delivered.some((d) => d.message.token === android && d.message.data?.notification_id === inbox.id), 10_000);
    const rec = unread.messages[0].id;
    assert.ok(!apns.delivered.some((d) => d.body.careline?.message_id === rec), 'no push for the call record itself');
    const statuses = ok(await s.call('GET', `/api/v2/management/push/deliveries/${call.id}`, { apiKey: s.apiKey })).deliveries;
    assert.deepEqual(statuses.map((d: any) => [d.user_id, d.channel, d.status]).sort(), [[pat.id, 'apns', 'sent'], [pat.id, 'fcm', 'sent']]);
    assert.equal(apns.rejected.length, 0, JSON.stringify(apns.rejected));
    assert.equal(fcm.rejected.length, 0, JSON.stringify(fcm.rejected));
  });

  it('a seed 001 notification is pushed with its id and kind only; a topic start reaches the patient\'s phone', async () => {
    const { pat, doc, ios, android } = await setup('note');
    const sent = ok(await s.call('POST', '/api/v2/management/notifications', {
      apiKey: s.apiKey, body: { kind: 'S2C_SYSTEM_PUSH', title: SECRET, body: `${PATIENT_NAME}: ${SECRET}`, target: { user: pat.id } },
    }));
    const id = sent.notification.id;
    await eventually(async () => apns.delivered.some((d) => d.body.careline?.notification_id === id) && fcm.delivered.some((d) => d.message.data?.notification_id === id), 10_000);
    const a = apns.delivered.find((d) => d.body.careline?.notification_id === id)!;
    assert.equal(a.token, ios.push);
    assert.equal(a.headers['apns-push-type'], 'alert');
    assert.equal(a.body.careline.kind, 'S2C_SYSTEM_PUSH');
    assert.equal(a.body.aps.alert.body, undefined);
    assert.equal(fcm.delivered.find((d) => d.message.data?.notification_id === id)!.message.token, android);
    noPhi(a.raw);
    noPhi(fcm.delivered.find((d) => d.message.data?.notification_id === id)!.raw);
    void doc;
  });
});
