/**
 * The SDK over long-polling: `transport: 'longpoll'` with the same API and events as the
 * WebSocket, and the fallback to long-polling when a WebSocket cannot connect. Real server,
 * real HTTP.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { CarelineError, type Message } from '../src/index.ts';
import { Harness, Inbox, nextEvent, sleep, text, waitFor, within } from './support/harness.ts';

const T = { timeout: 30_000 };

function assertContiguous(messages: Message[], from: number, to: number): void {
  assert.deepEqual(messages.map((m) => m.seq), Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

/** A port where nothing listens (connections refused). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('sdk over long-polling', () => {
  const h = Harness.forSuite();

  test('connects, sends with durable acks, and exchanges messages with a WebSocket client, in order, once', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token, { transport: 'longpoll' });
    const d = h.client(doctor.token);
    const pIn = new Inbox(p);
    const dIn = new Inbox(d);
    await within(Promise.all([p.connect(), d.connect()]), 10_000, 'connect');
    assert.equal(p.state, 'open');
    assert.equal(p.transport, 'longpoll');
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
    // A duplicate client id: the first result, nothing stored.
    const again = await p.send(conv, text('p0'), { clientId: got[0]!.client_id });
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, got[0]!.seq);
  });

  test('keeps several POSTs in flight, numbered; the messages are stored in the order sent', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    // The real fetch, watched: how many POSTs are open at once, and their numbers.
    let open = 0;
    let most = 0;
    const numbers: number[] = [];
    const watched: typeof fetch = async (input, init) => {
      const url = new URL(String(input));
      if (url.pathname.endsWith('/poll/send')) {
        numbers.push(Number(url.searchParams.get('n')));
        most = Math.max(most, ++open);
        try {
          return await fetch(input, init);
        } finally {
          open--;
        }
      }
      return fetch(input, init);
    };
    const p = h.client(patient.token, { transport: 'longpoll', fetch: watched, longPoll: { postsInFlight: 4 } });
    const d = h.client(doctor.token);
    const dIn = new Inbox(d);
    await within(Promise.all([p.connect(), d.connect()]), 10_000, 'connect');
    const acks = await within(Promise.all(Array.from({ length: 12 }, (_, i) => p.send(conv, text(`q${i}`)))), 10_000, 'acks');
    assert.ok(most > 1 && most <= 4, `POSTs in flight at once: ${most}`);
    assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => i + 1), 'numbered 1, 2, 3…');
    assert.deepEqual(acks.map((a) => a.seq), [...acks.map((a) => a.seq)].sort((a, b) => a - b), 'stored in the order sent');
    await dIn.wait(conv, 12);
    assert.deepEqual(dIn.texts(conv), Array.from({ length: 12 }, (_, i) => `q${i}`));
  });

  test('receipts and typing reach a long-poll client, also those that came between two polls', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const d = h.client(doctor.token, { transport: 'longpoll' });
    const p = h.client(patient.token);
    await Promise.all([d.connect(), p.connect()]);
    const reads: number[] = [];
    const typing: string[] = [];
    d.on('read', (r) => reads.push(r.seq));
    d.on('typing', (t) => typing.push(t.user_id));
    for (let i = 0; i < 5; i++) {
      const ack = await d.send(conv, text(`m${i}`));
      p.typing(conv);
      p.markRead(conv, ack.seq);
      await waitFor(() => reads.includes(ack.seq), { what: `receipt ${ack.seq}` });
    }
    await waitFor(() => typing.length >= 1, { what: 'typing' });
    assert.ok(typing.every((u) => u === patient.id));
  });

  test('catches up after being closed: each message once, in order', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const c = h.client(patient.token, { transport: 'longpoll' });
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
    const c = h.client('not-a-jwt', { transport: 'longpoll' });
    const err = await within(c.connect().then(() => null, (e: unknown) => e), 10_000, 'refusal');
    assert.ok(err instanceof CarelineError);
    assert.equal(err.code, 'auth.invalid_token');
    assert.equal(c.state, 'closed');
  });

  test('falls back to long-polling when the WebSocket is refused', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const port = await deadPort();
    const c = h.client(patient.token, { wsUrl: `ws://127.0.0.1:${port}/ws` });
    const inbox = new Inbox(c);
    await within(c.connect(), 10_000, 'connect');
    assert.equal(c.transport, 'longpoll');
    await h.server.sendAs(doctor.id, conv, 'over http');
    await inbox.wait(conv, 1);
    const ack = await c.send(conv, text('back'));
    assert.equal(ack.duplicate, false);
  });

  test('falls back to long-polling when WebSockets are blocked (no WebSocket at all)', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const c = h.client(patient.token, { createWebSocket: () => { throw new Error('WebSocket is disabled'); } });
    c.on('error', () => {});
    const inbox = new Inbox(c);
    await within(c.connect(), 10_000, 'connect');
    assert.equal(c.transport, 'longpoll');
    await h.server.sendAs(doctor.id, conv, 'blocked ws');
    await inbox.wait(conv, 1);
  });

  test('does not fall back when told not to', T, async () => {
    const { patient } = await h.pair();
    const port = await deadPort();
    const c = h.client(patient.token, { wsUrl: `ws://127.0.0.1:${port}/ws`, longPollFallback: false });
    c.on('error', () => {});
    void c.connect().catch(() => {});
    await sleep(1000);
    assert.equal(c.transport, 'websocket');
    assert.notEqual(c.state, 'open');
    await c.close();
  });

  test('a long-poll client\'s polls keep it online; presence is the same as over WebSocket', T, async () => {
    const { patient } = await h.pair();
    const c = h.client(patient.token, { transport: 'longpoll' });
    await c.connect();
    await waitFor(async () => (await h.server.server.core.presence.status(h.server.tenantId, patient.id)).online, { what: 'online' });
    await c.close();
  });
});
