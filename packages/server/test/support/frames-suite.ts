/**
 * The protocol's frames over one carrier (WebSocket, long-poll, MQTT on the frames topic): auth,
 * send/ack, fan-out, receipts, typing, presence, errors, limits. The same suite runs against one
 * server (`ws/protocol.test.ts`) and against a cluster (`cluster/protocol.test.ts`: each
 * connection a test opens goes to the next node, so the devices of one test sit on different
 * nodes). Where the carrier says a thing its own way (a refused token: a close code, an HTTP
 * status, a CONNACK; a frame over the limit) each asserts its equivalent.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import mqtt from 'mqtt';
import { CloseCodes } from '@careline/protocol';
import { WsClient, sleep } from './ws-client.ts';
import { PollClient } from './poll-client.ts';
import { MqttFrameClient } from './mqtt-frame-client.ts';

export type Carrier = 'websocket' | 'longpoll' | 'mqtt';

/** Where the suite's clients connect, and the tenant's users and conversation. */
export interface FramesEnv {
  /** The i-th place to connect (round-robin over the nodes): its HTTP base, WebSocket and MQTT URLs. */
  at(i: number): { url: string; wsUrl: string; mqttUrl: string };
  tenantId: string;
  tokenSecret: string;
  maxFrameBytes: number;
  /** Upserts a user and logs them in. */
  user(id: string, role: 'patient' | 'doctor' | 'staff'): Promise<{ id: string; token: string }>;
  /** An HTTP call with JSON in and out (the tenant's API key unless a token is given). */
  call(method: string, path: string, opts?: { body?: unknown; token?: string }): Promise<{ status: number; body: any }>;
  /** A doctor (two logins: two devices) and a patient in the conversation `conv`. */
  doc: { id: string; token: string };
  doc2: { id: string; token: string };
  pat: { id: string; token: string };
  conv: string;
}

