/**
 * The outbox: a send whose ack is lost is sent again with the same client_id after the
 * reconnect, and the server stores it once; a persisted outbox survives a "page reload".
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStorage, type SendAck } from '../src/index.ts';
import { Harness, TRANSPORTS, Inbox, text, waitFor, within } from './support/harness.ts';

const T = { timeout: 20_000 };

for (const transport of TRANSPORTS) {
describe(`outbox over ${transport}`, () => {
  const h = Harness.forSuite(undefined, { transport });

  test('acks lost in a connection drop: re-sent with the same client_id, stored once', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const d = h.client(doctor.token);
    const dIn = new Inbox(d);
    await Promise.all([c.connect(), d.connect()]);

    // The server stores the messages, but their acks never reach the client...
    net.lose = (f) => f.type === 'ack';
    const sends = [1, 2, 3].map((i) => c.send(conv, text(`m${i}`)));
    await dIn.wait(conv, 3);
    assert.equal(c.pendingSends().length, 3, 'still unacknowledged');
    const firstIds = net.sent.filter((f) => f.type === 'send').map((f) => f.message.client_id);
    assert.equal(firstIds.length, 3);

    // ...then the connection drops. The client reconnects and re-sends the same ids.
    net.lose = null;
    h.server.dropConnections();
    // Long-polling has no connection for the server to drop (each poll is a request of its
    // own): its equivalent is the link cut on the client's side.
    net.cut();
    const acks = await within(Promise.all(sends), 8000, 'acks after reconnect');
    assert.deepEqual(acks.map((a) => a.seq), [1, 2, 3]);
    assert.ok(acks.every((a) => a.duplicate), 'the server had stored them already');
    const resent = net.sent.filter((f) => f.type === 'send').map((f) => f.message.client_id);
    assert.ok(resent.length >= 3);
    for (const id of resent) assert.ok(firstIds.includes(id), 'no new client_id on retry');

    const stored = await c.history(conv, { limit: 50 });
    assert.deepEqual(stored.messages.map((m) => (m.content as { text: string }).text), ['m1', 'm2', 'm3'], 'each message stored once');
    await c.send(conv, text('m4'));
    await dIn.wait(conv, 4);
    assert.deepEqual(dIn.texts(conv), ['m1', 'm2', 'm3', 'm4'], 'the other side got each once');
  });

  test('a drop between send and ack (no loss injection): nothing lost, nothing doubled', T, async () => {
    const { patient, conv } = await h.pair();
    const c = h.client(patient.token);
    await c.connect();
    const sends: Promise<SendAck>[] = [];
    for (let i = 0; i < 30; i++) {
      sends.push(c.send(conv, text(`burst ${i}`)));
      if (i === 10 || i === 20) h.server.dropConnections();
    }
    const acks = await within(Promise.all(sends), 10_000, 'burst acks');
    assert.deepEqual(acks.map((a) => a.seq), Array.from({ length: 30 }, (_, i) => i + 1));
    const stored = await c.history(conv, { limit: 100 });
    assert.deepEqual(stored.messages.map((m) => (m.content as { text: string }).text), Array.from({ length: 30 }, (_, i) => `burst ${i}`));
  });

  test('a persisted outbox survives a reload: the new client sends it, once', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const storage = new MemoryStorage();
    const net = h.network();
    const first = h.client(patient.token, { storage, createWebSocket: net.factory });
    await first.connect();
    // Offline: the sends wait in the (persisted) outbox.
    net.goOffline();
    await waitFor(() => first.state === 'reconnecting', { what: 'reconnecting' });
    const lost = Promise.allSettled([first.send(conv, text('before reload 1')), first.send(conv, text('before reload 2'))]);
    await first.close(); // the "page" goes away
    assert.deepEqual((await lost).map((r) => r.status), ['rejected', 'rejected']);

    const d = h.client(doctor.token);
    const dIn = new Inbox(d);
    await d.connect();
    const second = h.client(patient.token, { storage });
    await second.ready();
    assert.equal(second.pendingSends().length, 2, 'restored from storage');
    const acks: SendAck[] = [];
    second.on('ack', (a) => acks.push(a));
    await second.connect();
    await waitFor(() => acks.length === 2, { what: 'two acks' });
    assert.deepEqual(acks.map((a) => a.seq), [1, 2]);
    await dIn.wait(conv, 2);
    assert.deepEqual(dIn.texts(conv), ['before reload 1', 'before reload 2']);
    assert.equal(second.pendingSends().length, 0);

    // A third "reload" on the same storage sends nothing again.
    const third = h.client(patient.token, { storage });
    await third.ready();
    assert.equal(third.pendingSends().length, 0);
    assert.equal((await second.history(conv)).messages.length, 2);
  });

  test('a message stored before the drop but acked by the catch-up is settled, not delivered as someone else\'s', T, async () => {
    const { patient, conv } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const mine = new Inbox(c);
    await c.connect();
    net.lose = (f) => f.type === 'ack';
    const p = c.send(conv, text('mine'));
    await waitFor(async () => (await c.history(conv)).messages.length === 1, { what: 'stored' });
    // Reconnect without losing acks; the catch-up streams our own message back.
    net.lose = null;
    net.cut();
    const ack = await within(p, 5000, 'ack');
    assert.equal(ack.seq, 1);
    assert.equal(ack.duplicate, true);
    await waitFor(() => c.state === 'open', { what: 'open again' });
    assert.equal(mine.of(conv).length, 0, 'own message not emitted as a message event');
    assert.equal(c.cursor(conv), 1);
  });
});
}
