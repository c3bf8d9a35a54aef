/**
 * Third-party app tokens (OAuth2 client credentials) on a real server: an app made by the
 * integrator or a tenant admin exchanges its id and secret at `POST /api/v2/oauth/token` (form,
 * JSON or HTTP Basic) for a Bearer token that acts as the tenant's API key; a wrong secret,
 * a revoked app, an expired or forged token are refused with `app.*` codes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OAuthAppService } from '../../src/domain/oauth-apps.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok, raw, secondTenant, signJwt } from '../rest/helpers.ts';

const APPS = '/api/v2/management/oauth-apps';

describe('third-party app tokens', { timeout: 60_000 }, () => {
  let s: TestServer;

  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s?.stop();
  });

  const tokenForm = (body: Record<string, string>, headers: Record<string, string> = {}) =>
    raw(s, 'POST', '/api/v2/oauth/token', { body: new URLSearchParams(body).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  const bearer = (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) => s.call(method, path, { token, body, headers });

  it('creates an app, exchanges its id and secret for a token that acts as the API key', async () => {
    const made = ok(await s.call('POST', APPS, { body: { name: 'Lab system' } }));
    assert.match(made.client_id, /^app_/);
    assert.match(made.client_secret, /^cas_/);
    assert.equal(made.app.secret_hash, undefined);
    const listed = ok(await s.call('GET', APPS)).apps;
    assert.deepEqual(listed.find((a: any) => a.id === made.client_id), made.app);

    const t = ok(await tokenForm({ grant_type: 'client_credentials', client_id: made.client_id, client_secret: made.client_secret }));
    assert.deepEqual(Object.keys(t).sort(), ['access_token', 'expires_in', 'token_type']);
    assert.equal(t.token_type, 'Bearer');
    assert.equal(t.expires_in, 3600);
    // JSON and HTTP Basic too.
    ok(await s.call('POST', '/api/v2/oauth/token', { apiKey: null, body: { grant_type: 'client_credentials', client_id: made.client_id, client_secret: made.client_secret } }));
    const basic = Buffer.from(`${made.client_id}:${made.client_secret}`).toString('base64');
    const viaBasic = ok(await tokenForm({ grant_type: 'client_credentials' }, { authorization: `Basic ${basic}` }));

    // The token is the tenant's API key: integrator routes, and acting for a user.
    await s.user('tok-pat', 'patient');
    await s.user('tok-doc', 'doctor');
    const users = ok(await bearer('GET', '/api/v2/management/users', t.access_token)).users;
    assert.ok(users.some((u: any) => u.id === 'tok-pat'));
    const conv = ok(await bearer('POST', '/api/v2/sessions', viaBasic.access_token, { session_type: 2, participants: ['tok-pat', 'tok-doc'] })).session.id;
    const sent = ok(await bearer('POST', `/api/v2/sessions/${conv}/messages`, t.access_token, { type: 1, content: { text: 'from the lab' } }, { 'x-on-behalf-of': 'tok-doc' }));
    assert.equal(sent.message.sender_id, 'tok-doc');
    // The audit trail names the app.
    ok(await bearer('GET', '/api/v2/management/audit', t.access_token));
    // Not a user token.
    assertError(await bearer('POST', '/api/v2/users/logout', t.access_token), 'auth.forbidden');
  });

  it('refuses a wrong secret, an unknown app, another grant, and a revoked app (at once)', async () => {
    const made = ok(await s.call('POST', APPS, { body: { name: 'Pharmacy' } }));
    assertError(await tokenForm({ grant_type: 'client_credentials', client_id: made.client_id, client_secret: 'cas_wrong' }), 'app.invalid_client');
    assertError(await tokenForm({ grant_type: 'client_credentials', client_id: 'app_nope', client_secret: made.client_secret }), 'app.invalid_client');
    assertError(await tokenForm({ grant_type: 'client_credentials' }), 'app.invalid_client');
    assertError(await tokenForm({ grant_type: 'password', client_id: made.client_id, client_secret: made.client_secret }), 'app.grant_unsupported');
    assertError(await tokenForm({ grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }), 'app.invalid_client');

    const t = ok(await tokenForm({ grant_type: 'client_credentials', client_id: made.client_id, client_secret: made.client_secret }));
    ok(await bearer('GET', '/api/v2/management/users', t.access_token));
    const other = await secondTenant(s);
    assertError(await s.call('DELETE', `${APPS}/${made.client_id}`, { apiKey: other.apiKey }), 'app.not_found');
    ok(await s.call('DELETE', `${APPS}/${made.client_id}`));
    assertError(await bearer('GET', '/api/v2/management/users', t.access_token), 'app.revoked');
    assertError(await tokenForm({ grant_type: 'client_credentials', client_id: made.client_id, client_secret: made.client_secret }), 'app.revoked');
    assertError(await s.call('DELETE', `${APPS}/${made.client_id}`), 'app.not_found');
    assert.ok(ok(await s.call('GET', APPS)).apps.find((a: any) => a.id === made.client_id).revoked_at > 0);
  });

  it('refuses an expired or forged token, and keeps tenants apart', async () => {
    const made = ok(await s.call('POST', APPS, { body: { name: 'Billing' } }));
    const core = s.server.core;
    // The server's own issuer two hours ago: the token expired an hour ago.
    const past = new OAuthAppService({ storage: core.storage, tokenSecret: core.config.auth.tokenSecret, tokenTtlSeconds: 3600, now: () => Date.now() - 7_200_000 });
    const expired = await past.issueToken('client_credentials', made.client_id, made.client_secret);
    assertError(await bearer('GET', '/api/v2/management/users', expired.access_token), 'app.token_expired');
    // Signed with the user-token key (or any other): not an app token.
    const exp = Math.floor(Date.now() / 1000) + 600;
    const forged = `cat_${signJwt({ typ: 'app', cid: made.client_id, tid: s.tenantId, exp }, core.config.auth.tokenSecret)}`;
    assertError(await bearer('GET', '/api/v2/management/users', forged), 'app.token_invalid');
    assertError(await bearer('GET', '/api/v2/management/users', 'cat_garbage'), 'app.token_invalid');

    // Another tenant's app token reaches only that tenant.
    const other = await secondTenant(s);
    const theirs = ok(await s.call('POST', APPS, { apiKey: other.apiKey, body: { name: 'Theirs' } }));
    assert.ok(!ok(await s.call('GET', APPS)).apps.some((a: any) => a.id === theirs.client_id));
    const t = ok(await tokenForm({ grant_type: 'client_credentials', client_id: theirs.client_id, client_secret: theirs.client_secret }));
    const seen = ok(await bearer('GET', '/api/v2/management/users', t.access_token)).users;
    assert.ok(!seen.some((u: any) => u.id === 'tok-pat'));

    // Only the integrator or a tenant admin manages apps.
    const pat = await s.user('apps-pat', 'patient');
    assertError(await s.call('POST', APPS, { token: pat.token, body: { name: 'x' } }), 'auth.forbidden');
    const adm = await s.user('apps-admin', 'admin');
    ok(await s.call('POST', APPS, { token: adm.token, body: { name: 'made by an admin' } }));
  });
});
