/**
 * `GET /api/v2/management/users`: the integrator lists its users, in id order, paged with
 * `after` + `limit`, filtered by role and disabled; only with its API key, only its tenant.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, secondTenant } from './helpers.ts';

let s: TestServer;
let docToken: string;

before(async () => {
  s = await startTestServer();
  docToken = (await s.user('dr.b', 'doctor', 'Dr. B')).token;
  await s.user('dr.a', 'doctor', 'Dr. A');
  await s.user('pt.c', 'patient', 'C');
  await s.user('pt.d', 'patient', 'D');
  await s.user('nurse.e', 'staff', 'E');
  ok(await s.call('PUT', '/api/v2/management/users/pt.old', { body: { role: 'patient', name: 'Old', disabled: true } }));
});
after(() => s.stop());

const list = async (query = '') => ok(await s.call('GET', `/api/v2/management/users${query}`));
const ids = (body: { users: { id: string }[] }) => body.users.map((u) => u.id);

describe('GET /api/v2/management/users', () => {
  test('every user of the tenant in id order, with the user record; not the system user', async () => {
    const body = await list();
    assert.deepEqual(ids(body), ['dr.a', 'dr.b', 'nurse.e', 'pt.c', 'pt.d', 'pt.old']);
    assert.equal(body.next_after, null);
    const b = body.users[1];
    assert.deepEqual(Object.keys(b).sort(), ['avatar', 'created_at', 'disabled', 'id', 'name', 'role', 'updated_at']);
    assert.deepEqual(b, ok(await s.call('GET', '/api/v2/users/dr.b')).user);
  });

  test('paged: limit and after walk every user once; next_after is null on the last page', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const body: { users: { id: string }[]; next_after: string | null } = await list(`?limit=4${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      seen.push(...ids(body));
      after = body.next_after;
      pages++;
    } while (after && pages < 10);
    assert.equal(pages, 2);
    assert.deepEqual(seen, ['dr.a', 'dr.b', 'nurse.e', 'pt.c', 'pt.d', 'pt.old']);
    const first = await list('?limit=2');
    assert.equal(first.next_after, 'dr.b');
    assert.deepEqual(ids(await list('?limit=2&after=dr.b')), ['nurse.e', 'pt.c']);
    const exact = await list('?limit=6');
    assert.equal(exact.users.length, 6);
    assert.deepEqual(ids(await list(`?after=${exact.next_after ?? 'pt.old'}`)), [], 'nothing after the last user');
  });

  test('filtered by role and by disabled, and paged within the filter', async () => {
    assert.deepEqual(ids(await list('?role=doctor')), ['dr.a', 'dr.b']);
    assert.deepEqual(ids(await list('?role=staff')), ['nurse.e']);
    assert.deepEqual(ids(await list('?role=admin')), []);
    assert.deepEqual(ids(await list('?role=patient&limit=1&after=pt.c')), ['pt.d']);
    assert.deepEqual(ids(await list('?disabled=true')), ['pt.old']);
    assert.deepEqual(ids(await list('?role=patient&disabled=false')), ['pt.c', 'pt.d']);
  });

  test('only the key\'s own tenant', async () => {
    const other = await secondTenant(s);
    await other.user('elsewhere', 'doctor');
    assert.ok(!ids(await list()).includes('elsewhere'));
    assert.deepEqual(ids(ok(await s.call('GET', '/api/v2/management/users', { apiKey: other.apiKey }))), ['elsewhere']);
  });

  test('integrators only: no key, a user token, a wrong key, a key acting for a user', async () => {
    assertError(await s.call('GET', '/api/v2/management/users', { apiKey: null }), 'auth.missing');
    assertError(await s.call('GET', '/api/v2/management/users', { token: docToken }), 'auth.forbidden');
    assertError(await s.call('GET', '/api/v2/management/users', { apiKey: 'ck_wrong' }), 'auth.invalid_api_key');
    assertError(await s.call('GET', '/api/v2/management/users', { headers: { 'x-on-behalf-of': 'dr.b' } }), 'auth.forbidden');
  });

  test('bad queries answer request.invalid', async () => {
    for (const q of ['?limit=0', '?limit=1001', '?limit=abc', '?limit=', '?limit=1.5', '?role=system', '?role=nurse', '?disabled=maybe', `?after=${'x'.repeat(129)}`, '?after=', '?page=2']) {
      assertError(await s.call('GET', `/api/v2/management/users${q}`), 'request.invalid', q);
    }
  });
});
