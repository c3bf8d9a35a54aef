/**
 * WebRTC signalling relayed between a call's participants, and the STUN/TURN servers handed
 * out per call (docs/calls.md, "WebRTC" and "TURN"), on a real server (port 0, SQLite file):
 * `rtc` frames over WebSocket, long-polling, SSE and MQTT, and over REST; only between joined
 * participants; malformed signals and signals from or to anyone else are coded errors that
 * relay nothing. TURN credentials follow the TURN REST API scheme (checked against openssl).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, type Frame } from '../support/ws-client.ts';
import { PollClient } from '../support/poll-client.ts';
import { MqttFrameClient } from '../support/mqtt-frame-client.ts';
import { assertError, ok } from '../rest/helpers.ts';
import { iceServers, turnCredential } from '../../src/calls/ice.ts';

const SECRET = 'turn-shared-secret';
const TURN_URLS = 'turn:127.0.0.1:3478?transport=udp,turn:127.0.0.1:3478?transport=tcp';
const STUN = 'stun:127.0.0.1:3478';

let s: TestServer;
const tok: Record<string, string> = {};
const closers: (() => void | Promise<void>)[] = [];

before(async () => {
  s = await startTestServer({
    config: { mqtt: { enabled: true, port: 0 }, calls: { ringTimeoutMs: 20_000, heartbeatMs: 1000, heartbeatTimeoutMs: 20_000, pollMs: 100, stun: STUN, turn: { urls: TURN_URLS, secret: SECRET, ttl: 600 } } },
  });
  for (const [id, role] of [['doc', 'doctor'], ['pat', 'patient'], ['nurse', 'staff'], ['outsider', 'patient'], ['p2', 'patient'], ['d2', 'doctor'], ['p3', 'patient'], ['d3', 'doctor'], ['p4', 'patient'], ['d4', 'doctor']] as const) {
    tok[id] = (await s.user(id, role)).token;
  }
});
after(async () => {
  for (const c of closers) await c();
  await s.stop();
});

async function ws(user: string): Promise<WsClient> {
  const w = await WsClient.open(s.wsUrl, tok[user]!);
  closers.push(() => w.ws.terminate());
  return w;
}

/** An active call between doc and pat (invited and accepted over REST). */
async function activeCall(caller: string, callee: string, extra: string[] = []): Promise<{ conv: string; callId: string }> {
  const conv = await s.conversation({ participants: [caller, callee, ...extra], ...(extra.length ? { type: 3, name: 'team' } : {}) });
  const inv = ok(await s.call('POST', '/api/v2/calls', { token: tok[caller]!, body: { conversation_id: conv, av_type: 'video' } }));
  ok(await s.call('POST', `/api/v2/calls/${inv.call.id}/accept`, { token: tok[callee]!, body: {} }));
  return { conv, callId: inv.call.id };
}

let reqs = 0;
async function rtc(w: { send(f: unknown): void; next(p: (f: Frame) => boolean, t?: number): Promise<Frame> }, f: Record<string, unknown>): Promise<Frame> {
  const id = `r${++reqs}`;
  w.send({ type: 'rtc', id, ...f });
  return w.next((x) => x.id === id && (x.type === 'rtc_sent' || x.type === 'error'));
}

const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
const CAND = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

