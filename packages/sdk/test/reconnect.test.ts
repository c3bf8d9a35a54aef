/**
 * Reconnection: after a server restart the client reconnects by itself and catches up; a
 * silent connection is dropped after 2× heartbeat; idle connections stay up on pings; a
 * terminal close (revoked token) stops reconnecting and reports the error.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CarelineClient, CarelineError, type ConnectionState } from '../src/index.ts';
import { Harness, TRANSPORTS, Inbox, nextEvent, sleep, text, waitFor, within } from './support/harness.ts';

const T = { timeout: 30_000 };

function states(c: CarelineClient): ConnectionState[] {
  const out: ConnectionState[] = [];
  c.on('state', (s) => out.push(s.state));
  return out;
}

for (const transport of TRANSPORTS) {
describe(`server restart over ${transport}`, () => {
  // Its own server with no config overrides: the test helper's restart() reloads the config.
  const h = Harness.forSuite(undefined, { transport });

  test('server restart: the client reconnects by itself, catches up, and its pending send goes through', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const c = h.client(patient.token);
    const inbox = new Inbox(c);
    const seen = states(c);
    await c.connect();
    await h.server.sendAs(doctor.id, conv, 'before');
    await inbox.wait(conv, 1);

    const restarting = h.server.restart();
    const pending = c.send(conv, text('during restart'));
    await restarting;
    await h.server.sendAs(doctor.id, conv, 'after');
    const ack = await within(pending, 10_000, 'send across the restart');
    await inbox.wait(conv, 2, 10_000);
    await waitFor(() => c.state === 'open', { what: 'open' });
    assert.deepEqual(inbox.texts(conv), ['before', 'after']);
    const stored = (await c.history(conv)).messages.map((m) => [m.seq, (m.content as { text: string }).text]);
    assert.deepEqual(stored.map((x) => x[1]).sort(), ['after', 'before', 'during restart']);
    assert.equal(stored.find((x) => x[1] === 'during restart')?.[0], ack.seq);
    assert.ok(seen.includes('reconnecting'), `went through reconnecting: ${seen.join(' → ')}`);
    assert.equal(c.cursor(conv), 3);
  });
});
}

for (const transport of TRANSPORTS) {
describe(`reconnect over ${transport}`, () => {
  const h = Harness.forSuite({ ws: { heartbeatMs: 1000 } }, { transport });

  test('a silent connection (no frame for 2× heartbeat) is dropped and replaced', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const inbox = new Inbox(c);
    await c.connect();
    const t0 = Date.now();
    const gone = nextEvent(c, 'state', (s) => s.state === 'reconnecting', 6000);
    net.freeze();
    await gone;
    const silentFor = Date.now() - t0;
    assert.ok(silentFor >= 1500 && silentFor < 4500, `detected after ${silentFor} ms (heartbeat 1000)`);
    await waitFor(() => c.state === 'open', { what: 'open again', timeoutMs: 5000 });
    await h.server.sendAs(doctor.id, conv, 'after the dead link');
    await inbox.wait(conv, 1);
    assert.equal(net.opened, 2);
  });

  test('an idle connection stays open: pings every heartbeat keep it alive', T, async () => {
    const { patient } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    await c.connect();
    const seen = states(c);
    await sleep(3500);
    assert.deepEqual(seen, [], 'no state change');
    assert.equal(net.opened, 1);
    const pings = net.sent.filter((f) => f.type === 'ping').length;
    assert.ok(pings >= 3, `${pings} pings in 3.5 s`);
  });

  test('logout (revoked token): terminal close, error reported, no reconnect', T, async () => {
    const { patient } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const seen = states(c);
    await c.connect();
    const error = nextEvent(c, 'error');
    const closed = nextEvent(c, 'state', (s) => s.state === 'closed');
    const res = await fetch(`${h.server.url}/api/v2/users/logout`, { method: 'POST', headers: { authorization: `Bearer ${patient.token}` } });
    assert.equal(res.status, 200);
    const err = await within(error, 5000, 'error event');
    assert.ok(err instanceof CarelineError);
    assert.equal(err.code, 'auth.token_revoked');
    assert.equal(err.closeCode, 4502);
    const st = await closed;
    assert.equal(st.error?.code, 'auth.token_revoked');
    await sleep(800);
    assert.equal(c.state, 'closed');
    assert.equal(net.opened, 1, 'did not try to reconnect');
    assert.deepEqual(seen, ['connecting', 'open', 'closed']);
    // Sends now wait in the outbox; with a new token the app connects again.
    const fresh = await h.server.user(patient.id, 'patient');
    c.setToken(fresh.token);
    await within(c.connect(), 5000, 'connect with the new token');
    assert.equal(c.state, 'open');
  });

  test('a bad token: connect() rejects with auth.invalid_token and no retries', T, async () => {
    const net = h.network();
    const c = h.client('not-a-token', { createWebSocket: net.factory });
    const errors: CarelineError[] = [];
    c.on('error', (e) => errors.push(e));
    await assert.rejects(within(c.connect(), 5000, 'connect'), (e: unknown) => e instanceof CarelineError && e.code === 'auth.invalid_token');
    await sleep(300);
    assert.equal(c.state, 'closed');
    assert.equal(net.opened, 1);
    assert.equal(errors.length, 1, 'reported once');
    assert.equal(errors[0]?.closeCode, 4500);
  });

  test('a server that is down at first: the client keeps trying (connecting) and gets in when it is up', T, async () => {
    const { patient } = await h.pair();
    const net = h.network();
    net.offline = true;
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const seen = states(c);
    const connected = c.connect();
    await waitFor(() => net.opened >= 3, { what: '3 attempts' });
    assert.equal(c.state, 'connecting');
    net.goOnline();
    await within(connected, 5000, 'connect');
    assert.deepEqual(seen, ['connecting', 'open']);
  });
});
}
