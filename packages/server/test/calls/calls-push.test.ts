/**
 * A missed call reaches a callee whose app is closed (a local APNs speaking HTTP/2): it rings
 * by push while it rings (an alert here: the install has no VoIP token), and once missed the
 * record counts as unread and a missed-call notification is pushed — PHI-free both times.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CarelineClient, MemoryStorage } from '@careline/sdk';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startFakeApns, type FakeApns } from '../push/support/fake-apns.ts';
import { eventually, ok } from '../rest/helpers.ts';

const KEY_ID = 'KEY123ABCD';
const TEAM_ID = 'TEAM123456';
const TOPIC = 'org.careline.patient';
const PATIENT_NAME = 'Zhang Wei-Lin';
const DOCTOR_NAME = 'Dr. Margarethe Okonkwo';

describe('a missed call for a callee without a live connection', () => {
  let dir: string;
  let apns: FakeApns;
  let s: TestServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'careline-calls-push-'));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyFile = join(dir, `AuthKey_${KEY_ID}.p8`);
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    apns = await startFakeApns({ publicKey, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC });
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, apns.ca);
    s = await startTestServer({
      config: {
        push: { pollMs: 20, retryBaseMs: 20, retryMaxMs: 200, apns: { url: apns.url, keyFile, keyId: KEY_ID, teamId: TEAM_ID, topic: TOPIC, caFile } },
        calls: { ringTimeoutMs: 1000, heartbeatTimeoutMs: 5000, pollMs: 50 },
      },
    });
  });
  after(async () => {
    await s?.stop();
    await apns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('rings by push, rings out (timeout), then unread and a pushed missed-call notification, PHI-free', async () => {
    const pat = await s.user('pat-offline', 'patient', PATIENT_NAME);
    const doc = await s.user('doc-calling', 'doctor', DOCTOR_NAME);
    const conv = await s.conversation({ participants: [pat.id, doc.id], name: `${PATIENT_NAME} follow-up` });
    const token = 'ab'.repeat(32);
    await new CarelineClient({ url: s.url, token: pat.token, storage: new MemoryStorage() }).devices.register({ os_type: 1, vendor: 'apns', push_token: token });
    const call = ok(await s.call('POST', '/api/v2/calls', { token: doc.token, body: { conversation_id: conv, av_type: 'video' } })).call;
    await eventually(async () => ok(await s.call('GET', `/api/v2/calls/${call.id}`, { token: doc.token })).call.state === 'ended', 10_000);
    const ended = ok(await s.call('GET', `/api/v2/calls/${call.id}`, { token: doc.token })).call;
    assert.equal(ended.end_reason, 'timeout');
    // The ring (an alert: no VoIP token), then the missed-call notification.
    await eventually(async () => apns.delivered.length === 2, 10_000);
    const [ring, missed] = apns.delivered;
    for (const push of [ring!, missed!]) {
      assert.equal(push.token, token);
      for (const secret of [PATIENT_NAME, DOCTOR_NAME]) assert.ok(!push.raw.includes(secret), `no "${secret}" in the push`);
    }
    assert.equal(ring!.body.careline.call_id, call.id);
    assert.equal(missed!.body.careline.kind, 'S2C_MISSED_CALL');
    assert.equal(apns.rejected.length, 0);
    const unread = ok(await s.call('GET', `/api/v2/sessions/${conv}/messages/unread`, { token: pat.token }));
    assert.equal(unread.count, 1);
    assert.equal(unread.messages[0].type, 1002);
    assert.equal(unread.messages[0].content.status, 'timeout');
  });
});
