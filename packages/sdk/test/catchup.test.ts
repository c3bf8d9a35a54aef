/**
 * Catch-up: what the other side sent while a client was away arrives after it reconnects,
 * in order, once, with no gaps — after a drop, a close/connect, a "reload" with persisted
 * cursors, and for conversations joined while away. The first connect skips old history.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStorage, type Message } from '../src/index.ts';
import { Harness, TRANSPORTS, Inbox, nextEvent, sleep, text, waitFor, within } from './support/harness.ts';

const T = { timeout: 20_000 };

function assertContiguous(messages: Message[], from: number, to: number): void {
  assert.deepEqual(messages.map((m) => m.seq), Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

for (const transport of TRANSPORTS) {
describe(`catch-up over ${transport}`, () => {
  const h = Harness.forSuite(undefined, { transport });

  test('first connect: old messages are history, not delivered; new ones are', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    for (let i = 1; i <= 3; i++) await h.server.sendAs(doctor.id, conv, `old ${i}`);
    const c = h.client(patient.token);
    const inbox = new Inbox(c);
    const synced = nextEvent(c, 'synced');
    await c.connect();
    const s = await synced;
    assert.equal(s.sent, 0);
    assert.deepEqual(s.conversations.find((x) => x.id === conv)?.last_seq, 3);
    assert.equal(c.cursor(conv), 3, 'adopted the head');
    await h.server.sendAs(doctor.id, conv, 'new 4');
    await inbox.wait(conv, 1);
    await sleep(50);
    assert.deepEqual(inbox.texts(conv), ['new 4']);
  });

  test('messages sent while the client was closed arrive on connect, in order, once', T, async () => {
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
    await sleep(50);
    assertContiguous(inbox.of(conv), 1, 9);
  });

  test('messages sent while the connection was down (drop, reconnect by itself) arrive once, in order', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const inbox = new Inbox(c);
    await c.connect();
    net.goOffline();
    await waitFor(() => c.state === 'reconnecting', { what: 'reconnecting' });
    for (let i = 1; i <= 10; i++) await h.server.sendAs(doctor.id, conv, `while down ${i}`);
    assert.equal(inbox.of(conv).length, 0);
    net.goOnline();
    await inbox.wait(conv, 10);
    assertContiguous(inbox.of(conv), 1, 10);
    assert.ok(net.opened >= 2);
  });

  test('a drop during a stream of messages loses nothing and doubles nothing', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const c = h.client(patient.token);
    const inbox = new Inbox(c);
    await c.connect();
    const sender = (async () => {
      for (let i = 1; i <= 60; i++) {
        await h.server.sendAs(doctor.id, conv, `s${i}`);
        if (i % 20 === 0) h.server.dropConnections();
      }
    })();
    await sender;
    await inbox.wait(conv, 60, 10_000);
    await sleep(100);
    assertContiguous(inbox.of(conv), 1, 60);
  });

  test('a "reload" with persisted cursors catches up from where the last page left', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const storage = new MemoryStorage();
    const first = h.client(patient.token, { storage });
    const firstIn = new Inbox(first);
    await first.connect();
    for (let i = 1; i <= 3; i++) await h.server.sendAs(doctor.id, conv, `m${i}`);
    await firstIn.wait(conv, 3);
    await first.close();
    for (let i = 4; i <= 6; i++) await h.server.sendAs(doctor.id, conv, `m${i}`);
    const second = h.client(patient.token, { storage });
    const secondIn = new Inbox(second);
    await second.connect();
    await secondIn.wait(conv, 3);
    await sleep(50);
    assertContiguous(secondIn.of(conv), 4, 6);
  });

  test('a conversation joined while away is streamed from the start of membership', T, async () => {
    const { patient, doctor } = await h.pair();
    const c = h.client(patient.token);
    const inbox = new Inbox(c);
    await c.connect();
    await c.close();
    await sleep(5); // joined strictly after the previous sync's server time
    const group = await h.server.conversation({ participants: [patient.id, doctor.id], type: 4, name: 'care team' });
    for (let i = 1; i <= 4; i++) await h.server.sendAs(doctor.id, group, `g${i}`);
    await c.connect();
    await inbox.wait(group, 4);
    assertContiguous(inbox.of(group), 1, 4);
  });

  test('a conversation created while connected: its messages arrive live', T, async () => {
    const { patient, doctor } = await h.pair();
    const c = h.client(patient.token);
    const inbox = new Inbox(c);
    await c.connect();
    const created = nextEvent(c, 'conversation', (e) => e.event === 'created');
    const group = await h.server.conversation({ participants: [patient.id, doctor.id], type: 4, name: 'new group' });
    assert.equal((await within(created, 3000, 'conversation event')).conversation_id, group);
    for (let i = 1; i <= 3; i++) await h.server.sendAs(doctor.id, group, `n${i}`);
    await inbox.wait(group, 3);
    assertContiguous(inbox.of(group), 1, 3);
  });
});
}
