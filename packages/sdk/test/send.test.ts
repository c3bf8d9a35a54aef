/** Sending: acks, ordering between two clients, refusals, the offline queue. Real server, real WebSockets. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CarelineError, MessageTypes, type SendAck } from '../src/index.ts';
import { Harness, TRANSPORTS, Inbox, nextEvent, text, waitFor, within } from './support/harness.ts';

const T = { timeout: 20_000 };

for (const transport of TRANSPORTS) {
describe(`send over ${transport}`, () => {
  const h = Harness.forSuite(undefined, { transport });

  test('resolves on the durable ack, with the seq', T, async () => {
    const { patient, conv } = await h.pair();
    const c = h.client(patient.token);
    await within(c.connect(), 5000, 'connect');
    assert.equal(c.state, 'open');
    assert.equal(c.user?.id, patient.id);
    const acks: SendAck[] = [];
    c.on('ack', (a) => acks.push(a));
    const a1 = await c.send(conv, text('first'));
    const a2 = await c.send(conv, { type: MessageTypes.TEXT, content: { text: 'second' } }, { clientId: 'my-own-id-2' });
    assert.equal(a1.seq, 1);
    assert.equal(a2.seq, 2);
    assert.equal(a2.client_id, 'my-own-id-2');
    assert.equal(a1.duplicate, false);
    assert.match(a1.message_id, /\S/);
    assert.deepEqual(acks.map((a) => a.seq), [1, 2]);
    assert.equal(c.cursor(conv), 2, 'own acked messages move the cursor');
    assert.equal(c.pendingSends().length, 0);
    const stored = await c.history(conv);
    assert.deepEqual(stored.messages.map((m) => [m.seq, m.id, m.client_id]), [
      [1, a1.message_id, a1.client_id],
      [2, a2.message_id, 'my-own-id-2'],
    ]);
  });

  test('two clients see each other\'s messages, in order, once', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const p = h.client(patient.token);
    const d = h.client(doctor.token);
    const pIn = new Inbox(p);
    const dIn = new Inbox(d);
    await Promise.all([p.connect(), d.connect()]);
    const sends: Promise<SendAck>[] = [];
    for (let i = 0; i < 20; i++) {
      sends.push(p.send(conv, text(`p${i}`)));
      sends.push(d.send(conv, text(`d${i}`)));
    }
    const acks = await within(Promise.all(sends), 10_000, 'acks');
    assert.deepEqual(acks.map((a) => a.seq).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
    await dIn.wait(conv, 20);
    await pIn.wait(conv, 20);
    // Each side gets exactly the other's messages, in the order they were sent, ascending by seq.
    assert.deepEqual(dIn.texts(conv), Array.from({ length: 20 }, (_, i) => `p${i}`));
    assert.deepEqual(pIn.texts(conv), Array.from({ length: 20 }, (_, i) => `d${i}`));
    for (const inbox of [pIn, dIn]) {
      const seqs = inbox.of(conv).map((m) => m.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    }
    assert.equal(p.cursor(conv), 40);
    await waitFor(() => d.cursor(conv) === 40, { what: 'doctor cursor at 40' });
  });

  test('a refused message rejects with the server\'s code and is not retried', T, async () => {
    const { patient, conv } = await h.pair();
    const c = h.client(patient.token);
    await c.connect();
    const err = await c.send(conv, { type: MessageTypes.TEXT, content: { wrong: 1 } }).then(
      () => assert.fail('should reject'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CarelineError);
    assert.equal(err.code, 'message.content_invalid');
    assert.equal(err.conversationId, conv);
    assert.equal(c.pendingSends().length, 0, 'dropped from the outbox');
    const others = await h.pair();
    const e2 = await c.send(others.conv, text('hi')).catch((e: unknown) => e);
    assert.ok(e2 instanceof CarelineError);
    assert.equal(e2.code, 'conversation.not_participant');
    // The connection is still fine.
    assert.equal((await c.send(conv, text('ok'))).seq, 1);
  });

  test('sends made before connecting go out on connect, in order', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const c = h.client(patient.token);
    const d = h.client(doctor.token);
    const dIn = new Inbox(d);
    await d.connect();
    const pending = [1, 2, 3, 4, 5].map((i) => c.send(conv, text(`queued ${i}`)));
    assert.equal(c.pendingSends().length, 5);
    assert.equal(c.state, 'closed');
    await c.connect();
    const acks = await within(Promise.all(pending), 5000, 'queued sends');
    assert.deepEqual(acks.map((a) => a.seq), [1, 2, 3, 4, 5]);
    await dIn.wait(conv, 5);
    assert.deepEqual(dIn.texts(conv), [1, 2, 3, 4, 5].map((i) => `queued ${i}`));
  });

  test('sends made while the connection is down go out after the reconnect', T, async () => {
    const { patient, conv } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { reconnect: { baseMs: 300, maxMs: 300 }, createWebSocket: net.factory });
    await c.connect();
    const down = nextEvent(c, 'state', (s) => s.state === 'reconnecting', 15_000);
    h.server.dropConnections();
    // Long-polling has no connection for the server to drop: its equivalent is the link cut on the client's side.
    net.cut();
    await down;
    const pending = [1, 2, 3].map((i) => c.send(conv, text(`offline ${i}`)));
    assert.equal(c.pendingSends().length, 3);
    const acks = await within(Promise.all(pending), 15_000, 'sends after reconnect');
    assert.deepEqual(acks.map((a) => a.seq), [1, 2, 3]);
    assert.equal(c.state, 'open');
    const stored = await c.history(conv);
    assert.deepEqual(stored.messages.map((m) => (m.content as { text: string }).text), ['offline 1', 'offline 2', 'offline 3']);
  });

  test('close() rejects pending sends with client.closed but keeps them in the outbox', T, async () => {
    const { patient, conv } = await h.pair();
    const c = h.client(patient.token);
    const rejected = assert.rejects(c.send(conv, text('never connected')), (e: unknown) => e instanceof CarelineError && e.code === 'client.closed');
    await c.close();
    await rejected;
    assert.equal(c.pendingSends().length, 1);
    const ack = nextEvent(c, 'ack');
    await c.connect();
    assert.equal((await ack).seq, 1, 'sent on the next connect, reported by the ack event');
  });
});
}
