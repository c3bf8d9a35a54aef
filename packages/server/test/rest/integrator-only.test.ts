/**
 * The calls only an integrator may make as itself. An API key that acts for a user
 * (`X-On-Behalf-Of`) is that user, and is refused with `auth.forbidden` and a message that
 * says what only an integrator does; the same calls with the key alone succeed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok } from './helpers.ts';

let s: TestServer;

before(async () => {
  s = await startTestServer();
  await s.user('dr.x', 'doctor', 'Dr. X');
  await s.user('adm.x', 'admin', 'Admin X');
});
after(() => s.stop());

const now = Date.now();
const CALLS: [method: string, path: string, body: unknown, message: string][] = [
  ['PUT', '/api/v2/management/users/pt.new', { role: 'patient', name: 'New' }, 'Only an integrator (API key) manages users.'],
  ['GET', '/api/v2/management/users', undefined, 'Only an integrator (API key) lists users.'],
  ['PUT', '/api/v2/management/teams/team.x', { name: 'Team X', members: ['dr.x'] }, 'Only an integrator (API key) manages teams and tags.'],
  ['GET', '/api/v2/management/teams/team.x', undefined, 'Only an integrator (API key) manages teams and tags.'],
  ['PUT', '/api/v2/management/users/dr.x/tags', { tags: ['cardio'] }, 'Only an integrator (API key) manages teams and tags.'],
  ['GET', '/api/v2/management/users/dr.x/tags', undefined, 'Only an integrator (API key) manages teams and tags.'],
  ['DELETE', '/api/v2/management/teams/team.x', undefined, 'Only an integrator (API key) manages teams and tags.'],
  ['GET', '/api/v2/management/settings', undefined, 'Only an integrator (API key) manages tenant settings.'],
  ['PUT', '/api/v2/management/settings', { patient_to_patient: false }, 'Only an integrator (API key) manages tenant settings.'],
  ['PUT', '/api/v2/management/notification-kinds/CLINIC_NEWS', { mode: 'each' }, 'Only an integrator (API key) may do this.'],
  ['POST', '/api/v2/management/notifications', { kind: 'S2C_SIGNED_PUSH', target: { user: 'dr.x' }, title: 't' }, 'Only an integrator (API key) may do this.'],
  ['POST', '/api/v2/management/topics/reconcile', { since: now - 1000, until: now, topics: [] }, 'Only an integrator (API key) reconciles.'],
];

describe('integrator-only calls', () => {
  test('an API key acting for a user (X-On-Behalf-Of) is refused, whatever the user\'s role', async () => {
    for (const who of ['dr.x', 'adm.x']) {
      for (const [method, path, body, message] of CALLS) {
        const r = await s.call(method, path, { headers: { 'x-on-behalf-of': who }, ...(body !== undefined ? { body } : {}) });
        assertError(r, 'auth.forbidden', `${method} ${path} for ${who}`);
        assert.equal(r.body.message, message, `${method} ${path}`);
      }
    }
  });

  test('the same calls with the API key alone succeed', async () => {
    for (const [method, path, body] of CALLS) {
      ok(await s.call(method, path, body !== undefined ? { body } : {}), `${method} ${path}`);
    }
  });
});