describe('TURN credentials (TURN REST API scheme)', () => {
  test('username <expiry>:<user>, credential base64(HMAC-SHA1(secret, username)), as openssl computes it', () => {
    const c = turnCredential(SECRET, 'pat-1', 3600, 1_700_000_000_000);
    assert.equal(c.username, '1700003600:pat-1');
    assert.equal(c.expires_at, 1_700_003_600);
    const openssl = execFileSync('openssl', ['dgst', '-sha1', '-hmac', SECRET, '-binary'], { input: c.username });
    assert.equal(c.credential, openssl.toString('base64'));
  });

  test('STUN and TURN URLs from the settings; no TURN credential without a secret; none without settings', () => {
    const settings = { stun: 'stun:a:3478, stun:b:3478', turn: { urls: 'turn:a:3478', secret: 'x', ttl: 60 } };
    const list = iceServers(settings, 'u', 0);
    assert.deepEqual(list[0], { urls: ['stun:a:3478', 'stun:b:3478'] });
    assert.deepEqual(list[1]!.urls, ['turn:a:3478']);
    assert.equal(list[1]!.username, '60:u');
    assert.deepEqual(iceServers({ ...settings, turn: { ...settings.turn, secret: '' } }, 'u', 0)[1], { urls: ['turn:a:3478'] });
    assert.deepEqual(iceServers({ stun: '', turn: { urls: '', secret: 'x', ttl: 60 } }, 'u'), []);
  });

  test('handed out per call: the caller with the invite, each callee with the ringing invite and its accept; GET /ice for participants only', async () => {
    const conv = await s.conversation({ participants: ['d2', 'p2'] });
    const callee = await ws('p2');
    const before = Math.floor(Date.now() / 1000);
    const inv = ok(await s.call('POST', '/api/v2/calls', { token: tok.d2!, body: { conversation_id: conv, av_type: 'audio' } }));
    const turnOf = (list: { urls: string[]; username?: string; credential?: string }[]) => list.find((x) => x.urls.some((u) => u.startsWith('turn:')))!;
    assert.deepEqual(inv.ice_servers[0], { urls: [STUN] });
    const callerTurn = turnOf(inv.ice_servers);
    assert.deepEqual(callerTurn.urls, TURN_URLS.split(','));
    const [expiry, user] = callerTurn.username!.split(':');
    assert.equal(user, 'd2');
    assert.ok(Number(expiry) >= before + 600 && Number(expiry) <= before + 602, callerTurn.username);
    assert.equal(callerTurn.credential, turnCredential(SECRET, 'd2', 600, Number(expiry) * 1000 - 600_000).credential);

    const ringing = await callee.next((f) => f.type === 'call' && f.status === 'invite' && f.call.id === inv.call.id);
    assert.equal(turnOf(ringing.content.iceServers).username!.split(':')[1], 'p2');
    const event = await callee.next((f) => f.type === 'event' && f.kind === 'S2C_VIDEOCALL_INVITE' && f.call.id === inv.call.id);
    assert.equal(turnOf(event.content.iceServers).username!.split(':')[1], 'p2');

    const acc = ok(await s.call('POST', `/api/v2/calls/${inv.call.id}/accept`, { token: tok.p2!, body: {} }));
    assert.equal(turnOf(acc.ice_servers).username!.split(':')[1], 'p2');
    const ice = ok(await s.call('GET', `/api/v2/calls/${inv.call.id}/ice`, { token: tok.p2! }));
    assert.equal(turnOf(ice.ice_servers).username!.split(':')[1], 'p2');
    assertError(await s.call('GET', `/api/v2/calls/${inv.call.id}/ice`, { token: tok.outsider! }), 'conversation.not_participant');
    assertError(await s.call('GET', '/api/v2/calls/nope/ice', { token: tok.p2! }), 'call.not_found');
    ok(await s.call('POST', `/api/v2/calls/${inv.call.id}/hangup`, { token: tok.d2!, body: {} }));
  });
});

