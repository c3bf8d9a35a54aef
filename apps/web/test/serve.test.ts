/**
 * The server serves the built client at `/` (caching, client routes, never shadowing its own
 * paths) and, in the dev profile only, the demo users' tokens.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '@careline/server/testing';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** A GET whose body is always read (an unread body keeps the connection busy, and the server from closing). */
async function get(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web client, served at /', () => {
  let t: TestServer;
  before(async () => {
    assert.ok(existsSync(`${dist}index.html`), 'apps/web/dist is missing: run `npm run build` first');
    t = await startTestServer();
  });
  after(() => t.stop());

  it('serves index.html at / and for client routes, revalidated, with security headers', async () => {
    for (const path of ['/', '/c/some%20conversation', '/consultations', '/inbox']) {
      const res = await fetch(t.url + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      assert.ok(res.headers.get('etag'), 'an ETag to revalidate with');
      assert.match(await res.text(), /<div id="root"><\/div>/);
    }
    const head = await get(t.url + '/', { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('the page may be framed by its own origin only, unless web.frameAncestors names the integrator\'s', async () => {
    const csp = (await get(t.url + '/')).headers.get('content-security-policy') ?? '';
    assert.match(csp, /(^|; )frame-ancestors 'self'$/);
    const embedded = await startTestServer({ config: { web: { frameAncestors: 'https://portal.example.com https://*.clinic.example' } } });
    try {
      const res = await get(embedded.url + '/c/x');
      assert.match(res.headers.get('content-security-policy') ?? '', /(^|; )frame-ancestors 'self' https:\/\/portal\.example\.com https:\/\/\*\.clinic\.example$/);
      assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    } finally {
      await embedded.stop();
    }
  });

  it('serves hashed assets as immutable and other files revalidated', async () => {
    const assets = readdirSync(`${dist}assets`);
    const js = assets.find((f) => f.endsWith('.js'));
    assert.ok(js);
    const res = await get(`${t.url}/assets/${js}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /javascript/);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const icon = await get(`${t.url}/favicon.svg`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get('cache-control'), 'no-cache');
    const missing = await fetch(`${t.url}/assets/missing-123.js`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).code, 'request.route_not_found');
  });

  it('never shadows the server\'s own paths', async () => {
    for (const path of ['/api/v2/nope', '/api', '/ws/x', '/sdk/nope.js', '/monitor/x', '/metrics/x', '/healthz/x', '/readyz/x']) {
      const res = await fetch(t.url + path);
      assert.equal(res.status, 404, path);
      assert.equal((await res.json()).code, 'request.route_not_found', path);
    }
    assert.equal((await get(`${t.url}/healthz`)).status, 200);
    assert.equal((await get(`${t.url}/readyz`)).status, 200);
    assert.equal((await get(`${t.url}/monitor/api/ping`)).status, 200);
    assert.equal((await get(`${t.url}/sdk/im.client.js`)).status, 200);
    assert.match((await get(`${t.url}/metrics`)).headers.get('content-type') ?? '', /text\/plain/);
    const docs = await fetch(`${t.url}/docs/json`);
    assert.equal(docs.status, 200);
    const spec = (await docs.json()) as { paths: Record<string, { get?: { tags?: string[] } }> };
    assert.deepEqual(spec.paths['/api/v2/demo/users']?.get?.tags, ['demo']);
    assert.equal(spec.paths['/*'], undefined, 'the client\'s routes are not API paths');
  });

  it('refuses paths outside the client\'s folder', async () => {
    for (const path of ['/%2e%2e/package.json', '/..%2fpackage.json', '/assets/%2e%2e/%2e%2e/package.json', '/%00']) {
      const res = await rawGet(t.url, path);
      assert.ok(res.status === 404 || res.status === 400 || res.status === 403, `${path} → ${res.status}`);
      assert.doesNotMatch(res.body, /"workspaces"/);
    }
  });

  it('has no demo users outside the dev profile', async () => {
    const res = await fetch(`${t.url}/api/v2/demo/users`);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).code, 'request.route_not_found');
  });
});

describe('demo sign-in (dev profile)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ config: { demo: true } });
  });
  after(() => t.stop());

  it('hands out the demo users with fresh tokens, seeding the demo clinic once', async () => {
    const res = await fetch(`${t.url}/api/v2/demo/users`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as { tenant_id: string; conversation_id: string; users: { id: string; role: string; name: string; token: string }[] };
    assert.equal(body.tenant_id, 'demo');
    assert.deepEqual(body.users.map((u) => [u.id, u.role]), [['dr.li', 'doctor'], ['pt.zhang', 'patient'], ['dr.chen', 'doctor']]);
    const patient = body.users.find((u) => u.id === 'pt.zhang')!;
    const sessions = await t.call('GET', '/api/v2/sessions', { token: patient.token });
    assert.equal(sessions.status, 200);
    assert.deepEqual(sessions.body.sessions.map((s: { id: string }) => s.id), [body.conversation_id]);
    const topic = await t.call('GET', `/api/v2/sessions/${body.conversation_id}/topics/current/ended`, { token: patient.token });
    assert.equal(topic.body.ended, false);

    // Again: new tokens, nothing seeded twice.
    const again = (await (await fetch(`${t.url}/api/v2/demo/users`)).json()) as typeof body;
    assert.equal(again.conversation_id, body.conversation_id);
    assert.notEqual(again.users[0]!.token, body.users[0]!.token);
    const history = await t.call('GET', `/api/v2/sessions/${body.conversation_id}/messages`, { token: patient.token });
    assert.deepEqual(history.body.messages.map((m: { type: number }) => m.type), [6, 1]);
  });
});
