/**
 * Users over REST: the user record, online status (with real WebSockets), and the
 * integrator's upsert (create vs update, invalid ids).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCodes } from '@careline/protocol';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient } from '../support/ws-client.ts';
import { assertError, closeWs, enc, eventually, ok, openWs, secondTenant } from './helpers.ts';

let s: TestServer;
let docToken: string;
let patToken: string;

before(async () => {
  s = await startTestServer();
  docToken = (await s.user('doc', 'doctor', '张医生')).token;
  patToken = (await s.user('pat', 'patient', 'Pat')).token;
});
after(() => s.stop());

describe('GET /api/v2/users/:user_id', () => {
  test('a user of the tenant, for users and the API key', async () => {
    const u = ok(await s.call('GET', '/api/v2/users/doc', { token: patToken })).user;
    assert.deepEqual(Object.keys(u).sort(), ['avatar', 'created_at', 'disabled', 'id', 'name', 'role', 'updated_at']);
    assert.equal(u.id, 'doc');
    assert.equal(u.role, 'doctor');
    assert.equal(u.name, '张医生');
    assert.equal(u.avatar, null);
    assert.equal(u.disabled, false);
    assert.deepEqual(ok(await s.call('GET', '/api/v2/users/doc')).user, u);
    assert.equal(ok(await s.call('GET', '/api/v2/users/system')).user.role, 'system', 'the built-in system user');
  });

  test('unknown user, another tenant\'s user, bad ids', async () => {
    assertError(await s.call('GET', '/api/v2/users/nobody', { token: docToken }), 'user.not_found');
    const other = await secondTenant(s);
    await other.user('elsewhere', 'doctor');
    assertError(await s.call('GET', '/api/v2/users/elsewhere'), 'user.not_found');
    assertError(await s.call('GET', '/api/v2/users/elsewhere/status'), 'user.not_found');
    assertError(await s.call('GET', `/api/v2/users/${'u'.repeat(129)}`), 'request.invalid');
    assertError(await s.call('GET', '/api/v2/users/doc', { apiKey: null }), 'auth.missing');
  });
});

describe('GET /api/v2/users/:user_id/status', () => {
  const status = async (id = 'doc') => ok(await s.call('GET', `/api/v2/users/${id}/status`, { token: patToken }));

  test('offline, then online while a WebSocket is open, then offline with last_seen', async () => {
    assert.deepEqual(await status(), { user_id: 'doc', online: false, last_seen: null, connections: 0 });
    const t0 = Date.now();
    const a = await openWs(s, docToken);
    try {
      await eventually(async () => (await status()).online === true);
      const on = await status();
      assert.equal(on.connections, 1);
      assert.ok(on.last_seen >= t0 - 1000);
      assert.deepEqual(await status('pat'), { user_id: 'pat', online: false, last_seen: null, connections: 0 }, 'others are unaffected');
    } finally {
      await closeWs(a);
    }
    await eventually(async () => (await status()).online === false);
    const off = await status();
    assert.equal(off.connections, 0);
    assert.equal(typeof off.last_seen, 'number');
    assert.ok(off.last_seen >= t0 && off.last_seen <= Date.now());
    // The API key reads it too.
    assert.equal(ok(await s.call('GET', '/api/v2/users/doc/status')).online, false);
  });

  test('two devices: closing one keeps the user online with one connection; closing both takes them offline', async () => {
    const token2 = (await s.user('pat', 'patient', 'Pat')).token;
    const status2 = async () => ok(await s.call('GET', '/api/v2/users/pat/status', { token: docToken }));
    const a = await openWs(s, patToken);
    const b = await openWs(s, token2);
    try {
      await eventually(async () => (await status2()).connections === 2);
      await closeWs(a);
      await eventually(async () => (await status2()).connections === 1, 1500);
      assert.equal((await status2()).online, true, 'still online on the other device');
    } finally {
      await closeWs(a);
      await closeWs(b);
    }
    await eventually(async () => (await status2()).online === false, 1500);
    assert.equal((await status2()).connections, 0);
  });

  test('unknown user → user.not_found', async () => {
    assertError(await s.call('GET', '/api/v2/users/nobody/status', { token: docToken }), 'user.not_found');
  });
});

describe('PUT /api/v2/management/users/:user_id', () => {
  const put = (id: string, body: unknown, o: { token?: string; headers?: Record<string, string> } = {}) =>
    s.call('PUT', `/api/v2/management/users/${enc(id)}`, { body, ...o });

  test('creates (created:true), then updates (created:false) the same user', async () => {
    const a = ok(await put('nurse-1', { role: 'staff', name: 'Nurse One' }));
    assert.equal(a.created, true);
    assert.equal(a.user.id, 'nurse-1');
    assert.equal(a.user.role, 'staff');
    assert.equal(a.user.avatar, null);
    assert.equal(a.user.disabled, false);
    assert.equal(a.user.created_at, a.user.updated_at);
    await new Promise((r) => setTimeout(r, 3));
    const b = ok(await put('nurse-1', { role: 'admin', name: 'Head Nurse', avatar: 'https://img.example/n1.png' }));
    assert.equal(b.created, false);
    assert.equal(b.user.name, 'Head Nurse');
    assert.equal(b.user.role, 'admin');
    assert.equal(b.user.avatar, 'https://img.example/n1.png');
    assert.equal(b.user.created_at, a.user.created_at);
    assert.ok(b.user.updated_at > a.user.updated_at);
    assert.deepEqual(ok(await s.call('GET', '/api/v2/users/nurse-1')).user, b.user);
    // avatar: null clears it.
    assert.equal(ok(await put('nurse-1', { role: 'admin', name: 'Head Nurse', avatar: null })).user.avatar, null);
    // The new name shows in conversations.
    const conv = await s.conversation({ participants: ['nurse-1', 'doc'] });
    assert.equal(ok(await s.call('GET', `/api/v2/sessions/${conv}/participants/nurse-1`)).participants[0].name, 'Head Nurse');
  });

  test('disabled users cannot log in until enabled again', async () => {
    ok(await put('temp', { role: 'patient', name: 'Temp' }));
    ok(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'temp' } }));
    assert.equal(ok(await put('temp', { role: 'patient', name: 'Temp', disabled: true })).user.disabled, true);
    assertError(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'temp' } }), 'user.disabled');
    assert.equal(ok(await put('temp', { role: 'patient', name: 'Temp', disabled: false })).user.disabled, false);
    ok(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'temp' } }));
  });

  test('invalid ids → request.invalid; nothing is created', async () => {
    for (const id of ['a:b', 'a,b', 'a b', 'a/b', 'a?b', 'a#b', ' ', 'system', 'x'.repeat(129)]) {
      assertError(await put(id, { role: 'doctor', name: 'X' }), 'request.invalid', JSON.stringify(id));
    }
    assertError(await s.call('GET', `/api/v2/users/${enc('a b')}`), 'user.not_found');
    assertError(await s.call('GET', `/api/v2/users/${enc('a:b')}`), 'user.not_found');
    assert.equal(ok(await s.call('GET', '/api/v2/users/system')).user.name, 'System', 'the system user is unchanged');
    // Ids of 128 characters, and with dots, dashes and non-ASCII letters, are fine.
    for (const id of ['x'.repeat(128), 'D2016008240003', 'doc.name-1_x', '医生01']) {
      assert.equal(ok(await put(id, { role: 'doctor', name: 'ok' })).user.id, id);
    }
  });

  test('bad bodies → request.invalid', async () => {
    for (const body of [{}, { role: 'doctor' }, { name: 'x' }, { role: 'doctor', name: '' }, { role: 'nurse', name: 'x' }, { role: 'system', name: 'x' },
      { role: 'doctor', name: 'x'.repeat(257) }, { role: 'doctor', name: 'x', avatar: 5 }, { role: 'doctor', name: 'x', id: 'other' }]) {
      assertError(await put('body-check', body), 'request.invalid', JSON.stringify(body));
    }
    assertError(await s.call('GET', '/api/v2/users/body-check'), 'user.not_found');
  });

  test('only the API key manages users: a user token or X-On-Behalf-Of → auth.forbidden', async () => {
    assertError(await put('by-user', { role: 'doctor', name: 'x' }, { token: docToken }), 'auth.forbidden');
    assertError(await put('by-user', { role: 'doctor', name: 'x' }, { headers: { 'x-on-behalf-of': 'doc' } }), 'auth.forbidden');
    assertError(await s.call('PUT', '/api/v2/management/users/by-user', { apiKey: null, body: { role: 'doctor', name: 'x' } }), 'auth.missing');
    assertError(await s.call('GET', '/api/v2/users/by-user'), 'user.not_found');
  });

  test('users are per tenant: the same id in another tenant is another user', async () => {
    const other = await secondTenant(s);
    const r = ok(await s.call('PUT', '/api/v2/management/users/doc', { apiKey: other.apiKey, body: { role: 'patient', name: 'Not the doctor' } }));
    assert.equal(r.created, true);
    assert.equal(ok(await s.call('GET', '/api/v2/users/doc')).user.name, '张医生');
  });
});

describe('disabling a user', () => {
  test('their existing token stops working on REST and WebSocket; enabling again restores it', async () => {
    const { token } = await s.user('temp', 'patient', 'Temp');
    ok(await s.call('GET', '/api/v2/users/temp', { token }));
    ok(await s.call('PUT', '/api/v2/management/users/temp', { body: { role: 'patient', name: 'Temp', disabled: true } }));
    assertError(await s.call('GET', '/api/v2/users/temp', { token }), 'user.disabled');
    assertError(await s.call('GET', '/api/v2/sessions', { token }), 'user.disabled');
    const ws = await WsClient.connect(s.wsUrl, token);
    assert.equal((await ws.next((f) => f.type === 'error')).code, 'user.disabled');
    assert.equal((await ws.closed).code, CloseCodes.USER_DISABLED);
    ok(await s.call('PUT', '/api/v2/management/users/temp', { body: { role: 'patient', name: 'Temp', disabled: false } }));
    ok(await s.call('GET', '/api/v2/sessions', { token }));
  });
});
