/** Reads of conversations with a patient are audit-logged; others are not. Integrators read the log. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, secondTenant } from './helpers.ts';

let s: TestServer;
let doc: { token: string };
let withPatient: string;
let staffOnly: string;

before(async () => {
  s = await startTestServer();
  doc = await s.user('doc', 'doctor');
  await s.user('pat', 'patient');
  await s.user('nurse', 'staff');
  withPatient = await s.conversation({ participants: ['doc', 'pat'] });
  staffOnly = await s.conversation({ participants: ['doc', 'nurse'] });
  await s.sendAs('pat', withPatient, 'my blood pressure is 150/95');
  await s.sendAs('nurse', staffOnly, 'shift change at 8');
});
after(() => s.stop());

describe('audit log', () => {
  test('history, single-message and unread reads of a patient conversation are recorded with who and what', async () => {
    const page = ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages?limit=10`, { token: doc.token }));
    ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages/${page.messages[0].id}`, { token: doc.token }));
    ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages/unread`, { token: doc.token }));
    ok(await s.call('GET', `/api/v2/sessions/${withPatient}/messages`)); // the integrator reads too
    ok(await s.call('GET', `/api/v2/sessions/${staffOnly}/messages`, { token: doc.token }));
    const { records, next_after_id } = ok(await s.call('GET', '/api/v2/management/audit'));
    assert.deepEqual(records.map((r: any) => [r.actor_id.startsWith('app:') ? 'app' : r.actor_id, r.action, r.conversation_id]), [
      ['doc', 'messages.history', withPatient],
      ['doc', 'messages.get', withPatient],
      ['doc', 'messages.unread', withPatient],
      ['app', 'messages.history', withPatient],
    ]);
    assert.equal(records[1].detail.message_id, page.messages[0].id);
    assert.equal(next_after_id, null);
    const byActor = ok(await s.call('GET', '/api/v2/management/audit?actor_id=doc&limit=2'));
    assert.equal(byActor.records.length, 2);
    const rest = ok(await s.call('GET', `/api/v2/management/audit?actor_id=doc&after_id=${byActor.next_after_id}`));
    assert.deepEqual(rest.records.map((r: any) => r.action), ['messages.unread']);
  });

  test('only the tenant\'s integrator reads it', async () => {
    assertError(await s.call('GET', '/api/v2/management/audit', { token: doc.token }), 'auth.forbidden');
    assertError(await s.call('GET', '/api/v2/management/audit', { apiKey: null }), 'auth.missing');
    const other = await secondTenant(s);
    const theirs = ok(await s.call('GET', '/api/v2/management/audit', { apiKey: other.apiKey }));
    assert.deepEqual(theirs.records, []);
    assertError(await s.call('GET', '/api/v2/management/audit?limit=0'), 'request.invalid');
  });
});
