/**
 * Slowloris: connections that send nothing, half a request's headers, or a body that never
 * ends are cut after the configured timeouts; idle keep-alive connections too. Raw TCP
 * sockets against a real server with small timeouts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, sleep } from '../support/ws-client.ts';

/** Opens a raw socket, writes `data`, resolves with what the server sent and when it closed (ms after the write), or null if still open after `waitMs`. */
function probe(port: number, data: string, waitMs: number): Promise<{ ms: number; got: string } | null> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let got = '';
    let t0 = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, waitMs);
    socket.on('connect', () => {
      t0 = Date.now();
      if (data) socket.write(data);
    });
    socket.on('data', (b) => (got += b.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - t0, got });
    });
    socket.on('timeout', () => reject(new Error('unexpected')));
  });
}

describe('HTTP connection timeouts', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ config: { http: { headersTimeoutMs: 500, requestTimeoutMs: 1000, keepAliveTimeoutMs: 500 } } });
  });
  after(async () => {
    await s.stop();
  });

  it('a connection that sends nothing is closed after the headers timeout', async () => {
    const r = await probe(s.server.port, '', 5000);
    assert.ok(r, 'still open after 5 s');
  });

  it('half a request (headers never finished) is cut after the headers timeout', async () => {
    const r = await probe(s.server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a', 5000);
    assert.ok(r, 'still open after 5 s');
    assert.ok(r.ms >= 400, `closed after ${r.ms} ms`);
  });

  it('a body that never ends is cut after the request timeout', async () => {
    const r = await probe(s.server.port, `POST /api/v2/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Api-Key: ${s.apiKey}\r\nContent-Length: 100\r\n\r\n{"user_id":`, 5000);
    assert.ok(r, 'still open after 5 s');
    assert.ok(r.ms >= 900, `closed after ${r.ms} ms`);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout; a whole request is answered', async () => {
    const r = await probe(s.server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
    assert.ok(r, 'still open after 5 s');
    assert.match(r.got, /^HTTP\/1\.1 200/);
  });

  it('an open WebSocket is not cut by them', async () => {
    const u = await s.user('ws-user', 'patient');
    const c = await WsClient.open(s.wsUrl, u.token);
    await sleep(2500);
    c.send({ type: 'ping', id: 'still' });
    assert.equal((await c.next((f) => f.type === 'pong' && f.id === 'still')).type, 'pong');
    c.close();
  });
});

describe('HTTP timeouts by default', () => {
  it('are set from the config on the server', async () => {
    const s = await startTestServer();
    try {
      const server = s.server.http.server;
      const cfg = s.server.core.config.http;
      assert.equal(server.headersTimeout, cfg.headersTimeoutMs);
      assert.equal(server.requestTimeout, cfg.requestTimeoutMs);
      assert.equal(server.keepAliveTimeout, cfg.keepAliveTimeoutMs);
      assert.ok(cfg.headersTimeoutMs <= 10_000 && cfg.requestTimeoutMs <= 30_000);
    } finally {
      await s.stop();
    }
  });
});
