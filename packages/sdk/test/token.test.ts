/**
 * Tokens and the user's state, with the real SDK against a real server: a client with a
 * `tokenProvider` swaps in a new token before the old one expires and stays connected; without
 * one it stops at the expiry with `auth.token_expired`; a disabled user stops with
 * `user.disabled`; a role change reconnects by itself with the new role.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CarelineClient, CarelineError, ConnectionState } from '../src/index.ts';
import { Harness, nextEvent, sleep, text, waitFor, within } from './support/harness.ts';

const T = { timeout: 30_000 };

describe('token expiry and refresh', () => {
  const h = Harness.forSuite();
  /** A real token of a real login session, shorter-lived than the API's minimum (60 s). */
  const shortToken = async (userId: string, ttlSeconds: number) => (await h.server.server.core.auth.login(h.server.tenantId, userId, { ttl_seconds: ttlSeconds })).token;
  const record = (c: CarelineClient) => {
    const states: ConnectionState[] = [];
    const errors: CarelineError[] = [];
    c.on('state', (s) => states.push(s.state));
    c.on('error', (e) => errors.push(e));
    return { states, errors };
  };

  test('with a tokenProvider the open connection takes a new token before each expiry and never drops', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    let calls = 0;
    const c = h.client(await shortToken(patient.id, 2), {
      tokenProvider: async () => {
        calls++;
        return shortToken(patient.id, 2);
      },
    });
    await c.connect();
    const log = record(c);
    const connections = () => [...h.server.server.ws.hub.connections()].filter((x) => x.principal.userId === patient.id).map((x) => x.id);
    const [first] = connections();
    await sleep(4500); // two tokens' lifetimes
    assert.ok(calls >= 2, `the provider was asked before each expiry (${calls})`);
    assert.deepEqual(log.states, [], `the client never left the open state: ${JSON.stringify(log.errors.map((e) => [e.code, e.message]))}`);
    assert.deepEqual(log.errors, []);
    assert.deepEqual(connections(), [first], 'the same connection, still open');
    const ack = await within(c.send(conv, text('after the first tokens expired')), 3000, 'send');
    assert.ok(ack.seq > 0);
    // REST uses the current token too.
    assert.equal((await c.api.badge()) >= 0, true);
    void doctor;
  });

  test('without a tokenProvider the client stops at the expiry with auth.token_expired (once); setToken and connect resume', T, async () => {
    const { patient, conv } = await h.pair();
    const c = h.client(await shortToken(patient.id, 2));
    const log = record(c);
    await c.connect();
    const stopped = await within(nextEvent(c, 'state', (s) => s.state === 'closed', 6000), 6500, 'closed');
    assert.equal(stopped.error?.code, 'auth.token_expired');
    assert.equal(stopped.error?.closeCode, 4501);
    assert.deepEqual(log.errors.map((e) => e.code), ['auth.token_expired'], 'reported once');
    c.setToken((await h.server.user(patient.id)).token);
    await within(c.connect(), 5000, 'connect');
    assert.ok((await c.send(conv, text('back'))).seq > 0);
  });

  test('a token that expired before connect: the tokenProvider gives a new one and the client connects', T, async () => {
    const { patient } = await h.pair();
    const expired = await shortToken(patient.id, 1);
    await sleep(1100);
    let calls = 0;
    const c = h.client(expired, { tokenProvider: () => (calls++, shortToken(patient.id, 60)) });
    const log = record(c);
    await within(c.connect(), 5000, 'connect');
    assert.equal(calls, 1);
    assert.deepEqual(log.errors, [], 'recovered by itself: nothing to report');
  });

  test('a tokenProvider that gives up (null) stops the client with auth.token_expired; one that fails is reported and asked again', T, async () => {
    const { patient } = await h.pair();
    const giveUp = h.client(await shortToken(patient.id, 1), { tokenProvider: () => null });
    await sleep(1100);
    await assert.rejects(within(giveUp.connect(), 5000, 'connect'), (e: CarelineError) => e.code === 'auth.token_expired');
    assert.equal(giveUp.state, 'closed');

    let calls = 0;
    const flaky = h.client(await shortToken(patient.id, 1), {
      tokenProvider: async () => {
        if (++calls === 1) throw new Error('backend down');
        return shortToken(patient.id, 60);
      },
    });
    const log = record(flaky);
    await sleep(1100);
    await within(flaky.connect(), 5000, 'connect');
    assert.equal(calls, 2);
    assert.deepEqual(log.errors.map((e) => e.code), ['client.token_provider']);
  });

  test('setToken with another user\'s token on an open connection: auth.token_mismatch, and the connection keeps its token', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const c = h.client(patient.token);
    await c.connect();
    const err = nextEvent(c, 'error');
    c.setToken(doctor.token);
    assert.equal((await within(err, 3000, 'error')).code, 'auth.token_mismatch');
    assert.equal(c.state, 'open');
    c.setToken(patient.token);
    assert.ok((await c.send(conv, text('still the patient'))).seq > 0);
  });
});

describe('the user changed on the server', () => {
  const h = Harness.forSuite();

  test('disabled: the client stops with user.disabled, reported once', T, async () => {
    const { patient } = await h.pair();
    const c = h.client(patient.token);
    const errors: string[] = [];
    c.on('error', (e) => errors.push(e.code));
    await c.connect();
    const stopped = nextEvent(c, 'state', (s) => s.state === 'closed');
    assert.equal((await h.server.call('PUT', `/api/v2/management/users/${patient.id}`, { body: { role: 'patient', name: 'x', disabled: true } })).status, 200);
    const s = await within(stopped, 3000, 'closed');
    assert.equal(s.error?.code, 'user.disabled');
    assert.equal(s.error?.closeCode, 4504);
    await sleep(300);
    assert.deepEqual(errors, ['user.disabled']);
    assert.equal(c.state, 'closed', 'does not reconnect');
  });

  test('a new role: the client reconnects by itself and its user has the new role', T, async () => {
    const { doctor } = await h.pair();
    const c = h.client(doctor.token);
    await c.connect();
    assert.equal(c.user?.role, 'doctor');
    assert.equal((await h.server.call('PUT', `/api/v2/management/users/${doctor.id}`, { body: { role: 'patient', name: 'x' } })).status, 200);
    await waitFor(() => c.state === 'open' && c.user?.role === 'patient', { timeoutMs: 5000, what: 'reconnected as a patient' });
  });
});
