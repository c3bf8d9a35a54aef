/**
 * The real-time layer knows no socket: a transport of another kind (here an in-memory one, as
 * long-polling or MQTT would be) opens connections through `Realtime` and gets the same
 * protocol — hello, frame handling and errors, fan-out shared with WebSocket clients, the
 * per-user cap, refusals and shutdown as listed `Disconnect` reasons.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Disconnect } from '@careline/protocol';
import { handlers, type FrameHandlers } from '../../src/realtime/handlers.ts';
import { ClientFrames } from '@careline/protocol';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, sleep } from '../support/ws-client.ts';
import { MemoryTransport } from '../support/memory-transport.ts';

const srcDir = new URL('../../src/realtime/', import.meta.url);

describe('the real-time layer', () => {
  it('imports no socket, no HTTP and no transport adapter', () => {
    const files = readdirSync(srcDir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length >= 5, files.join());
    for (const f of files) {
      const text = readFileSync(new URL(f, srcDir), 'utf8');
      const imports = [...text.matchAll(/^\s*import\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);
      for (const spec of imports) {
        assert.ok(!/^(ws|fastify|node:(http|https|net|tls|stream|dgram))$/.test(spec) && !/\/(ws|http)\//.test(spec), `${f} imports ${spec}`);
      }
    }
  });

  it('has one handler per client frame type', () => {
    assert.deepEqual(Object.keys(handlers).sort(), Object.keys(ClientFrames).sort());
    // And the type says so: a table without one of them does not compile (`npm run typecheck`).
    const { ping: _ping, ...rest } = handlers;
    // @ts-expect-error the `ping` handler is missing
    const incomplete: FrameHandlers = rest;
    assert.equal(Object.keys(incomplete).length, Object.keys(ClientFrames).length - 1);
  });

  describe('over a transport of another kind', () => {
    let s: TestServer;
    const tok: Record<string, string> = {};
    let conv: string;
    before(async () => {
      s = await startTestServer({ config: { ws: { maxConnectionsPerUser: 2 } } });
      for (const id of ['pat', 'doc']) tok[id] = (await s.user(id, id === 'pat' ? 'patient' : 'doctor')).token;
      conv = await s.conversation({ participants: ['pat', 'doc'] });
    }, { timeout: 20_000 });
    after(() => s.stop());

    const open = async (user: string) => {
      const t = new MemoryTransport();
      const auth = await s.server.core.auth.authenticate(tok[user]!);
      assert.equal(s.server.realtime.admit(auth), null);
      t.conn = s.server.realtime.open(t, auth, { holdUntilSync: false });
      return t;
    };

    it('opens with hello, answers frames, reports bad ones, and delivers to and from WebSocket clients', async () => {
      const t = await open('pat');
      const hello = t.frames[0]!;
      assert.equal(hello.type, 'hello');
      assert.equal(hello.user.id, 'pat');
      assert.equal(hello.connection_id, t.conn!.id);

      t.input(JSON.stringify({ type: 'ping', id: 'p1' }));
      assert.equal((await t.next((f) => f.type === 'pong')).id, 'p1');
      t.input('{nope');
      assert.equal((await t.next((f) => f.type === 'error')).code, 'frame.invalid_json');
      t.input(JSON.stringify({ type: 'bogus', id: 'b1' }));
      assert.equal((await t.next((f) => f.type === 'error' && f.id === 'b1')).code, 'frame.unknown_type');
      t.input(JSON.stringify({ type: 'send', id: 's0', conversation_id: conv }));
      assert.equal((await t.next((f) => f.type === 'error' && f.id === 's0')).code, 'frame.invalid');
      t.input(JSON.stringify({ type: 'send', id: 's9', conversation_id: 'nowhere', message: { client_id: 'c9', type: 1, content: { text: 'x' } } }));
      assert.match((await t.next((f) => f.type === 'error' && f.id === 's9')).code, /^conversation\./);

      // A WebSocket client and this one share the fan-out.
      const doc = await WsClient.open(s.wsUrl, tok.doc!);
      try {
        t.input(JSON.stringify({ type: 'send', id: 's1', conversation_id: conv, message: { client_id: 'c1', type: 1, content: { text: 'hi' } } }));
        const ack = await t.next((f) => f.type === 'ack' && f.id === 's1');
        const got = await doc.next((f) => f.type === 'message' && f.message.id === ack.message_id);
        assert.equal(got.message.content.text, 'hi');
        doc.send({ type: 'send', id: 'd1', conversation_id: conv, message: { client_id: 'd1', type: 1, content: { text: 'hello back' } } });
        const back = await t.next((f) => f.type === 'message' && f.message.content.text === 'hello back');
        assert.equal(back.message.sender_id, 'doc');
        assert.equal(back.message.seq, ack.seq + 1);
      } finally {
        doc.close();
        await doc.closed;
      }
      await sleep(20);

      const before = s.server.realtime.hub.size;
      t.conn!.close(Disconnect.USER_CHANGED);
      assert.deepEqual(t.closedWith, { why: Disconnect.USER_CHANGED, reason: 'user changed' });
      await sleep(10);
      assert.equal(s.server.realtime.hub.size, before - 1, 'a closed connection leaves the hub');
    });

    it('the per-user cap and a refusal are the same as on the WebSocket', async () => {
      const a = await open('doc');
      const b = await open('doc');
      const auth = await s.server.core.auth.authenticate(tok.doc!);
      const over = s.server.realtime.admit(auth);
      assert.equal(over?.code, 'connection.too_many');
      const refused = new MemoryTransport();
      s.server.realtime.refuse(refused, over!);
      assert.equal(refused.frames[0]!.code, 'connection.too_many');
      assert.deepEqual(refused.closedWith, { why: Disconnect.TOO_MANY_CONNECTIONS, reason: 'connection.too_many' });
      const bad = new MemoryTransport();
      s.server.realtime.refuse(bad, { code: 'auth.invalid_token', message: 'no' });
      assert.deepEqual(bad.closedWith, { why: Disconnect.AUTH_FAILED, reason: 'auth.invalid_token' });
      for (const t of [a, b]) t.conn!.close(Disconnect.SHUTDOWN);
    });

    it('shutdown closes every transport with SHUTDOWN and refuses new clients', async () => {
      const s2 = await startTestServer();
      try {
        const { token } = await s2.user('u1');
        const t = new MemoryTransport();
        t.conn = s2.server.realtime.open(t, await s2.server.core.auth.authenticate(token), { holdUntilSync: false });
        const ws = await WsClient.open(s2.wsUrl, token);
        s2.server.realtime.shutdown();
        assert.equal(s2.server.realtime.accepting, false);
        assert.deepEqual(t.closedWith, { why: Disconnect.SHUTDOWN, reason: 'server shutting down' });
        assert.deepEqual(await ws.closed, { code: 4000, reason: 'server shutting down' });
      } finally {
        await s2.stop();
      }
    });
  });
});
