/**
 * Rate limits: failed authentication per client address (API keys, operator tokens, user
 * tokens, over REST and the WebSocket upgrade), logins per user, requests per API key, per
 * user and per address on the public paths. Every refusal is `request.rate_limited` (429)
 * with `details.retry_after` and a Retry-After header.
 *
 * The server trusts X-Forwarded-For here, so each test is its own client address.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Value } from 'typebox/value';
import { ConfigSchema } from '../../src/config/schema.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { ADMIN_TOKEN, admin, assertError, ok, signJwt } from './helpers.ts';

const SECRET = 'rate-limit-test-secret-0123456789abcdef';
let s: TestServer;
let pat: { id: string; token: string };

before(async () => {
  s = await startTestServer({
    config: {
      http: { trustProxy: true },
      auth: { tokenSecret: SECRET },
      rateLimit: { failedAuthPerIp: 3, publicPerIp: 5, userRequests: 4, apiKeyRequests: 20, loginsPerUser: 2 },
    },
  });
  pat = await s.user('pat', 'patient');
});
after(() => s.stop());

let ipSeq = 0;
/** A fresh client address for one test. */
const newIp = () => `198.51.100.${++ipSeq}`;
const from = (ip: string, headers: Record<string, string> = {}) => ({ 'x-forwarded-for': ip, ...headers });

