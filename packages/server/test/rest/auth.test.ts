/**
 * Authentication over REST: login with the API key, user tokens (forged, expired, revoked),
 * API keys (wrong, revoked), X-On-Behalf-Of, and the operator token of /api/v2/admin.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startTestServer, type TestServer } from '../support/server.ts';
import { ADMIN_TOKEN, admin, assertError, jwtClaims, ok, raw, secondTenant, signJwt } from './helpers.ts';

const SECRET = 'rest-auth-test-secret-0123456789abcdef';
let s: TestServer;

before(async () => {
  s = await startTestServer({ config: { auth: { tokenSecret: SECRET } } });
  await s.user('pat', 'patient', 'Patient Pat');
  await s.user('doc', 'doctor', 'Doctor Doc');
});
after(() => s.stop());

const asToken = (token: string) => s.call('GET', '/api/v2/sessions', { token });

describe('POST /api/v2/users/login', () => {
  test('the API key logs a user in: token, expiry, user', async () => {
    const t0 = Date.now();
    const body = ok(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'pat', platform: 'web', device_id: 'dev-1' } }));
    assert.equal(typeof body.token, 'string');
    assert.equal(body.user.id, 'pat');
    assert.equal(body.user.role, 'patient');
    assert.equal(body.user.name, 'Patient Pat');
    // Default TTL: 7 days.
    assert.ok(body.expires_at >= t0 + 7 * 24 * 3600 * 1000 - 5000 && body.expires_at <= Date.now() + 7 * 24 * 3600 * 1000 + 5000);
    const claims = jwtClaims(body.token);
    assert.equal(claims.sub, 'pat');
    assert.equal(claims.tid, s.tenantId);
    ok(await asToken(body.token), 'the token works');
  });

  test('ttl_seconds sets the expiry; below the 60 s minimum is rejected', async () => {
    const t0 = Date.now();
    const body = ok(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'pat', ttl_seconds: 60 } }));
    assert.ok(Math.abs(body.expires_at - (t0 + 60_000)) < 5000);
    assert.equal(jwtClaims(body.token).exp, Math.floor(body.expires_at / 1000));
    assertError(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'pat', ttl_seconds: 59 } }), 'request.invalid');
    assertError(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'pat', ttl_seconds: 90 * 24 * 3600 + 1 } }), 'request.invalid');
  });

  test('unknown user → user.not_found', async () => {
    assertError(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'nobody' } }), 'user.not_found');
  });

  test('a disabled user cannot log in → user.disabled', async () => {
    ok(await s.call('PUT', '/api/v2/management/users/gone', { body: { role: 'patient', name: 'Gone', disabled: true } }));
    assertError(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'gone' } }), 'user.disabled');
  });

  test('bad bodies → request.invalid', async () => {
    assertError(await s.call('POST', '/api/v2/users/login', { body: {} }), 'request.invalid');
    assertError(await s.call('POST', '/api/v2/users/login', { body: { user_id: '' } }), 'request.invalid');
    assertError(await s.call('POST', '/api/v2/users/login', { body: { user_id: 42 } }), 'request.invalid');
    assertError(await s.call('POST', '/api/v2/users/login', { body: { user_id: 'pat', extra: 1 } }), 'request.invalid');
  });

  test('needs an API key: none → auth.missing, a user token → auth.forbidden, a wrong key → auth.invalid_api_key', async () => {
    assertError(await s.call('POST', '/api/v2/users/login', { apiKey: null, body: { user_id: 'pat' } }), 'auth.missing');
    const { token } = await s.user('pat');
    assertError(await s.call('POST', '/api/v2/users/login', { token, body: { user_id: 'pat' } }), 'auth.forbidden');
    assertError(await s.call('POST', '/api/v2/users/login', { apiKey: 'ck_wrong', body: { user_id: 'pat' } }), 'auth.invalid_api_key');
  });
});

describe('POST /api/v2/users/logout', () => {
  test('revokes the token: later calls get auth.token_revoked; other tokens of the user still work', async () => {
    const a = await s.user('doc');
    const b = await s.user('doc');
    ok(await asToken(a.token));
    assert.deepEqual(ok(await s.call('POST', '/api/v2/users/logout', { token: a.token })), { ok: true });
    assertError(await asToken(a.token), 'auth.token_revoked');
    assertError(await s.call('GET', '/api/v2/users/doc', { token: a.token }), 'auth.token_revoked');
    assertError(await s.call('POST', '/api/v2/users/logout', { token: a.token }), 'auth.token_revoked', 'logout twice');
    ok(await asToken(b.token), 'another login session of the same user is untouched');
  });

  test('needs a user token: none → auth.missing; an API key (even on behalf of a user) → auth.forbidden', async () => {
    assertError(await s.call('POST', '/api/v2/users/logout', { apiKey: null }), 'auth.missing');
    assertError(await s.call('POST', '/api/v2/users/logout', {}), 'auth.forbidden');
    assertError(await s.call('POST', '/api/v2/users/logout', { headers: { 'x-on-behalf-of': 'pat' } }), 'auth.forbidden');
  });
});

describe('user tokens', () => {
  test('no credentials → auth.missing', async () => {
    assertError(await s.call('GET', '/api/v2/sessions', { apiKey: null }), 'auth.missing');
    assertError(await s.call('GET', '/api/v2/application/badge_no', { apiKey: null }), 'auth.missing');
  });

  test('malformed Authorization headers and garbage tokens → auth.invalid_token', async () => {
    for (const h of ['Basic cGF0OnB3', 'Bearer', 'Bearer a b', 'token-without-scheme']) {
      assertError(await raw(s, 'GET', '/api/v2/sessions', { headers: { authorization: h } }), 'auth.invalid_token', h);
    }
    for (const t of ['x', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.']) assertError(await asToken(t), 'auth.invalid_token', t);
  });

  test('a token signed with the wrong secret → auth.invalid_token', async () => {
    const { token } = await s.user('pat');
    const forged = signJwt(jwtClaims(token), 'not-the-server-secret-0123456789abcdef');
    assertError(await asToken(forged), 'auth.invalid_token');
  });

  test('alg "none" and tampered claims → auth.invalid_token', async () => {
    const { token } = await s.user('pat');
    const claims = jwtClaims(token);
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    assertError(await asToken(none), 'auth.invalid_token', 'alg none');
    // The payload swapped for another user's, the signature kept.
    const [h, , sig] = token.split('.');
    const swapped = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'doc' })).toString('base64url')}.${sig}`;
    assertError(await asToken(swapped), 'auth.invalid_token', 'tampered payload');
  });

  test('a correctly signed token naming another user than its login session → auth.invalid_token', async () => {
    const { token } = await s.user('pat');
    const claims = jwtClaims(token);
    // Sanity: re-signing the same claims with the real secret is accepted.
    ok(await asToken(signJwt(claims, SECRET)), 're-signed original');
    assertError(await asToken(signJwt({ ...claims, sub: 'doc', role: 'doctor' }, SECRET)), 'auth.invalid_token');
    assertError(await asToken(signJwt({ ...claims, jti: 'no-such-session' }, SECRET)), 'auth.invalid_token');
    assertError(await asToken(signJwt({ ...claims, tid: 'other-tenant' }, SECRET)), 'auth.invalid_token');
  });

  test('a token checked a moment ago sees its user disabled, enabled again, or its session ended at once (auth.sessionCacheMs)', async () => {
    const u = await s.user('flip', 'patient', 'Flip');
    ok(await asToken(u.token), 'checked once: its session and user are kept');
    ok(await s.call('PUT', '/api/v2/management/users/flip', { body: { role: 'patient', name: 'Flip', disabled: true } }));
    assertError(await asToken(u.token), 'user.disabled', 'disabled: refused at the next call');
    ok(await s.call('PUT', '/api/v2/management/users/flip', { body: { role: 'patient', name: 'Flip', disabled: false } }));
    ok(await asToken(u.token), 'enabled again: accepted at the next call');
    const other = await s.user('flip', 'patient', 'Flip');
    ok(await asToken(other.token));
    ok(await s.call('POST', '/api/v2/users/logout', { token: other.token }));
    assertError(await asToken(other.token), 'auth.token_revoked');
    ok(await asToken(u.token), 'the user\'s other session goes on');
  });

  test('on one node a session and user read once stand until an event drops them, not for auth.sessionCacheMs only: a change behind the server\'s back is not seen, a logout or a disabled user at once', async () => {
    // What the copy saves is the read: a row changed in the file directly (no event) shows which answer a check used.
    const one = await startTestServer({ config: { auth: { tokenSecret: SECRET, sessionCacheMs: 50 } } });
    const db = new Database(one.dbPath);
    try {
      const call = (token: string) => one.call('GET', '/api/v2/sessions', { token });
      const u = await one.user('kept', 'patient', 'Kept');
      ok(await call(u.token), 'checked once: kept');
      const jti = jwtClaims(u.token).jti as string;
      assert.equal(db.prepare('UPDATE auth_sessions SET revoked_at = ? WHERE id = ?').run(Date.now(), jti).changes, 1);
      await new Promise((r) => setTimeout(r, 200));
      ok(await call(u.token), 'four times auth.sessionCacheMs later the copy still answers: the file was not read again');
      db.prepare('UPDATE auth_sessions SET revoked_at = NULL WHERE id = ?').run(jti);
      // Through the server: the events drop the copy at once.
      ok(await one.call('PUT', '/api/v2/management/users/kept', { body: { role: 'patient', name: 'Kept', disabled: true } }));
      assertError(await call(u.token), 'user.disabled');
      ok(await one.call('PUT', '/api/v2/management/users/kept', { body: { role: 'patient', name: 'Kept', disabled: false } }));
      ok(await call(u.token));
      ok(await one.call('POST', '/api/v2/users/logout', { token: u.token }));
      assertError(await call(u.token), 'auth.token_revoked');
      // With 0, every check reads.
      const zero = await startTestServer({ config: { auth: { tokenSecret: SECRET, sessionCacheMs: 0 } } });
      const zdb = new Database(zero.dbPath);
      try {
        const z = await zero.user('read', 'patient', 'Read');
        ok(await zero.call('GET', '/api/v2/sessions', { token: z.token }));
        zdb.prepare('UPDATE auth_sessions SET revoked_at = ? WHERE id = ?').run(Date.now(), jwtClaims(z.token).jti as string);
        assertError(await zero.call('GET', '/api/v2/sessions', { token: z.token }), 'auth.token_revoked');
      } finally {
        zdb.close();
        await zero.stop();
      }
    } finally {
      db.close();
      await one.stop();
    }
  });

  test('an expired token → auth.token_expired', async () => {
    const { token } = await s.user('pat');
    const claims = jwtClaims(token);
    const now = Math.floor(Date.now() / 1000);
    const expired = signJwt({ ...claims, iat: now - 3600, exp: now - 10 }, SECRET);
    assertError(await asToken(expired), 'auth.token_expired');
    assertError(await s.call('GET', '/api/v2/users/pat', { token: expired }), 'auth.token_expired');
  });

  test('a token of another tenant does not open this tenant\'s data', async () => {
    const other = await secondTenant(s);
    const stranger = await other.user('pat', 'patient', 'Other Pat');
    const conv = await s.conversation({ participants: ['pat', 'doc'] });
    assertError(await s.call('GET', `/api/v2/sessions/${conv}/session`, { token: stranger.token }), 'conversation.not_found');
    // Its /users/pat is its own user of the same id.
    assert.equal(ok(await s.call('GET', '/api/v2/users/pat', { token: stranger.token })).user.name, 'Other Pat');
  });
});

describe('API keys', () => {
  test('a wrong API key → auth.invalid_api_key', async () => {
    assertError(await s.call('GET', '/api/v2/users/pat', { apiKey: 'ck_not-a-key' }), 'auth.invalid_api_key');
    assertError(await s.call('PUT', '/api/v2/management/users/x1', { apiKey: 'ck_not-a-key', body: { role: 'patient', name: 'x' } }), 'auth.invalid_api_key');
  });

  test('a revoked API key → auth.invalid_api_key; the tenant\'s other keys keep working', async () => {
    const made = ok(await admin(s, 'POST', `/api/v2/admin/tenants/${s.tenantId}/apps`, { name: 'short-lived' }));
    ok(await s.call('GET', '/api/v2/users/pat', { apiKey: made.api_key }));
    assert.deepEqual(ok(await admin(s, 'DELETE', `/api/v2/admin/tenants/${s.tenantId}/apps/${made.app.id}`)), { revoked: true });
    assertError(await s.call('GET', '/api/v2/users/pat', { apiKey: made.api_key }), 'auth.invalid_api_key');
    assertError(await admin(s, 'DELETE', `/api/v2/admin/tenants/${s.tenantId}/apps/${made.app.id}`), 'app.not_found', 'revoke twice');
    ok(await s.call('GET', '/api/v2/users/pat'), 'the original key');
  });

  test('X-On-Behalf-Of acts as that user', async () => {
    const conv = await s.conversation({ participants: ['pat', 'doc'], type: 2 });
    const asPat = { headers: { 'x-on-behalf-of': 'pat' } };
    const list = ok(await s.call('GET', '/api/v2/sessions', asPat));
    assert.ok(list.sessions.some((x: { id: string }) => x.id === conv));
    const sent = ok(await s.call('POST', `/api/v2/sessions/${conv}/messages`, { ...asPat, body: { type: 1, content: { text: 'as pat' } } }));
    assert.equal(sent.message.sender_id, 'pat');
    // A patient acting through the key is still a patient: system-only types stay forbidden.
    assertError(await s.call('POST', `/api/v2/sessions/${conv}/messages`, { ...asPat, body: { type: 0, content: { text: 'x' } } }), 'message.type_forbidden');
    // Without the header the key is the integrator: per-user reads need a user.
    assertError(await s.call('GET', '/api/v2/sessions'), 'request.invalid');
  });

  test('X-On-Behalf-Of an unknown user → user.not_found; a user of another tenant is unknown here', async () => {
    assertError(await s.call('GET', '/api/v2/sessions', { headers: { 'x-on-behalf-of': 'nobody' } }), 'user.not_found');
    const other = await secondTenant(s);
    await other.user('only-there');
    assertError(await s.call('GET', '/api/v2/sessions', { headers: { 'x-on-behalf-of': 'only-there' } }), 'user.not_found');
  });

  test('X-On-Behalf-Of a disabled user → user.disabled', async () => {
    ok(await s.call('PUT', '/api/v2/management/users/off', { body: { role: 'doctor', name: 'Off' } }));
    ok(await s.call('GET', '/api/v2/sessions', { headers: { 'x-on-behalf-of': 'off' } }));
    ok(await s.call('PUT', '/api/v2/management/users/off', { body: { role: 'doctor', name: 'Off', disabled: true } }));
    assertError(await s.call('GET', '/api/v2/sessions', { headers: { 'x-on-behalf-of': 'off' } }), 'user.disabled');
  });
});

describe('/api/v2/admin (operator token)', () => {
  test('missing → auth.missing; wrong → auth.invalid_admin_token; API keys and user tokens do not count', async () => {
    const body = { id: 'never', name: 'Never' };
    assertError(await s.call('POST', '/api/v2/admin/tenants', { apiKey: null, body }), 'auth.missing');
    assertError(await admin(s, 'POST', '/api/v2/admin/tenants', body, 'wrong-token'), 'auth.invalid_admin_token');
    assertError(await s.call('POST', '/api/v2/admin/tenants', { body }), 'auth.missing', 'API key');
    const { token } = await s.user('doc');
    assertError(await s.call('POST', '/api/v2/admin/tenants', { token, body }), 'auth.missing', 'user token');
    assertError(await s.call('POST', `/api/v2/admin/tenants/${s.tenantId}/apps`, { body: { name: 'x' } }), 'auth.missing');
    assertError(await admin(s, 'POST', '/api/v2/admin/tenants', { id: 'never2', name: 'x' }, ADMIN_TOKEN + 'x'), 'auth.invalid_admin_token');
  });

  test('creates tenants and apps; a second tenant gets working keys; duplicates and bad ids are rejected', async () => {
    const id = `adm${Date.now().toString(36)}`;
    const t = ok(await admin(s, 'POST', '/api/v2/admin/tenants', { id, name: 'Clinic' }));
    assert.equal(t.tenant.id, id);
    assert.equal(t.tenant.name, 'Clinic');
    assertError(await admin(s, 'POST', '/api/v2/admin/tenants', { id, name: 'Again' }), 'tenant.exists');
    assertError(await admin(s, 'POST', '/api/v2/admin/tenants', { id: 'bad id!', name: 'x' }), 'request.invalid');
    assertError(await admin(s, 'POST', '/api/v2/admin/tenants', { id: 'x', name: '' }), 'request.invalid');
    assertError(await admin(s, 'POST', '/api/v2/admin/tenants', { id: 'x2', name: 'x', extra: true }), 'request.invalid');
    const a = ok(await admin(s, 'POST', `/api/v2/admin/tenants/${id}/apps`, { name: 'backend' }));
    assert.match(a.api_key, /^ck_/);
    assert.equal(a.app.tenant_id, id);
    assert.equal(a.app.revoked_at, null);
    assert.equal('key_hash' in a.app, false, 'the key hash is never shown');
    const created = ok(await s.call('PUT', '/api/v2/management/users/u1', { apiKey: a.api_key, body: { role: 'doctor', name: 'U1' } }));
    assert.equal(created.created, true);
    assertError(await admin(s, 'POST', '/api/v2/admin/tenants/no-such-tenant/apps', { name: 'x' }), 'tenant.not_found');
    assertError(await admin(s, 'DELETE', `/api/v2/admin/tenants/${id}/apps/no-such-app`), 'app.not_found');
    // An app id of one tenant cannot be revoked through another tenant.
    assertError(await admin(s, 'DELETE', `/api/v2/admin/tenants/${s.tenantId}/apps/${a.app.id}`), 'app.not_found');
  });
});
