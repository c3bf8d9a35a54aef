/**
 * Static assets — the SDK bundle and the built web client — are compressed as the request's
 * Accept-Encoding allows (brotli, gzip; none when none is acceptable), a compressed reply with
 * `Vary: Accept-Encoding`; the bytes decompress to the file on disk. API replies are not compressed.
 * Needs `npm run build` (the SDK bundle and apps/web/dist).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from 'node:zlib';
import { startTestServer, type TestServer } from '../support/server.ts';

const sdkFile = fileURLToPath(new URL('../../../sdk/dist/im.client.js', import.meta.url));
const webDist = fileURLToPath(new URL('../../../../apps/web/dist/', import.meta.url));

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** A GET with exactly these headers (no client-side decompression). */
function rawGet(url: string, path: string, headers: Record<string, string>): Promise<Raw> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const decode = (r: Raw): Buffer => {
  const enc = r.headers['content-encoding'];
  if (enc === 'br') return brotliDecompressSync(r.body);
  if (enc === 'gzip') return gunzipSync(r.body);
  if (enc === 'zstd') return zstdDecompressSync(r.body);
  assert.equal(enc, undefined, `unexpected content-encoding ${String(enc)}`);
  return r.body;
};

describe('compressed static assets', () => {
  let s: TestServer;
  const assets: { path: string; file: string }[] = [];

  before(async () => {
    assert.ok(existsSync(sdkFile), 'packages/sdk/dist is missing: run `npm run build` first');
    assert.ok(existsSync(`${webDist}index.html`), 'apps/web/dist is missing: run `npm run build` first');
    const files = readdirSync(`${webDist}assets`);
    const js = files.find((f) => f.endsWith('.js'));
    const css = files.find((f) => f.endsWith('.css'));
    assert.ok(js && css, 'the web build has a .js and a .css asset');
    assets.push(
      { path: '/sdk/im.client.js', file: sdkFile },
      { path: `/assets/${js}`, file: `${webDist}assets/${js}` },
      { path: `/assets/${css}`, file: `${webDist}assets/${css}` },
      { path: '/', file: `${webDist}index.html` },
      { path: '/consultations', file: `${webDist}index.html` },
    );
    s = await startTestServer();
  });
  after(() => s?.stop());

  const cases: [accept: string | null, expected: string | undefined][] = [
    ['br', 'br'],
    ['gzip', 'gzip'],
    ['gzip, deflate, br', 'br'],
    ['gzip, deflate, br, zstd', 'zstd'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=0.5, br;q=0.1', 'gzip'],
    ['identity', undefined],
    ['compress', undefined],
    ['br;q=0, gzip;q=0', undefined],
    [null, undefined],
  ];

  for (const [accept, expected] of cases) {
    test(`Accept-Encoding: ${accept ?? '(none)'} → ${expected ?? 'not compressed'}`, async () => {
      for (const { path, file } of assets) {
        const want = readFileSync(file);
        const r = await rawGet(s.url, path, accept === null ? {} : { 'accept-encoding': accept });
        assert.equal(r.status, 200, path);
        assert.equal(r.headers['content-encoding'], expected, `${path} with ${accept}`);
        if (expected) assert.match(String(r.headers.vary ?? ''), /accept-encoding/i, `${path}: Vary: Accept-Encoding`);
        assert.ok(decode(r).equals(want), `${path}: the bytes are the file's`);
        if (expected) assert.ok(r.body.length < want.length * (want.length > 4096 ? 0.5 : 1), `${path}: ${r.body.length} of ${want.length} bytes`);
      }
    });
  }

  test('cache headers are kept', async () => {
    const sdk = await rawGet(s.url, '/sdk/im.client.js', { 'accept-encoding': 'br' });
    assert.equal(sdk.headers['cache-control'], 'public, max-age=300');
    assert.match(String(sdk.headers['content-type']), /^application\/javascript/);
    const asset = assets[1]!;
    const a = await rawGet(s.url, asset.path, { 'accept-encoding': 'gzip' });
    assert.equal(a.headers['cache-control'], 'public, max-age=31536000, immutable');
  });

  test('API replies are not compressed (they carry tokens and patient content)', async () => {
    for (let i = 0; i < 30; i++) await s.call('PUT', `/api/v2/management/users/user-${i}`, { body: { role: 'patient', name: `A patient with a long enough name ${i}` } });
    const r = await rawGet(s.url, '/api/v2/management/users', { 'accept-encoding': 'br, gzip', 'x-api-key': s.apiKey });
    assert.equal(r.status, 200);
    assert.ok(r.body.length > 2048, 'a reply large enough to be compressed');
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(JSON.parse(r.body.toString()).users.length, 30);
  });
});