/** A raw call with exact headers, keeping the response headers. */
async function call(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(s.url + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

function assertLimited(r: Awaited<ReturnType<typeof call>>, label = ''): void {
  assertError(r, 'request.rate_limited', label);
  const retry = r.body.details?.retry_after;
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `${label}: details.retry_after ${JSON.stringify(r.body)}`);
  assert.equal(r.headers.get('retry-after'), String(retry), `${label}: Retry-After header`);
}

/** A new API key of the test tenant (its own per-key counter). */
async function newKey(): Promise<string> {
  return ok(await admin(s, 'POST', `/api/v2/admin/tenants/${s.tenantId}/apps`, { name: 'limited' })).api_key;
}

/** Opens a WebSocket from `ip`; resolves with its first frame and close code. */
function wsFrom(ip: string, token: string): Promise<{ first: any; code: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.wsUrl}?token=${encodeURIComponent(token)}`, { headers: from(ip) });
    let first: any = null;
    ws.on('message', (d) => {
      first ??= JSON.parse(d.toString());
      if (first.type === 'hello') ws.close();
    });
    ws.on('close', (code) => resolve({ first, code }));
    ws.on('error', reject);
  });
}

describe('failed authentication, per client address', () => {
  test('wrong API keys: 401 up to the limit, then 429 — even for the right key, from that address only', async () => {
    const ip = newIp();
    for (let i = 0; i < 3; i++) assertError(await call('GET', '/api/v2/users/pat', from(ip, { 'x-api-key': `ck_wrong${i}` })), 'auth.invalid_api_key', `guess ${i}`);
    assertLimited(await call('GET', '/api/v2/users/pat', from(ip, { 'x-api-key': 'ck_wrong3' })), 'fourth guess');
    // The right key is not even checked from that address: a guess that hits learns nothing.
    assertLimited(await call('GET', '/api/v2/users/pat', from(ip, { 'x-api-key': s.apiKey })), 'right key, same address');
    ok(await call('GET', '/api/v2/users/pat', from(newIp(), { 'x-api-key': s.apiKey })), 'right key, another address');
  });

  test('wrong operator tokens are counted the same way', async () => {
    const ip = newIp();
    for (let i = 0; i < 3; i++) assertError(await call('POST', '/api/v2/admin/tenants', from(ip, { 'x-admin-token': `guess-${i}` }), { id: 'nope', name: 'Nope' }), 'auth.invalid_admin_token', `guess ${i}`);
    assertLimited(await call('POST', '/api/v2/admin/tenants', from(ip, { 'x-admin-token': ADMIN_TOKEN }), { id: 'nope', name: 'Nope' }), 'right token, same address');
  });

  test('forged bearer tokens are counted; an expired (genuine) token is not a guess', async () => {
    const ip = newIp();
    const now = Math.floor(Date.now() / 1000);
    const expired = signJwt({ tid: s.tenantId, sub: 'pat', role: 'patient', jti: 'x', iat: now - 100, exp: now - 10 }, SECRET);
    for (let i = 0; i < 5; i++) assertError(await call('GET', '/api/v2/sessions', from(ip, { authorization: `Bearer ${expired}` })), 'auth.token_expired', `expired ${i}`);
    const forged = signJwt({ tid: s.tenantId, sub: 'pat', role: 'patient', jti: 'x', iat: now, exp: now + 600 }, 'not-the-secret-0123456789abcdefghij');
    for (let i = 0; i < 3; i++) assertError(await call('GET', '/api/v2/sessions', from(ip, { authorization: `Bearer ${forged}` })), 'auth.invalid_token', `forged ${i}`);
    assertLimited(await call('GET', '/api/v2/sessions', from(ip, { authorization: `Bearer ${pat.token}` })), 'genuine token, same address');
  });

  test('the WebSocket upgrade counts against the same limit, and is refused once it is reached', async () => {
    const ip = newIp();
    for (let i = 0; i < 3; i++) {
      const r = await wsFrom(ip, `garbage.${i}.token`);
      assert.equal(r.first?.code, 'auth.invalid_token', `ws guess ${i}`);
      assert.equal(r.code, 4500);
    }
    const refused = await wsFrom(ip, pat.token);
    assert.equal(refused.first?.type, 'error');
    assert.equal(refused.first?.code, 'request.rate_limited');
    assert.ok(refused.first?.details?.retry_after >= 1, JSON.stringify(refused.first));
    assert.equal(refused.code, 1013, 'try again later');
    // REST from the same address is refused too: one counter.
    assertLimited(await call('GET', '/api/v2/users/pat', from(ip, { 'x-api-key': s.apiKey })), 'REST after WebSocket guesses');
    // Another address connects.
    assert.equal((await wsFrom(newIp(), pat.token)).first?.type, 'hello');
  });
});

describe('normal use', () => {
  test('logins per user: the limit, then 429; another user still logs in', async () => {
    const key = await newKey();
    const ip = newIp();
    ok(await call('PUT', '/api/v2/management/users/lola', from(ip, { 'x-api-key': key }), { role: 'patient', name: 'Lola' }));
    ok(await call('PUT', '/api/v2/management/users/lena', from(ip, { 'x-api-key': key }), { role: 'patient', name: 'Lena' }));
    for (let i = 0; i < 2; i++) ok(await call('POST', '/api/v2/users/login', from(ip, { 'x-api-key': key }), { user_id: 'lola' }), `login ${i}`);
    assertLimited(await call('POST', '/api/v2/users/login', from(ip, { 'x-api-key': key }), { user_id: 'lola' }), 'third login');
    ok(await call('POST', '/api/v2/users/login', from(ip, { 'x-api-key': key }), { user_id: 'lena' }), 'another user');
  });

  test('requests per API key: the limit, then 429; another key goes on', async () => {
    const key = await newKey();
    const ip = newIp();
    for (let i = 0; i < 20; i++) ok(await call('GET', '/api/v2/users/pat', from(ip, { 'x-api-key': key })), `call ${i}`);
    assertLimited(await call('GET', '/api/v2/users/pat', from(ip, { 'x-api-key': key })), 'call 21');
    ok(await call('GET', '/api/v2/users/pat', from(ip, { 'x-api-key': await newKey() })), 'another key');
  });

  test('requests per user token: the limit, then 429; another user goes on', async () => {
    const u = await s.user('ulla');
    const ip = newIp();
    for (let i = 0; i < 4; i++) ok(await call('GET', '/api/v2/sessions', from(ip, { authorization: `Bearer ${u.token}` })), `call ${i}`);
    assertLimited(await call('GET', '/api/v2/sessions', from(ip, { authorization: `Bearer ${u.token}` })), 'call 5');
    const other = await s.user('olga');
    ok(await call('GET', '/api/v2/sessions', from(ip, { authorization: `Bearer ${other.token}` })), 'another user');
  });

  test('public paths per client address', async () => {
    const ip = newIp();
    for (let i = 0; i < 5; i++) ok(await call('GET', '/healthz', from(ip)), `call ${i}`);
    assertLimited(await call('GET', '/healthz', from(ip)), 'call 6');
    ok(await call('GET', '/healthz', from(newIp())), 'another address');
  });

  test('long-polls are counted per user, not against the public limit of their address (staff behind one address)', async () => {
    const ip = newIp();
    const staff = await Promise.all(['lp-a', 'lp-b', 'lp-c'].map((id) => s.user(id, 'doctor')));
    // 3 users × 3 requests = 9 from one address, over its public limit of 5.
    for (const u of staff) {
      const auth = from(ip, { authorization: `Bearer ${u.token}` });
      ok(await call('GET', '/api/v2/poll?hello=1&timeout=0', auth), `${u.id}: first poll`);
      ok(await call('POST', '/api/v2/poll/send', auth, [{ type: 'ping', id: 'p' }]), `${u.id}: POST`);
      ok(await call('GET', '/api/ping', auth), `${u.id}: seed 002 ping`);
    }
    // None of them counted there…
    for (let i = 0; i < 5; i++) ok(await call('GET', '/healthz', from(ip)), `public call ${i}`);
    assertLimited(await call('GET', '/healthz', from(ip)), 'public call 6');
    // …and each user's own limit (4) still holds for their polls.
    const auth = from(ip, { authorization: `Bearer ${staff[0]!.token}` });
    ok(await call('GET', '/api/v2/poll?timeout=0', auth), 'fourth request of the user');
    assertLimited(await call('GET', '/api/v2/poll?timeout=0', auth), 'fifth request of the user');
  });
});

describe('the default limits', () => {
  test('an integrator creating and logging in users at full speed from one address is not throttled', async () => {
    const defaults = (Value.Default(ConfigSchema, {}) as { rateLimit: unknown }).rateLimit;
    const d = await startTestServer({ config: { rateLimit: defaults } });
    try {
      const ids = Array.from({ length: 300 }, (_, i) => `bulk${i}`);
      const statuses = new Map<number, number>();
      const note = (st: number) => statuses.set(st, (statuses.get(st) ?? 0) + 1);
      for (let i = 0; i < ids.length; i += 25) {
        await Promise.all(ids.slice(i, i + 25).map(async (id) => {
          note((await d.call('PUT', `/api/v2/management/users/${id}`, { body: { role: 'patient', name: id } })).status);
          note((await d.call('POST', '/api/v2/users/login', { body: { user_id: id } })).status);
        }));
      }
      assert.deepEqual([...statuses], [[200, 600]]);
    } finally {
      await d.stop();
    }
  });

  test('the limits can be switched off', async () => {
    const d = await startTestServer({ config: { rateLimit: { enabled: false, failedAuthPerIp: 1 } } });
    try {
      for (let i = 0; i < 4; i++) assertError(await d.call('GET', '/api/v2/users/x', { apiKey: `ck_wrong${i}` }), 'auth.invalid_api_key');
      assertError(await d.call('GET', '/api/v2/users/x'), 'user.not_found', 'the right key goes on');
    } finally {
      await d.stop();
    }
  });
});