describe('WebRTC signals relayed between joined participants', () => {
  test('WebSocket: an offer reaches the callee\'s connections with from_connection; the answer to_connection reaches only that one', async () => {
    const doc = await ws('doc');
    const docOther = await ws('doc');
    const pat = await ws('pat');
    const { callId } = await activeCall('doc', 'pat');
    const hello = doc.frames.find((f) => f.type === 'hello')!;

    assert.equal((await rtc(doc, { call_id: callId, to: 'pat', kind: 'offer', sdp: SDP })).type, 'rtc_sent');
    const offer = await pat.next((f) => f.type === 'rtc' && f.kind === 'offer');
    assert.deepEqual(offer, { type: 'rtc', call_id: callId, from: 'doc', from_connection: hello.connection_id, kind: 'offer', sdp: SDP });

    assert.equal((await rtc(pat, { call_id: callId, to: 'doc', to_connection: offer.from_connection, kind: 'answer', sdp: SDP })).type, 'rtc_sent');
    assert.equal((await rtc(pat, { call_id: callId, to: 'doc', to_connection: offer.from_connection, kind: 'candidate', candidate: CAND })).type, 'rtc_sent');
    const cand = await doc.next((f) => f.type === 'rtc' && f.kind === 'candidate');
    assert.deepEqual(cand.candidate, CAND);
    assert.equal(doc.frames.filter((f) => f.type === 'rtc' && f.kind === 'answer').length, 1);
    // The doctor's other device took no part: it got none of them.
    docOther.send({ type: 'ping', id: 'p' });
    await docOther.next((f) => f.type === 'pong');
    assert.equal(docOther.frames.filter((f) => f.type === 'rtc').length, 0);
    ok(await s.call('POST', `/api/v2/calls/${callId}/hangup`, { token: tok.doc!, body: {} }));
  });

  test('malformed signals and signals from or to anyone but a joined participant: coded errors, nothing relayed', async () => {
    const nurse = await ws('nurse');
    const doc = await ws('doc');
    const pat = await ws('pat');
    const outsider = await ws('outsider');
    const conv = await s.conversation({ participants: ['doc', 'pat', 'nurse'], type: 3, id: 'rtc-team' });
    const inv = ok(await s.call('POST', '/api/v2/calls', { token: tok.doc!, body: { conversation_id: conv, av_type: 'video' } }));
    const callId = inv.call.id as string;
    const code = async (w: WsClient, f: Record<string, unknown>) => {
      const r = await rtc(w, { call_id: callId, ...f });
      assert.equal(r.type, 'error', JSON.stringify(r));
      return r.code as string;
    };
    // Ringing: nobody but the caller has joined.
    assert.equal(await code(doc, { to: 'pat', kind: 'offer', sdp: SDP }), 'call.rtc_not_joined');
    ok(await s.call('POST', `/api/v2/calls/${callId}/accept`, { token: tok.pat!, body: {} }));
    assert.equal(await code(doc, { to: 'pat', kind: 'offer' }), 'call.rtc_invalid');
    assert.equal(await code(doc, { to: 'pat', kind: 'offer', sdp: SDP, candidate: CAND }), 'call.rtc_invalid');
    assert.equal(await code(doc, { to: 'pat', kind: 'candidate' }), 'call.rtc_invalid');
    assert.equal(await code(doc, { to: 'pat', kind: 'candidate', candidate: CAND, sdp: SDP }), 'call.rtc_invalid');
    assert.equal(await code(doc, { to: 'doc', kind: 'offer', sdp: SDP }), 'call.rtc_invalid');
    assert.equal(await code(doc, { to: 'pat', kind: 'bye', sdp: SDP }), 'frame.invalid');
    assert.equal(await code(doc, { to: 'pat', kind: 'offer', sdp: SDP, extra: 1 }), 'frame.invalid');
    assert.equal(await code(doc, { to: 'pat', kind: 'candidate', candidate: { candidate: 'x', evil: true } }), 'frame.invalid');
    // The nurse still rings: neither sender nor receiver yet.
    assert.equal(await code(nurse, { to: 'pat', kind: 'offer', sdp: SDP }), 'call.rtc_not_joined');
    assert.equal(await code(doc, { to: 'nurse', kind: 'offer', sdp: SDP }), 'call.rtc_not_joined');
    assert.equal(await code(doc, { to: 'outsider', kind: 'offer', sdp: SDP }), 'call.not_participant');
    assert.equal(await code(outsider, { to: 'pat', kind: 'offer', sdp: SDP }), 'conversation.not_participant');
    assert.equal((await rtc(doc, { call_id: 'no-such-call', to: 'pat', kind: 'offer', sdp: SDP })).code, 'call.not_found');
    // REST: the same checks.
    assertError(await s.call('POST', `/api/v2/calls/${callId}/rtc`, { token: tok.doc!, body: { to: 'pat', kind: 'answer' } }), 'call.rtc_invalid');
    assertError(await s.call('POST', `/api/v2/calls/${callId}/rtc`, { token: tok.outsider!, body: { to: 'pat', kind: 'answer', sdp: SDP } }), 'conversation.not_participant');
    assertError(await s.call('POST', `/api/v2/calls/${callId}/rtc`, { token: tok.doc!, body: { to: 'pat', kind: 'answer', sdp: SDP, nope: 1 } }), 'request.invalid');
    // The nurse refuses; the call goes on between doc and pat, the nurse is still no peer.
    ok(await s.call('POST', `/api/v2/calls/${callId}/refuse`, { token: tok.nurse!, body: {} }));
    assert.equal(await code(doc, { to: 'nurse', kind: 'offer', sdp: SDP }), 'call.rtc_not_joined');
    ok(await s.call('POST', `/api/v2/calls/${callId}/hangup`, { token: tok.doc!, body: {} }));
    // Ended: no more signals.
    assert.equal(await code(doc, { to: 'pat', kind: 'offer', sdp: SDP }), 'call.rtc_not_joined');
    pat.send({ type: 'ping', id: 'last' });
    await pat.next((f) => f.type === 'pong' && f.id === 'last');
    for (const w of [pat, nurse, outsider]) assert.equal(w.frames.filter((f) => f.type === 'rtc').length, 0);
  });

  test('long-polling and REST: the callee polls, answers in a POSTed frame; the caller signals over REST', async () => {
    const poll = await PollClient.open(s.url, tok.p3!);
    closers.push(() => poll.close());
    const doc = await ws('d3');
    const { callId } = await activeCall('d3', 'p3');
    const hello = doc.frames.find((f) => f.type === 'hello')!;
    const sent = ok(await s.call('POST', `/api/v2/calls/${callId}/rtc`, { token: tok.d3!, body: { to: 'p3', kind: 'offer', sdp: SDP, connection_id: hello.connection_id } }));
    assert.deepEqual(sent, { sent: true });
    const offer = await poll.next((f) => f.type === 'rtc' && f.kind === 'offer');
    assert.equal(offer.from_connection, hello.connection_id);
    assert.equal((await rtc(poll, { call_id: callId, to: 'd3', to_connection: offer.from_connection, kind: 'answer', sdp: SDP })).type, 'rtc_sent');
    const answer = await doc.next((f) => f.type === 'rtc' && f.kind === 'answer');
    assert.equal(answer.from, 'p3');
    assert.equal((await rtc(poll, { call_id: callId, to: 'd3', kind: 'offer' })).code, 'call.rtc_invalid');
    ok(await s.call('POST', `/api/v2/calls/${callId}/hangup`, { token: tok.d3!, body: {} }));
  });

  test('SSE and MQTT: the signal arrives on the event stream and on the account topic', async () => {
    const mqtt = await MqttFrameClient.open(`mqtt://127.0.0.1:${s.server.mqttPort}`, tok.p4!);
    closers.push(() => mqtt.close());
    const ac = new AbortController();
    closers.push(() => ac.abort());
    const res = await fetch(`${s.url}/api/v2/poll/events?token=${tok.p4}`, { signal: ac.signal });
    assert.equal(res.status, 200);
    const sse: Frame[] = [];
    const reading = (async () => {
      const dec = new TextDecoder();
      let buf = '';
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data && !/^event: /m.test(block)) sse.push(JSON.parse(data));
        }
      }
    })();
    const doc = await ws('d4');
    const { callId } = await activeCall('d4', 'p4');
    assert.equal((await rtc(doc, { call_id: callId, to: 'p4', kind: 'candidate', candidate: CAND })).type, 'rtc_sent');
    const overMqtt = await mqtt.next((f) => f.type === 'rtc');
    assert.deepEqual(overMqtt.candidate, CAND);
    const deadline = Date.now() + 5000;
    while (!sse.some((f) => f.type === 'rtc') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(sse.find((f) => f.type === 'rtc')?.candidate, CAND);
    // MQTT clients send the frame too.
    assert.equal((await rtc(mqtt, { call_id: callId, to: 'd4', kind: 'answer', sdp: SDP })).type, 'rtc_sent');
    assert.equal((await doc.next((f) => f.type === 'rtc')).kind, 'answer');
    ac.abort();
    await reading;
    ok(await s.call('POST', `/api/v2/calls/${callId}/hangup`, { token: tok.d4!, body: {} }));
  });
});
