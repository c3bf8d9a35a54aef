/**
 * Gap detection: when the network loses `message` frames, the next message (or the client's
 * own ack) reveals the gap; the client fetches the missing range and delivers everything in
 * order, once. Frames are lost by a faulty network in front of the real server.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CarelineError, type Message } from '../src/index.ts';
import type { FaultyNetwork } from './support/faulty-network.ts';
import { Harness, TRANSPORTS, Inbox, nextEvent, sleep, text, within } from './support/harness.ts';

const T = { timeout: 20_000 };

/** Loses the message frames of `conv` with these seqs, each once (or always). */
function loseSeqs(net: FaultyNetwork, conv: string, seqs: number[], always = false): Set<number> {
  const left = new Set(seqs);
  net.lose = (f) => {
    if (f.type !== 'message' || f.message.conversation_id !== conv || !left.has(f.message.seq)) return false;
    if (!always) left.delete(f.message.seq);
    return true;
  };
  return left;
}

const seqs = (ms: Message[]) => ms.map((m) => m.seq);

for (const transport of TRANSPORTS) {
describe(`gaps over ${transport}`, () => {
  const h = Harness.forSuite(undefined, { transport });

  test('a later seq first: the missing ones are fetched by sync and delivered in order', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const inbox = new Inbox(c);
    await c.connect();
    loseSeqs(net, conv, [4, 5]);
    for (let i = 1; i <= 8; i++) await h.server.sendAs(doctor.id, conv, `m${i}`);
    await inbox.wait(conv, 8);
    await sleep(50);
    assert.deepEqual(seqs(inbox.of(conv)), [1, 2, 3, 4, 5, 6, 7, 8]);
    const fills = net.sent.filter((f) => f.type === 'sync' && f.cursors[conv] === 3);
    assert.equal(fills.length, 1, 'one gap-fill sync from the cursor before the gap');
  });

  test('the own ack beyond a gap: the gap is filled first', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const inbox = new Inbox(c);
    await c.connect();
    loseSeqs(net, conv, [1, 2]);
    await h.server.sendAs(doctor.id, conv, 'lost 1');
    await h.server.sendAs(doctor.id, conv, 'lost 2');
    const ack = await c.send(conv, text('mine 3'));
    assert.equal(ack.seq, 3);
    await inbox.wait(conv, 2);
    assert.deepEqual(inbox.texts(conv), ['lost 1', 'lost 2']);
    assert.equal(c.cursor(conv), 3);
  });

  test('frames lost on every try: REST history fills the gap', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const net = h.network();
    const c = h.client(patient.token, { createWebSocket: net.factory });
    const inbox = new Inbox(c);
    await c.connect();
    loseSeqs(net, conv, [2], true); // the sync's copy is lost too
    for (let i = 1; i <= 4; i++) await h.server.sendAs(doctor.id, conv, `m${i}`);
    await inbox.wait(conv, 4);
    assert.deepEqual(seqs(inbox.of(conv)), [1, 2, 3, 4]);
  });

  test('a gap the server answers without (history has no such message) is skipped and reported, and delivery goes on', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const net = h.network();
    // The frames of seq 2 are lost on every try, and history answers without it (as for a
    // message purged by retention): the server has answered, and has nothing to give.
    const historyWithout2: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).includes('/messages?') || res.status !== 200) return res;
      const body = (await res.json()) as { messages: Message[] };
      body.messages = body.messages.filter((m) => m.seq !== 2);
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const c = h.client(patient.token, { createWebSocket: net.factory, fetch: historyWithout2 });
    const inbox = new Inbox(c);
    await c.connect();
    loseSeqs(net, conv, [2], true);
    const skipped = nextEvent(c, 'error', (e) => e.code === 'client.gap_skipped');
    for (let i = 1; i <= 3; i++) await h.server.sendAs(doctor.id, conv, `m${i}`);
    const err = await within(skipped, 5000, 'gap_skipped');
    assert.deepEqual(err.details, { conversation_id: conv, from: 2, to: 2 });
    await inbox.wait(conv, 2);
    assert.deepEqual(seqs(inbox.of(conv)), [1, 3]);
  });

  test('a fill the server cannot serve for now (network down) is tried again until it works, never skipped', T, async () => {
    const { patient, doctor, conv } = await h.pair();
    const net = h.network();
    let failing = 3;
    let historyCalls = 0;
    const flakyHistory: typeof fetch = (input, init) => {
      if (!String(input).includes('/messages?')) return fetch(input, init);
      historyCalls++;
      return failing-- > 0 ? Promise.reject(new TypeError('network down')) : fetch(input, init);
    };
    const c = h.client(patient.token, { createWebSocket: net.factory, fetch: flakyHistory, reconnect: { baseMs: 100, maxMs: 400 } });
    const inbox = new Inbox(c);
    const errors: CarelineError[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    loseSeqs(net, conv, [2], true); // the sync's copy is lost too: only REST can bring it
    for (let i = 1; i <= 3; i++) await h.server.sendAs(doctor.id, conv, `m${i}`);
    await inbox.wait(conv, 3);
    assert.deepEqual(seqs(inbox.of(conv)), [1, 2, 3]);
    assert.equal(historyCalls, 4, 'three failed tries, then the one that worked');
    assert.equal(errors.filter((e) => e.code === 'client.network_error').length, 3, 'each failed try was reported');
    assert.ok(!errors.some((e) => e.code === 'client.gap_skipped'), 'nothing was skipped');
  });
});
}
