/**
 * The SDK over MQTT: `transport: 'mqtt'` (mqtt.js, MQTT 3.1.1, the user's frames topic) with
 * the same API and events as the WebSocket — over MQTT-over-WebSocket at `/mqtt` (the
 * default) and over the TCP listener (`mqttUrl: 'mqtt://…'`). Real server, real MQTT.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { CarelineError, CloseCodes, type Message } from '../src/index.ts';
import { Harness, Inbox, nextEvent, sleep, text, waitFor, within } from './support/harness.ts';

const T = { timeout: 30_000 };

function assertContiguous(messages: Message[], from: number, to: number): void {
  assert.deepEqual(messages.map((m) => m.seq), Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

describe('sdk over MQTT', () => {
  const h = Harness.forSuite({}, { transport: 'mqtt' });

  test('connects, sends with durable acks, and exchanges messages with a WebSocket client, in order, once', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token);
    const d = h.client(doctor.token, { transport: 'websocket' });
    const pIn = new Inbox(p);
    const dIn = new Inbox(d);
    await within(Promise.all([p.connect(), d.connect()]), 10_000, 'connect');
    assert.equal(p.state, 'open');
    assert.equal(p.transport, 'mqtt');
    assert.equal(p.user?.id, patient.id);
    const acks = [];
    for (let i = 0; i < 10; i++) {
      acks.push(p.send(conv, text(`p${i}`)));
      acks.push(d.send(conv, text(`d${i}`)));
    }
    const got = await within(Promise.all(acks), 10_000, 'acks');
    assert.deepEqual(got.map((a) => a.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    await pIn.wait(conv, 10);
    await dIn.wait(conv, 10);
    assert.deepEqual(pIn.texts(conv), Array.from({ length: 10 }, (_, i) => `d${i}`));
    assert.deepEqual(dIn.texts(conv), Array.from({ length: 10 }, (_, i) => `p${i}`));
    const again = await p.send(conv, text('p0'), { clientId: got[0]!.client_id });
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, got[0]!.seq);
    // Committed when acked: stored once.
    const stored = (await p.history(conv, { limit: 100 })).messages.filter((m) => m.client_id === got[0]!.client_id);
    assert.equal(stored.length, 1);
  });

  test('over the TCP listener too (mqttUrl mqtt://host:port)', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token, { mqttUrl: `mqtt://127.0.0.1:${h.server.server.mqttPort}` });
    const inbox = new Inbox(p);
    await within(p.connect(), 10_000, 'connect');
    await h.server.sendAs(doctor.id, conv, 'over tcp');
    await inbox.wait(conv, 1);
    const ack = await p.send(conv, text('back over tcp'));
    assert.equal(ack.duplicate, false);
  });

  test('receipts, typing and presence reach an MQTT client, and its own go out', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const d = h.client(doctor.token);
    const p = h.client(patient.token, { transport: 'websocket' });
    await Promise.all([d.connect(), p.connect()]);
    const reads: number[] = [];
    const typing: string[] = [];
    d.on('read', (r) => r.user_id === patient.id && reads.push(r.seq));
    d.on('typing', (t) => typing.push(t.user_id));
    const ack = await d.send(conv, text('read me'));
    p.typing(conv);
    p.markRead(conv, ack.seq);
    await waitFor(() => reads.includes(ack.seq), { what: 'the receipt' });
    await waitFor(() => typing.includes(patient.id), { what: 'typing' });
    // The other way: from the MQTT client to the WebSocket one.
    const theirReads: number[] = [];
    const theirTyping: string[] = [];
    p.on('read', (r) => r.user_id === doctor.id && theirReads.push(r.seq));
    p.on('typing', (t) => theirTyping.push(t.user_id));
    const ack2 = await p.send(conv, text('and you'));
    d.typing(conv);
    d.markRead(conv, ack2.seq);
    await waitFor(() => theirReads.includes(ack2.seq), { what: 'the receipt from MQTT' });
    await waitFor(() => theirTyping.includes(doctor.id), { what: 'typing from MQTT' });
    // Presence: the MQTT client watches a user come online over WebSocket.
    const visitor = await h.server.user(`visitor-${Math.random().toString(36).slice(2, 8)}`, 'patient');
    const online = nextEvent(d, 'presence', (e) => e.user_id === visitor.id && e.online, 10_000);
    d.subscribePresence([visitor.id]);
    await sleep(200);
    const v = h.client(visitor.token, { transport: 'websocket' });
    await v.connect();
    await online;
    // And the MQTT connection itself counts as online.
    await waitFor(async () => (await h.server.server.core.presence.status(h.server.tenantId, doctor.id)).online, { what: 'online over MQTT' });
  });

  test('catches up after being closed: each message once, in order', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const c = h.client(patient.token);
    const inbox = new Inbox(c);
    await c.connect();
    await h.server.sendAs(doctor.id, conv, 'live 1');
    await inbox.wait(conv, 1);
    await c.close();
    for (let i = 2; i <= 8; i++) await h.server.sendAs(doctor.id, conv, `away ${i}`);
    const synced = nextEvent(c, 'synced');
    await c.connect();
    assert.equal((await synced).sent, 7);
    await h.server.sendAs(doctor.id, conv, 'live 9');
    await inbox.wait(conv, 9);
    await sleep(100);
    assertContiguous(inbox.of(conv), 1, 9);
  });

  test('refuses a bad token as the WebSocket does: the client stops with the auth error', T, async () => {
    const c = h.client('not-a-jwt');
    const err = await within(c.connect().then(() => null, (e: unknown) => e), 10_000, 'refusal');
    assert.ok(err instanceof CarelineError);
    assert.equal(err.code, 'auth.invalid_token');
    assert.equal(c.state, 'closed');
    const { patient } = await h.pair();
    const [hd, , sig] = patient.token.split('.') as [string, string, string];
    const forged = `${hd}.${Buffer.from(JSON.stringify({ sub: patient.id, tid: h.server.tenantId, exp: 9e9 })).toString('base64url')}.${sig}`;
    const f = h.client(forged);
    const ferr = await within(f.connect().then(() => null, (e: unknown) => e), 10_000, 'refusal');
    assert.ok(ferr instanceof CarelineError);
    assert.equal(ferr.code, 'auth.invalid_token');
  });

  test('an expired token: the tokenProvider is asked and the client goes on with the new token', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const secret = h.server.server.core.config.auth.tokenSecret;
    const expired = await new SignJWT({ tid: h.server.tenantId, role: 'patient' }).setProtectedHeader({ alg: 'HS256' }).setSubject(patient.id).setJti('x')
      .setIssuedAt(1_000).setExpirationTime(2_000).sign(new TextEncoder().encode(secret));
    let asked = 0;
    const c = h.client(expired, { tokenProvider: () => (asked++, patient.token) });
    const inbox = new Inbox(c);
    await within(c.connect(), 10_000, 'connect with the new token');
    assert.equal(asked, 1);
    await h.server.sendAs(doctor.id, conv, 'after refresh');
    await inbox.wait(conv, 1);
  });

  test('logout (revoked token) closes the MQTT connection for good (4502), with no reconnect', T, async () => {
    const { patient } = await h.pair();
    const c = h.client(patient.token);
    const errors: CarelineError[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const closed = nextEvent(c, 'state', (s) => s.state === 'closed', 10_000);
    const r = await h.server.call('POST', '/api/v2/users/logout', { token: patient.token });
    assert.equal(r.status, 200);
    const s = await closed;
    assert.equal(s.error?.closeCode, CloseCodes.TOKEN_REVOKED);
    await sleep(300);
    assert.equal(c.state, 'closed');
  });
});
