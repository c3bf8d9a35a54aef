/**
 * Rate limits shared by several nodes: two servers given one Redis client count the same
 * client address together — failed authentication over REST on one node and the WebSocket
 * upgrade on the other add up to one limit, and a request past it is refused on either node.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { startRedis, type Service } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

let redis: Service;
let client: Redis;
let a: TestServer;
let b: TestServer;
const config = { http: { trustProxy: true }, rateLimit: { failedAuthPerIp: 3 } };

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  a = await startTestServer({ config, redis: client });
  b = await startTestServer({ config, redis: client });
}, { timeout: 30_000 });
after(async () => {
  await a?.stop();
  await b?.stop();
  client?.disconnect();
  await redis?.stop();
});

const badKey = (s: TestServer, ip: string) =>
  fetch(`${s.url}/api/v2/users/x`, { headers: { 'x-forwarded-for': ip, authorization: 'Bearer nope.nope.nope' } }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code: string } }));

/** The WebSocket upgrade with a forged token: the error frame's code (or the HTTP refusal). */
const badUpgrade = (s: TestServer, ip: string) =>
  new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(`${s.wsUrl}?token=forged.token.x`, { headers: { 'x-forwarded-for': ip } });
    ws.on('message', (d) => {
      resolve((JSON.parse(String(d)) as { code: string }).code);
      ws.terminate();
    });
    ws.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
    ws.on('error', reject);
  });

test('two nodes on one Redis share the failed-authentication limit of an address, over REST and the WebSocket upgrade', { timeout: 30_000 }, async () => {
  const ip = '203.0.113.7';
  assert.equal((await badKey(a, ip)).body.code, 'auth.invalid_token');
  assert.equal((await badKey(b, ip)).body.code, 'auth.invalid_token');
  assert.equal(await badUpgrade(b, ip), 'auth.invalid_token');
  // Three guesses in all, on two nodes: the fourth is refused on either node before it is checked.
  const refused = await badKey(a, ip);
  assert.equal(refused.status, 429);
  assert.equal(refused.body.code, 'request.rate_limited');
  assert.equal(await badUpgrade(b, ip), 'request.rate_limited');
  // Another address is not concerned.
  assert.equal((await badKey(b, '203.0.113.8')).body.code, 'auth.invalid_token');
  assert.ok((await client.keys('careline:ratelimit:*')).length > 0, 'the counters are in Redis');
});
