/**
 * What every HTTP answer carries: a coded JSON body even when Node's HTTP parser refuses the
 * request (431, 400), `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` on API
 * responses, a CSP on /docs, and /metrics behind a token when one is set.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startTestServer, type TestServer } from '../support/server.ts';
import { assertError, ok } from './helpers.ts';

let s: TestServer;
let pat: { id: string; token: string };

before(async () => {
  s = await startTestServer();
  pat = await s.user('pat', 'patient');
});
after(() => s.stop());

/** Writes `request` as raw bytes and reads the whole answer (the server closes the socket). */
function rawHttp(url: string, request: string | Buffer): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete answer in time: ${JSON.stringify(data)}`));
    }, 5000);
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (data += c));
    sock.on('error', () => {
      /* the server may reset after answering */
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    sock.write(request);
  });
}

const json = (body: string) => {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
};

describe('requests the HTTP parser refuses', () => {
  test('headers over the limit: 431 with { code: request.headers_too_large, message }', async () => {
    const r = await rawHttp(s.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    assertError({ status: r.status, body: json(r.body) }, 'request.headers_too_large');
  });

  test('not HTTP at all: 400 with { code: request.malformed, message }', async () => {
    for (const bad of ['HELLO THERE\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n', 'GET / HTTP/1.1\r\nBad Header\r\n\r\n']) {
      const r = await rawHttp(s.url, bad);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/, JSON.stringify(bad));
      assertError({ status: r.status, body: json(r.body) }, 'request.malformed', JSON.stringify(bad));
    }
  });

  test('the server goes on answering afterwards', async () => {
    ok(await s.call('GET', '/healthz'));
  });
});

describe('response headers', () => {
  test('API answers (success and error, user and integrator) are no-store and nosniff', async () => {
    const answers = [
      await fetch(`${s.url}/api/v2/sessions`, { headers: { authorization: `Bearer ${pat.token}` } }),
      await fetch(`${s.url}/api/v2/users/pat`, { headers: { 'x-api-key': s.apiKey } }),
      await fetch(`${s.url}/api/v2/users/nobody`, { headers: { 'x-api-key': s.apiKey } }),
      await fetch(`${s.url}/api/v2/sessions`),
      await fetch(`${s.url}/api/v2/no/such/route`),
      await fetch(`${s.url}/healthz`),
      await fetch(`${s.url}/docs/json`),
    ];
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 404, 401, 404, 200, 200]);
    for (const r of answers) {
      await r.arrayBuffer();
      assert.equal(r.headers.get('cache-control'), 'no-store', r.url);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', r.url);
    }
  });

  test('the SDK bundle keeps its own caching (or answers a coded 404 when not built)', async () => {
    const r = await fetch(`${s.url}/sdk/im.client.js`);
    await r.arrayBuffer();
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('cache-control'), r.status === 200 ? 'public, max-age=300' : 'no-store');
  });

  test('/docs has a Content-Security-Policy that allows only this server, and may not be framed elsewhere', async () => {
    const r = await fetch(`${s.url}/docs/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/html/);
    await r.text();
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /object-src 'none'/);
    assert.match(csp, /frame-ancestors 'self'/);
    assert.doesNotMatch(csp, /upgrade-insecure-requests/, 'the docs stay usable over plain HTTP on a private network');
  });
});

describe('/metrics behind a token', () => {
  test('without a configured token it is open (dev and tests)', async () => {
    assert.equal((await fetch(`${s.url}/metrics`)).status, 200);
  });

  test('with one: the Bearer token opens it; none or a wrong one is auth.invalid_metrics_token, and guesses are counted', async () => {
    const token = 'm'.repeat(8) + '-metrics-token-0123456789abcdef';
    const m = await startTestServer({ config: { metrics: { token }, http: { trustProxy: true }, rateLimit: { failedAuthPerIp: 2 } } });
    try {
      const get = async (headers: Record<string, string>) => {
        const r = await fetch(`${m.url}/metrics`, { headers });
        const text = await r.text();
        return { status: r.status, body: json(text), text, headers: r.headers };
      };
      const good = await get({ authorization: `Bearer ${token}` });
      assert.equal(good.status, 200);
      assert.match(good.text, /careline_/);
      assertError(await get({}), 'auth.invalid_metrics_token', 'none');
      const ip = { 'x-forwarded-for': '203.0.113.9' };
      assertError(await get({ ...ip, authorization: 'Bearer guess-1' }), 'auth.invalid_metrics_token', 'wrong');
      assertError(await get({ ...ip, authorization: `Bearer ${token}x` }), 'auth.invalid_metrics_token', 'wrong');
      assertError(await get({ ...ip, authorization: `Bearer ${token}` }), 'request.rate_limited', 'after two guesses');
    } finally {
      await m.stop();
    }
  });
});
