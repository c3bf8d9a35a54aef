/**
 * Every WebSocket failure is answered in the protocol's terms: a refused upgrade with a JSON
 * `{code, message}` body, invalid UTF-8 with close 1007 (not a dropped socket), a frame too
 * large with 1009, and a `read` frame's id with the `read` receipt that answers it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, sleep } from '../support/ws-client.ts';
import { insertMessages } from '../support/seed.ts';
import { CARRIERS } from '../support/frame-client.ts';
import { openOver } from '../support/carriers.ts';

/** A raw HTTP exchange: writes `request`, resolves with everything read until the server closes. */
function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let got = '';
    socket.on('data', (b) => (got += b.toString('utf8')));
    socket.on('end', () => resolve(got));
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    setTimeout(() => (socket.destroy(), resolve(got)), 5000).unref();
  });
}

const upgrade = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

/** A masked client frame (with a zero mask, so the payload goes as is), as a browser would send it. */
function clientFrame(payload: Buffer, opcode = 1): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : n < 65_536 ? Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]) : Buffer.alloc(10);
  if (n >= 65_536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

describe('how WebSocket failures are answered', () => {
  let s: TestServer;
  let pat: { id: string; token: string };
  let conv: string;
  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 } } });
    pat = await s.user('pat', 'patient');
    await s.user('doc', 'doctor');
    conv = await s.conversation({ participants: ['pat', 'doc'] });
  });
  after(async () => {
    await s.stop();
  });

  it('an upgrade on another path answers 404 with a JSON {code, message} body', async () => {
    const res = await rawHttp(s.server.port, upgrade('/not-ws'));
    const [head, body] = res.split('\r\n\r\n') as [string, string];
    assert.match(head, /^HTTP\/1\.1 404 /);
    assert.match(head, /\r\ncontent-type: application\/json; charset=utf-8/i);
    const parsed = JSON.parse(body) as { code: string; message: string };
    assert.equal(parsed.code, 'request.route_not_found');
    assert.equal(typeof parsed.message, 'string');
    assert.match(head, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(body)}\\r?`, 'i'));
  });

  it('an upgrade during shutdown answers 503 server.unavailable as JSON', async () => {
    const s2 = await startTestServer();
    try {
      s2.server.realtime.shutdown();
      const res = await rawHttp(s2.server.port, upgrade('/ws'));
      const [head, body] = res.split('\r\n\r\n') as [string, string];
      assert.match(head, /^HTTP\/1\.1 503 /);
      assert.match(head, /\r\ncontent-type: application\/json/i);
      assert.equal((JSON.parse(body) as { code: string }).code, 'server.unavailable');
    } finally {
      await s2.stop();
    }
  });

  it('invalid UTF-8 in a text frame closes with 1007', async () => {
    const c = await WsClient.open(s.wsUrl, pat.token);
    // A ping the server answers at once and the invalid frame, in one TCP write.
    const socket = (c.ws as unknown as { _socket: { write(b: Buffer): void } })._socket;
    socket.write(Buffer.concat([clientFrame(Buffer.from('{"type":"ping","id":"p"}')), clientFrame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))]));
    assert.equal((await c.closed).code, 1007);
  });

  it('invalid UTF-8 closes with 1007 also while output waits in the socket (the close frame goes out after it)', async () => {
    const c2 = await s.conversation({ participants: ['pat', 'doc'], type: 4, name: 'bulk' });
    insertMessages(s.dbPath, s.tenantId, c2, 'doc', 1500, 'z'.repeat(4000));
    const c = await WsClient.open(s.wsUrl, pat.token);
    const socket = (c.ws as unknown as { _socket: { write(b: Buffer): void; pause(): void; resume(): void } })._socket;
    socket.pause();
    c.send({ type: 'sync', id: 'y', cursors: { [c2]: 0 } });
    // Until the kernel's buffers are full and output waits in the server's socket.
    const deadline = Date.now() + 10_000;
    const mine = () => [...s.server.ws.hub.connections()].find((x) => x.principal.userId === 'pat');
    while ((mine()?.buffered() ?? 0) === 0 && Date.now() < deadline) await sleep(20);
    assert.ok((mine()?.buffered() ?? 0) > 0, 'output waits in the server');
    socket.write(clientFrame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])));
    await sleep(100);
    socket.resume();
    assert.equal((await c.closed).code, 1007);
  });

  it('a frame over ws.maxFrameBytes closes with 1009', async () => {
    const c = await WsClient.open(s.wsUrl, pat.token);
    const socket = (c.ws as unknown as { _socket: { write(b: Buffer): void } })._socket;
    socket.write(Buffer.concat([clientFrame(Buffer.from('{"type":"ping","id":"p"}')), clientFrame(Buffer.alloc(70_000, 0x20))]));
    assert.equal((await c.closed).code, 1009);
  });

  // The same over every carrier: a receipt answers its read's id on long-polling and MQTT too.
  for (const carrier of CARRIERS) it(`a read frame with an id is answered by the reader's own read receipt carrying that id; without an id, as before, over ${carrier}`, async () => {
    const c = await openOver(carrier, s, pat.token);
    const c0 = await s.conversation({ participants: ['pat', 'doc'], type: 4, name: `reads over ${carrier}` });
    await s.sendAs('doc', c0, 'one');
    await s.sendAs('doc', c0, 'two');
    c.send({ type: 'read', id: 'r1', conversation_id: c0, seq: 1 });
    const r1 = await c.next((f) => f.type === 'read' && f.id === 'r1');
    assert.deepEqual({ ...r1 }, { type: 'read', id: 'r1', conversation_id: c0, user_id: 'pat', seq: 1 });
    // Only one receipt for that read reaches the reader's connection.
    c.send({ type: 'ping', id: 'after' });
    await c.next((f) => f.type === 'pong' && f.id === 'after');
    // Only one receipt with that id; on long-polling the poll session also gets the plain one,
    // as it stands for every poller of that login (two tabs of one sign-in share it).
    assert.equal(c.frames.filter((f) => f.type === 'read' && f.seq === 1 && f.id === 'r1').length, 1);
    assert.equal(c.frames.filter((f) => f.type === 'read' && f.seq === 1).length, carrier === 'longpoll' ? 2 : 1);
    c.send({ type: 'read', conversation_id: c0, seq: 2 });
    const r2 = await c.next((f) => f.type === 'read' && f.seq === 2);
    assert.equal(r2.id, undefined);
    // A read that fails is answered by an error with the id.
    c.send({ type: 'read', id: 'r3', conversation_id: 'no-such-conversation', seq: 1 });
    const e = await c.next((f) => f.type === 'error' && f.id === 'r3');
    assert.equal(e.code, 'conversation.not_found');
    c.close();
  });
});