export function framesSuite(e: () => FramesEnv, transport: Carrier): void {
  const open_: (WsClient | PollClient | MqttFrameClient)[] = [];
  /** The next place to connect to (each connection of a test on the next node). */
  let next = 0;
  describe(`frames over ${transport}`, () => {
    afterEach(() => {
      for (const c of open_.splice(0)) c.close();
    });
    let doc: FramesEnv['doc'], doc2: FramesEnv['doc2'], pat: FramesEnv['pat'], conv = '';
    beforeEach(() => void ({ doc, doc2, pat, conv } = e()));
    const open = async (token: string) => {
      const at = e().at(next++);
      const c = transport === 'websocket' ? await WsClient.open(at.wsUrl, token)
        : transport === 'longpoll' ? await PollClient.open(at.url, token)
          : await MqttFrameClient.open(at.mqttUrl, token);
      open_.push(c);
      return c;
    };
    /** A connection attempt with `token`, refused: what the carrier says (the error code; the close code, HTTP status or CONNACK). */
    const refused = async (token: string): Promise<{ code?: string; carrier: number }> => {
      if (transport === 'websocket') {
        const c = await WsClient.connect(e().at(next++).wsUrl, token);
        const err = await c.next((f) => f.type === 'error');
        return { code: err.code, carrier: (await c.closed).code };
      }
      if (transport === 'longpoll') {
        const res = await fetch(`${e().at(next++).url}/api/v2/poll?hello=1&timeout=0`, { headers: { authorization: `Bearer ${token}` } });
        return { code: ((await res.json()) as { code: string }).code, carrier: res.status };
      }
      const err = await mqtt.connectAsync(e().at(next++).mqttUrl, { username: 'x', password: token, protocolVersion: 4, reconnectPeriod: 0 })
        .then((c) => (c.end(true), null), (e: Error & { code?: number }) => e);
      return { carrier: err?.code ?? 0 };
    };

    it('refuses a malformed, a forged, an unsigned, a swapped and an expired token as the carrier says it (WebSocket 4500/4501, HTTP 401, CONNACK 4)', async () => {
      const { tokenSecret: secret, tenantId } = e();
      const expired = await new SignJWT({ tid: tenantId, role: 'doctor' }).setProtectedHeader({ alg: 'HS256' }).setSubject('doc').setJti('x')
        .setIssuedAt(1_000).setExpirationTime(2_000).sign(new TextEncoder().encode(secret));
      const forged = await new SignJWT({ tid: tenantId, role: 'doctor' }).setProtectedHeader({ alg: 'HS256' }).setSubject('doc').setJti('x')
        .setExpirationTime('1h').sign(new TextEncoder().encode('some-other-secret-some-other-secret'));
      const [h, p, sig] = doc.token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
      const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`;
      const swapped = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'pat', role: 'patient' })).toString('base64url')}.${sig}`;
      const cases = [
        ['not-a-jwt', 'auth.invalid_token', CloseCodes.AUTH_FAILED],
        [forged, 'auth.invalid_token', CloseCodes.AUTH_FAILED],
        [none, 'auth.invalid_token', CloseCodes.AUTH_FAILED],
        [swapped, 'auth.invalid_token', CloseCodes.AUTH_FAILED],
        [`${h}.${p}.AAAA`, 'auth.invalid_token', CloseCodes.AUTH_FAILED],
        [expired, 'auth.token_expired', CloseCodes.TOKEN_EXPIRED],
      ] as const;
      for (const [token, code, close] of cases) {
        const r = await refused(token);
        if (transport === 'websocket') assert.deepEqual(r, { code, carrier: close });
        else if (transport === 'longpoll') assert.deepEqual(r, { code, carrier: 401 });
        else assert.deepEqual(r, { carrier: 4 }, 'CONNACK 4: bad user name or password');
      }
    });

    it('logout ends the token\'s open connections (4502) and refuses the token afterwards', async () => {
      const u = await e().user(`leaver-${transport}`, 'patient');
      const c = await open(u.token);
      const r = await e().call('POST', '/api/v2/users/logout', { token: u.token });
      assert.equal(r.status, 200);
      if (transport === 'longpoll') {
        // No connection to close: the next request is refused.
        assert.deepEqual(await refused(u.token), { code: 'auth.token_revoked', carrier: 401 });
      } else {
        assert.equal((await (c as WsClient | MqttFrameClient).closed).code, CloseCodes.TOKEN_REVOKED);
        const again = await refused(u.token);
        if (transport === 'websocket') assert.deepEqual(again, { code: 'auth.token_revoked', carrier: CloseCodes.TOKEN_REVOKED });
        else assert.deepEqual(again, { carrier: 4 });
      }
    });

    it('bad frames get error frames with stable codes; the connection stays up and nothing is stored', async () => {
      const a = await open(doc.token);
      const before = (await e().call('GET', `/api/v2/sessions/${conv}/session`, { token: doc.token })).body.session.last_seq;
      if (transport === 'longpoll') {
        // The POST body is the carrier: one that is not JSON is an HTTP error.
        const res = await fetch(`${e().at(next++).url}/api/v2/poll/send`, { method: 'POST', headers: { authorization: `Bearer ${doc.token}`, 'content-type': 'application/json' }, body: '{not json' });
        assert.equal(res.status, 400);
      } else {
        if (a instanceof WsClient) a.ws.send('{not json');
        else (a as MqttFrameClient).send('{not json');
        assert.equal((await a.next((f) => f.type === 'error' && f.code === 'frame.invalid_json')).code, 'frame.invalid_json');
      }
      a.send({ type: 'fly', id: 'u1' });
      assert.equal((await a.next((f) => f.id === 'u1')).code, 'frame.unknown_type');
      a.send([1, 2]);
      await a.next((f) => f.type === 'error' && f.code === 'frame.invalid');
      a.send({ type: 'send', id: 'v1', conversation_id: conv, message: { client_id: 'x', type: 'text', content: {} } });
      assert.equal((await a.next((f) => f.id === 'v1')).code, 'frame.invalid');
      a.send({ type: 'send', id: 'v2', conversation_id: conv, message: { client_id: 'x', type: 1, content: { text: '' } } });
      const v2 = await a.next((f) => f.id === 'v2');
      assert.equal(v2.code, 'message.content_invalid');
      assert.ok(Array.isArray(v2.details.errors));
      a.send({ type: 'send', id: 'v3', conversation_id: conv, message: { client_id: 'x', type: 9999, content: {} } });
      assert.equal((await a.next((f) => f.id === 'v3')).code, 'message.type_unknown');
      a.send({ type: 'send', id: 'v4', conversation_id: conv, message: { client_id: 'x', type: 0, content: { text: 'I am the system' } } });
      assert.equal((await a.next((f) => f.id === 'v4')).code, 'message.type_forbidden');
      a.send({ type: 'send', id: 'v5', conversation_id: 'no-such-conversation', message: { client_id: 'x', type: 1, content: { text: 'hi' } } });
      assert.equal((await a.next((f) => f.id === 'v5')).code, 'conversation.not_found');
      a.send({ type: 'read', id: 'v6', conversation_id: conv, seq: -1 });
      assert.equal((await a.next((f) => f.id === 'v6')).code, 'frame.invalid');
      a.send({ type: 'ping', id: 'still-here' });
      await a.next((f) => f.type === 'pong' && f.id === 'still-here');
      const after = (await e().call('GET', `/api/v2/sessions/${conv}/session`, { token: doc.token })).body.session.last_seq;
      assert.equal(after, before);
    });

    it('a frame over ws.maxFrameBytes is refused as the carrier says it (close 1009; over long-poll an error frame); the server carries on', async () => {
      const a = await open(doc.token);
      const big = { type: 'send', id: 'big', conversation_id: conv, message: { client_id: `big-${transport}`, type: 1, content: { text: 'x'.repeat(e().maxFrameBytes) } } };
      a.send(big);
      if (transport === 'longpoll') assert.equal((await a.next((f) => f.id === 'big')).code, 'longpoll.frame_too_large');
      else assert.equal((await (a as WsClient | MqttFrameClient).closed).code, 1009);
      const b = await open(doc.token);
      assert.equal((await b.say(conv, 'after the big frame')).type, 'ack');
      const h = await e().call('GET', `/api/v2/sessions/${conv}/messages?limit=200`, { token: doc.token });
      assert.equal(h.body.messages.filter((m: any) => m.client_id === `big-${transport}`).length, 0);
    });

    it('presence: a subscriber sees a user come online and go offline', async () => {
      const watcher = await open(doc.token);
      const name = `visitor-${transport}`;
      const { token } = await e().user(name, 'patient');
      watcher.send({ type: 'presence', id: 'p1', subscribe: [name] });
      assert.equal((await watcher.next((f) => f.type === 'presence' && f.id === 'p1')).online, false);
      const v = await WsClient.open(e().at(next++).wsUrl, token);
      await watcher.next((f) => f.type === 'presence' && f.user_id === name && f.online === true, 10_000);
      v.close();
      const off = await watcher.next((f) => f.type === 'presence' && f.id === undefined && f.user_id === name && f.online === false, 10_000);
      assert.equal(typeof off.last_seen, 'number', JSON.stringify(watcher.frames.filter((f) => f.type === 'presence')));
    });

    it('send: ack only after commit; every device of every participant gets it, the sender\'s other devices too', async () => {
      const a1 = await open(doc.token);
      const a2 = await open(doc2.token);
      const b = await open(pat.token);
      const ack = await a1.say(conv, 'hello from doc', `fanout-1-${transport}`);
      assert.equal(ack.type, 'ack');
      assert.equal(ack.duplicate, false);
      // Committed: history already has it when the ack arrives.
      const h = await e().call('GET', `/api/v2/sessions/${conv}/messages?after=${ack.seq - 1}`, { token: pat.token });
      assert.equal(h.body.messages[0].id, ack.message_id);
      const onB = await b.next((f) => f.type === 'message' && f.message.id === ack.message_id);
      const onA2 = await a2.next((f) => f.type === 'message' && f.message.id === ack.message_id);
      assert.equal(onB.message.seq, ack.seq);
      assert.equal(onA2.message.content.text, 'hello from doc');
      await sleep(50);
      // Over long-poll the sender's polls are a connection of their own: they get the message.
      if (transport !== 'longpoll') assert.equal(a1.messages().filter((m) => m.id === ack.message_id).length, 0, 'the sending connection gets the ack, not the message');
    });

    it('the same client id again is acked as a duplicate with the first id and seq, and stored once', async () => {
      const a = await open(doc.token);
      const first = await a.say(conv, 'once', `dup-1-${transport}`);
      const second = await a.say(conv, 'once (retry)', `dup-1-${transport}`);
      assert.equal(second.duplicate, true);
      assert.equal(second.message_id, first.message_id);
      assert.equal(second.seq, first.seq);
      const h = await e().call('GET', `/api/v2/sessions/${conv}/messages?limit=200`, { token: doc.token });
      assert.equal(h.body.messages.filter((m: any) => m.client_id === `dup-1-${transport}`).length, 1);
    });

    it('a burst from one connection is acked and delivered in order with no gaps', async () => {
      const a = await open(doc.token);
      const b = await open(pat.token);
      const N = 200;
      for (let i = 0; i < N; i++) a.send({ type: 'send', id: `burst-${i}`, conversation_id: conv, message: { client_id: `burst-${transport}-${i}`, type: 1, content: { text: `#${i}` } } });
      const acks = await a.count((f) => f.type === 'ack' && String(f.id).startsWith('burst-'), N);
      const seqs = acks.map((f) => f.seq);
      assert.deepEqual(acks.map((f) => f.id), Array.from({ length: N }, (_, i) => `burst-${i}`), 'acks come in send order');
      for (let i = 1; i < N; i++) assert.equal(seqs[i], seqs[0] + i, 'seqs are consecutive');
      const got = await b.count((f) => f.type === 'message' && String(f.message.client_id).startsWith(`burst-${transport}-`), N);
      assert.deepEqual(got.map((f) => f.message.seq), seqs);
    });

    it('read: moves the cursor and sends a receipt to the others and the reader\'s other devices', async () => {
      const a = await open(doc.token);
      const b1 = await open(pat.token);
      const b2 = await open(pat.token);
      const ack = await a.say(conv, 'please read');
      b1.send({ type: 'read', id: 'rd', conversation_id: conv, seq: ack.seq });
      const receipt = await a.next((f) => f.type === 'read' && f.user_id === 'pat' && f.seq === ack.seq);
      assert.equal(receipt.conversation_id, conv);
      await b2.next((f) => f.type === 'read' && f.user_id === 'pat' && f.seq === ack.seq);
      const unread = await e().call('GET', `/api/v2/sessions/${conv}/unread_message_count`, { token: pat.token });
      assert.equal(unread.body.count, 0);
    });

    it('typing reaches the others, not the typist', async () => {
      const a = await open(doc.token);
      const b = await open(pat.token);
      b.send({ type: 'typing', conversation_id: conv });
      const t = await a.next((f) => f.type === 'typing' && f.user_id === 'pat');
      assert.equal(t.state, 'typing');
      await sleep(50);
      assert.equal(b.frames.filter((f) => f.type === 'typing').length, 0);
    });

    it('a user outside the conversation cannot send to it, read it, or type in it', async () => {
      const { token } = await e().user('outsider', 'patient');
      const o = await open(token);
      o.send({ type: 'send', id: 'o1', conversation_id: conv, message: { client_id: 'o', type: 1, content: { text: 'let me in' } } });
      assert.equal((await o.next((f) => f.id === 'o1')).code, 'conversation.not_participant');
      o.send({ type: 'read', id: 'o2', conversation_id: conv, seq: 1 });
      assert.equal((await o.next((f) => f.id === 'o2')).code, 'conversation.not_participant');
    });

    it('participants joining get a conversation event', async () => {
      const { token } = await e().user(`newcomer-${transport}`, 'staff');
      const n = await open(token);
      const r = await e().call('POST', `/api/v2/sessions/${conv}/participants`, { body: { participants: [`newcomer-${transport}`] } });
      assert.equal(r.status, 200);
      const ev = await n.next((f) => f.type === 'conversation');
      assert.deepEqual([ev.event, ev.conversation_id], ['participants', conv]);
      const ack = await n.say(conv, 'hello, I joined');
      assert.equal(ack.type, 'ack');
    });
  });
}
