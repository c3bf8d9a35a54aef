/**
 * An open WebSocket follows what the server knows about its user now: a user the integrator
 * disables is cut off at once (error frame, 4504) on every transport; a role change reaches
 * REST with the same token and closes open sockets (4010) so they reconnect with the new role;
 * a socket closes when its token expires (4501) unless a `refresh` frame swapped its token.
 * The same over every transport (WebSocket, long-polling, MQTT) at the end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCodes } from '@careline/protocol';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, sleep } from '../support/ws-client.ts';
import { assertError, ok } from '../rest/helpers.ts';
import { openOver } from '../support/carriers.ts';
import { CARRIERS } from '../support/frame-client.ts';

const putUser = (s: TestServer, id: string, body: Record<string, unknown>) => s.call('PUT', `/api/v2/management/users/${id}`, { body });
/** The close of a socket, or a failure if it stays open longer than `ms`. */
const closedWithin = (c: { closed: Promise<{ code: number; reason: string }>; frames: unknown[] }, ms = 5000): Promise<{ code: number; reason: string }> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the socket is still open after ${ms} ms; frames: ${JSON.stringify(c.frames.slice(-3))}`)), ms);
    void c.closed.then((v) => (clearTimeout(timer), resolve(v)));
  });
const isError = (code: string) => (f: { type: string; code?: string }) => f.type === 'error' && f.code === code;

describe('a disabled user', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.stop());

  it('loses every open socket at once (error frame user.disabled, then 4504), REST refuses the same token, reconnecting is refused', async () => {
    const pat = await s.user('pat-d', 'patient');
    const doc = await s.user('doc-d', 'doctor');
    const conv = await s.conversation({ participants: ['pat-d', 'doc-d'] });
    const [a, b, d] = await Promise.all([WsClient.open(s.wsUrl, pat.token), WsClient.open(s.wsUrl, pat.token), WsClient.open(s.wsUrl, doc.token)]);
    assert.equal((await a.say(conv, 'before')).type, 'ack');

    ok(await putUser(s, 'pat-d', { role: 'patient', name: 'pat-d', disabled: true }));
    for (const c of [a, b]) {
      const closed = await closedWithin(c);
      assert.equal(closed.code, CloseCodes.USER_DISABLED);
      assert.equal(closed.reason, 'user.disabled');
      assert.ok(c.frames.some(isError('user.disabled')), 'an error frame comes before the close');
    }
    // The other user is untouched and gets nothing more from the disabled one.
    assert.equal(d.ws.readyState, d.ws.OPEN);
    assertError(await s.call('GET', '/api/v2/sessions', { token: pat.token }), 'user.disabled');
    assertError(await s.call('POST', `/api/v2/sessions/${conv}/messages`, { token: pat.token, body: { type: 1, content: { text: 'after' } } }), 'user.disabled');

    const again = await WsClient.connect(s.wsUrl, pat.token);
    assert.equal((await closedWithin(again)).code, CloseCodes.USER_DISABLED);
    assert.ok(again.frames.some(isError('user.disabled')));
    assert.ok(!again.frames.some((f) => f.type === 'hello'));

    // Enabled again: the same token works again (it was never revoked).
    ok(await putUser(s, 'pat-d', { role: 'patient', name: 'pat-d', disabled: false }));
    const back = await WsClient.open(s.wsUrl, pat.token);
    assert.equal((await back.say(conv, 'back')).type, 'ack');
    back.close();
    d.close();
  });

  it('an update that changes neither role nor disabled leaves the sockets open', async () => {
    const u = await s.user('pat-n', 'patient');
    const c = await WsClient.open(s.wsUrl, u.token);
    ok(await putUser(s, 'pat-n', { role: 'patient', name: 'New Name', avatar: 'https://example.com/a.png' }));
    await sleep(100);
    assert.equal(c.ws.readyState, c.ws.OPEN);
    c.close();
  });

  it('every node acts on the bus event, not on a local call: a change published by another node closes this node\'s sockets', async () => {
    const u = await s.user('pat-b', 'patient');
    const c = await WsClient.open(s.wsUrl, u.token);
    // Another node changed the user: only the event reaches this one.
    s.server.core.bus.publish({ kind: 'user.changed', tenant_id: s.tenantId, user_id: 'pat-b', role: 'patient', disabled: true });
    assert.equal((await closedWithin(c)).code, CloseCodes.USER_DISABLED);
    const d = await WsClient.open(s.wsUrl, u.token);
    s.server.core.bus.publish({ kind: 'user.changed', tenant_id: s.tenantId, user_id: 'pat-b', role: 'doctor', disabled: false });
    assert.equal((await closedWithin(d)).code, CloseCodes.USER_CHANGED);
    // Another tenant's user of the same id is not this one.
    const e = await WsClient.open(s.wsUrl, u.token);
    s.server.core.bus.publish({ kind: 'user.changed', tenant_id: 'another-tenant', user_id: 'pat-b', role: 'patient', disabled: true });
    await sleep(100);
    assert.equal(e.ws.readyState, e.ws.OPEN);
    e.close();
  });
});

describe('a role change', () => {
  let s: TestServer;
  let doc: { token: string };
  let family: string;
  before(async () => {
    s = await startTestServer();
    doc = await s.user('doc', 'doctor', 'Dr. Doc');
    await s.user('doc2', 'doctor');
    await s.user('pat', 'patient');
    await s.user('nurse', 'staff');
    family = ok(await s.call('POST', '/api/v2/sessions', {
      body: { session_type: 1, parts: { patient: 'pat', team: 'team7', consult_type: 1 }, participants: ['pat:patient', 'doc:doctor', 'nurse:staff', 'doc2:doctor'] },
    })).session.id;
    ok(await s.call('POST', `/api/v2/sessions/${family}/topics`, { body: { topic_id: 'consult-1', team_id: 'team7', doctor_id: 'doc' } }));
  });
  after(() => s.stop());

  it('a doctor demoted to patient: the same token can no longer remove participants, end consultations or read statistics; open sockets close (4010) and come back as a patient', async () => {
    const stats = '/api/v2/statistics/topics?group_by=team&since=0&until=9999999999999';
    ok(await s.call('GET', stats, { token: doc.token }), 'a doctor reads statistics');
    const ws = await WsClient.open(s.wsUrl, doc.token);
    assert.equal(ws.frames.find((f) => f.type === 'hello')!.user.role, 'doctor');

    ok(await putUser(s, 'doc', { role: 'patient', name: 'Dr. Doc' }));
    const closed = await closedWithin(ws);
    assert.equal(closed.code, CloseCodes.USER_CHANGED);

    assertError(await s.call('GET', stats, { token: doc.token }), 'auth.forbidden');
    assertError(await s.call('DELETE', `/api/v2/sessions/${family}/participants/doc2`, { token: doc.token }), 'auth.forbidden');
    assertError(await s.call('PUT', `/api/v2/sessions/${family}/topics/consult-1/ended`, { token: doc.token }), 'auth.forbidden');

    // Reconnecting with the same token: the connection is a patient's, and so are its messages
    // (a patient's message does not answer the consultation).
    const again = await WsClient.open(s.wsUrl, doc.token);
    assert.equal(again.frames.find((f) => f.type === 'hello')!.user.role, 'patient');
    assert.equal((await again.say(family, 'I am a patient now')).type, 'ack');
    const topic = ok(await s.call('GET', '/api/v2/sessions/topics/consult-1', {})).topic;
    assert.equal(topic.status, 0, 'still open');
    assert.equal(topic.reply, 0, `a patient's message does not count as the care team's reply: ${JSON.stringify(topic)}`);
    again.close();
    // The participants and the consultation are untouched.
    const members = ok(await s.call('GET', `/api/v2/sessions/${family}/participants`, {})).participants.map((p: { user_id: string }) => p.user_id);
    assert.ok(members.includes('doc2'));
  });

  it('a patient promoted to staff gets the role at once with the token they have', async () => {
    const u = await s.user('pat-up', 'patient');
    const stats = '/api/v2/statistics/topics?group_by=team&since=0&until=9999999999999';
    assertError(await s.call('GET', stats, { token: u.token }), 'auth.forbidden');
    ok(await putUser(s, 'pat-up', { role: 'staff', name: 'pat-up' }));
    ok(await s.call('GET', stats, { token: u.token }));
  });
});

describe('token expiry on an open socket', () => {
  let s: TestServer;
  before(async () => {
    // A short heartbeat: the beat (every 500 ms) is what finds tokens that expire later than the first one.
    s = await startTestServer({ config: { ws: { heartbeatMs: 1000 } } });
    await s.user('pat');
    await s.user('other');
  });
  after(() => s.stop());

  /** A real token of a real login session, with a lifetime below the API's minimum (60 s). */
  const shortToken = async (user: string, ttlSeconds: number) => (await s.server.core.auth.login(s.tenantId, user, { ttl_seconds: ttlSeconds })).token;

  it('closes at the token\'s expiry: error frame auth.token_expired, then 4501; REST refuses the token too', async () => {
    const token = await shortToken('pat', 2);
    const c = await WsClient.open(s.wsUrl, token);
    const hello = c.frames.find((f) => f.type === 'hello')!;
    assert.equal(typeof hello.token_expires_at, 'number');
    assert.ok(hello.token_expires_at > hello.server_time && hello.token_expires_at <= hello.server_time + 2000, JSON.stringify(hello));
    const closed = await closedWithin(c, 6000);
    assert.equal(closed.code, CloseCodes.TOKEN_EXPIRED);
    assert.equal(closed.reason, 'auth.token_expired');
    assert.ok(c.frames.some(isError('auth.token_expired')));
    assert.ok(Date.now() >= hello.token_expires_at, 'not before the expiry');
    assertError(await s.call('GET', '/api/v2/sessions', { token }), 'auth.token_expired');
    const late = await WsClient.connect(s.wsUrl, token);
    assert.equal((await closedWithin(late)).code, CloseCodes.TOKEN_EXPIRED);
  });

  it('a longer token found by a later heartbeat closes too; the other connections stay', async () => {
    const short = await shortToken('pat', 3);
    const long = (await s.user('other')).token;
    const [c, o] = await Promise.all([WsClient.open(s.wsUrl, short), WsClient.open(s.wsUrl, long)]);
    const closed = await closedWithin(c, 7000);
    assert.equal(closed.code, CloseCodes.TOKEN_EXPIRED);
    assert.equal(o.ws.readyState, o.ws.OPEN);
    o.close();
  });

  it('a refresh frame with a newer token of the same user keeps the socket open past the old expiry', async () => {
    const c = await WsClient.open(s.wsUrl, await shortToken('pat', 2));
    const hello = c.frames.find((f) => f.type === 'hello')!;
    const fresh = await s.server.core.auth.login(s.tenantId, 'pat', { ttl_seconds: 600 });
    c.send({ type: 'refresh', id: 'r1', token: fresh.token });
    const r = await c.next((f) => f.id === 'r1');
    assert.equal(r.type, 'refreshed', JSON.stringify(r));
    assert.equal(r.token_expires_at, Math.floor(fresh.expires_at / 1000) * 1000);
    assert.equal(r.user.id, 'pat');
    await sleep(Math.max(0, hello.token_expires_at - Date.now()) + 1500);
    assert.equal(c.ws.readyState, c.ws.OPEN, 'still open after the first token expired');
    const conv = await s.conversation({ participants: ['pat', 'other'] });
    assert.equal((await c.say(conv, 'still here')).type, 'ack');
    // The connection now belongs to the new login session: logging that one out closes it.
    ok(await s.call('POST', '/api/v2/users/logout', { token: fresh.token }));
    assert.equal((await closedWithin(c)).code, CloseCodes.TOKEN_REVOKED);
  });

  it('a bad refresh is refused with a code and the connection keeps its token (and its expiry)', async () => {
    const c = await WsClient.open(s.wsUrl, await shortToken('pat', 3));
    const otherUser = (await s.server.core.auth.login(s.tenantId, 'other', { ttl_seconds: 600 })).token;
    const revoked = await s.server.core.auth.login(s.tenantId, 'pat', { ttl_seconds: 600 });
    ok(await s.call('POST', '/api/v2/users/logout', { token: revoked.token }));
    const cases: [string, unknown, string][] = [
      ['another user\'s token', { token: otherUser }, 'auth.token_mismatch'],
      ['a forged token', { token: 'a.b.c' }, 'auth.invalid_token'],
      ['a revoked token', { token: revoked.token }, 'auth.token_revoked'],
      ['no token', {}, 'frame.invalid'],
      ['an empty token', { token: '' }, 'frame.invalid'],
      ['a token that is not a string', { token: 42 }, 'frame.invalid'],
    ];
    for (const [label, body, code] of cases) {
      const id = `bad-${label.replace(/\W+/g, '-')}`;
      c.send({ type: 'refresh', id, ...(body as object) });
      const f = await c.next((x) => x.id === id);
      assert.equal(f.type, 'error', label);
      assert.equal(f.code, code, label);
    }
    c.send({ type: 'refresh', token: otherUser });
    assert.equal((await c.next((x) => x.type === 'error' && x.id === undefined)).code, 'frame.invalid', 'a refresh needs an id');
    assert.equal(c.ws.readyState, c.ws.OPEN);
    const closed = await closedWithin(c, 7000);
    assert.equal(closed.code, CloseCodes.TOKEN_EXPIRED, 'the old token still expires');
  });
});

describe('user state over every transport', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 }, ws: { heartbeatMs: 1000 } } });
  });
  after(() => s.stop());

  /** What a new long-poll with `token` is told (HTTP status and error code). */
  const pollRefusal = async (token: string) => {
    const res = await fetch(`${s.url}/api/v2/poll?hello=1&timeout=0`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, code: ((await res.json()) as { code?: string }).code };
  };

  for (const carrier of CARRIERS) {
    it(`${carrier}: a disabled user's connections end with user.disabled, another user's stay; enabled again, the same token works`, async () => {
      const pat = await s.user(`pat-dis-${carrier}`, 'patient');
      const doc = await s.user(`doc-dis-${carrier}`, 'doctor');
      const conv = await s.conversation({ participants: [pat.id, doc.id] });
      const [a, b, d] = await Promise.all([openOver(carrier, s, pat.token), openOver(carrier, s, pat.token), openOver(carrier, s, doc.token)]);
      assert.equal((await a.say(conv, 'before')).type, 'ack');
      ok(await putUser(s, pat.id, { role: 'patient', name: pat.id, disabled: true }));
      for (const c of [a, b]) {
        const closed = await closedWithin(c, 6000);
        assert.equal(closed.code, CloseCodes.USER_DISABLED, JSON.stringify(closed));
      }
      if (carrier === 'longpoll') assert.equal((await pollRefusal(pat.token)).code, 'user.disabled');
      // The other user is untouched: a message still reaches them.
      assert.equal((await d.say(conv, 'still here')).type, 'ack');
      ok(await putUser(s, pat.id, { role: 'patient', name: pat.id, disabled: false }));
      const back = await openOver(carrier, s, pat.token);
      assert.equal((await back.say(conv, 'back')).type, 'ack');
      for (const c of [back, d]) c.close();
    });

    it(`${carrier}: a role change ends the connection (4010), and it comes back with the new role`, async () => {
      const u = await s.user(`doc-role-${carrier}`, 'doctor');
      const c = await openOver(carrier, s, u.token);
      assert.equal(c.frames.find((f) => f.type === 'hello')!.user.role, 'doctor');
      ok(await putUser(s, u.id, { role: 'patient', name: u.id }));
      const closed = await closedWithin(c, 6000);
      assert.equal(closed.code, CloseCodes.USER_CHANGED, JSON.stringify(closed));
      const again = await openOver(carrier, s, u.token);
      assert.equal(again.frames.find((f) => f.type === 'hello')!.user.role, 'patient');
      again.close();
    });

    it(`${carrier}: a connection ends at its token's expiry (auth.token_expired); a refresh frame with a newer token keeps another open`, async () => {
      const u = await s.user(`pat-exp-${carrier}`, 'patient');
      const short = async (ttl: number) => (await s.server.core.auth.login(s.tenantId, u.id, { ttl_seconds: ttl })).token;
      const token = await short(2);
      const c = await openOver(carrier, s, token);
      const closed = await closedWithin(c, 8000);
      assert.equal(closed.code, CloseCodes.TOKEN_EXPIRED, JSON.stringify(closed));
      if (carrier === 'longpoll') assert.equal((await pollRefusal(token)).code, 'auth.token_expired');
      else assert.equal(closed.reason, 'auth.token_expired');
      if (carrier === 'longpoll') return; // a poll carries its token on every request: it refreshes by sending the new one
      const r = await openOver(carrier, s, await short(2));
      const fresh = await s.server.core.auth.login(s.tenantId, u.id, { ttl_seconds: 600 });
      r.send({ type: 'refresh', id: 'r1', token: fresh.token });
      assert.equal((await r.next((f) => f.id === 'r1')).type, 'refreshed');
      await sleep(3000);
      const peer = await s.user(`doc-exp-${carrier}`, 'doctor');
      const conv = await s.conversation({ participants: [u.id, peer.id] });
      assert.equal((await r.say(conv, 'still here')).type, 'ack', 'open past the first token\'s expiry');
      r.close();
    });
  }
});
