/**
 * The protocol against a real server: auth, send/ack, fan-out, receipts, typing, presence,
 * errors, limits. One suite over every transport that carries the frames (WebSocket,
 * long-poll, MQTT on the frames topic: `support/frames-suite.ts`, which runs on a cluster too);
 * binary frames and the Authorization header of the upgrade are WebSocket's alone, here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CloseCodes } from '@careline/protocol';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient } from '../support/ws-client.ts';
import { framesSuite, type FramesEnv } from '../support/frames-suite.ts';

describe('websocket protocol', () => {
  let s: TestServer;
  let doc: { id: string; token: string };
  let doc2: { id: string; token: string };
  let pat: { id: string; token: string };
  let conv: string;
  const open: WsClient[] = [];
  const client = async (token: string, opts?: { sync?: boolean }) => {
    const c = await WsClient.open(s.wsUrl, token, opts);
    open.push(c);
    return c;
  };

  before(async () => {
    // Every test opens connections of the same users over three carriers: a cap that they do not reach.
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 }, ws: { maxConnectionsPerUser: 500 } } });
    doc = await s.user('doc', 'doctor', 'Dr. Doc');
    doc2 = await s.user('doc', 'doctor', 'Dr. Doc'); // a second login: another device of the same user
    pat = await s.user('pat', 'patient', 'Pat');
    await s.user('outsider', 'patient');
    conv = await s.conversation({ participants: ['doc', 'pat'] });
  });
  after(async () => {
    for (const c of open) c.close();
    await s.stop();
  });

  describe('authentication', () => {
    for (const [name, token, code, close] of [
      ['no token', null, 'auth.missing', CloseCodes.AUTH_FAILED],
    ] as const) {
      it(`refuses ${name} with an error frame and close ${close}`, async () => {
        const c = await WsClient.connect(s.wsUrl, token);
        const err = await c.next((f) => f.type === 'error');
        assert.equal(err.code, code);
        assert.equal((await c.closed).code, close);
      });
    }

    it('accepts the token in an Authorization header and says hello', async () => {
      const ws = new WebSocket(s.wsUrl, { headers: { authorization: `Bearer ${pat.token}` } });
      const hello = await new Promise<any>((resolve, reject) => {
        ws.once('message', (d) => resolve(JSON.parse(d.toString())));
        ws.once('error', reject);
      });
      assert.equal(hello.type, 'hello');
      assert.equal(hello.user.id, 'pat');
      assert.equal(typeof hello.heartbeat_ms, 'number');
      assert.equal(typeof hello.max_frame_bytes, 'number');
      ws.close();
    });
  });

  it('a binary frame gets frame.binary_unsupported (WebSocket alone has binary frames); the connection stays up', async () => {
    const a = await client(doc.token);
    a.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await a.next((f) => f.type === 'error' && f.code === 'frame.binary_unsupported');
    a.send({ type: 'ping', id: 'still-here' });
    await a.next((f) => f.type === 'pong' && f.id === 'still-here');
  });

  /** One server: every connection to it. */
  const env = (): FramesEnv => ({
    at: () => ({ url: s.url, wsUrl: s.wsUrl, mqttUrl: `mqtt://127.0.0.1:${s.server.mqttPort}` }),
    tenantId: s.tenantId,
    tokenSecret: s.server.core.config.auth.tokenSecret,
    maxFrameBytes: s.server.core.config.ws.maxFrameBytes,
    user: (id, role) => s.user(id, role),
    call: (method, path, opts) => s.call(method, path, opts),
    doc, doc2, pat, conv,
  });
  for (const transport of ['websocket', 'longpoll', 'mqtt'] as const) framesSuite(env, transport);
});
