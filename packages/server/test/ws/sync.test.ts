/** Catch-up and resilience: nothing missed, nothing doubled, in order; heartbeat, slow consumers, shutdown. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCodes } from '@careline/protocol';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, sleep, type Frame } from '../support/ws-client.ts';
import { MqttFrameClient } from '../support/mqtt-frame-client.ts';

function assertContiguous(seqs: number[], from: number, to: number): void {
  assert.deepEqual(seqs, Array.from({ length: to - from }, (_, i) => from + 1 + i));
}

// Over the carriers with sync frames (long-poll's catch-up is its poll cursor: test/transports/longpoll.test.ts).
for (const transport of ['websocket', 'mqtt'] as const) {
describe(`catch-up (sync) over ${transport}`, () => {
  let s: TestServer;
  let doc: { token: string };
  let pat: { token: string };
  let conv: string;
  const open: (WsClient | MqttFrameClient)[] = [];
  /** A connection; `sync`: live frames held until its first sync (WebSocket `?sync=1`; MQTT's frames topic holds until the test's own sync). */
  const connect = (token: string, o: { sync?: boolean } = {}): Promise<WsClient | MqttFrameClient> =>
    transport === 'websocket' ? WsClient.open(s.wsUrl, token, o) : MqttFrameClient.open(`mqtt://127.0.0.1:${s.server.mqttPort}`, token, { sync: !o.sync });

  before(async () => {
    s = await startTestServer({ config: { ws: { syncPageSize: 10 }, mqtt: { enabled: true, port: 0 } } });
    doc = await s.user('doc', 'doctor');
    pat = await s.user('pat', 'patient');
    conv = await s.conversation({ participants: ['doc', 'pat'] });
  });
  after(async () => {
    for (const c of open) c.close();
    await s.stop();
  });

  it('sends everything after the cursors, in order, then sync_done with the heads', async () => {
    for (let i = 0; i < 35; i++) await s.sendAs('doc', conv, `offline ${i}`);
    const b = await connect(pat.token, { sync: true });
    open.push(b);
    b.send({ type: 'sync', id: 's1', cursors: { [conv]: 5 } });
    const done = await b.next((f) => f.type === 'sync_done' && f.id === 's1');
    assert.equal(done.sent, 30);
    assert.deepEqual(done.conversations.find((c: Frame) => c.id === conv), { id: conv, last_seq: 35, read_seq: 0 });
    assertContiguous(b.messages(conv).map((m) => m.seq), 5, 35);
    const doneAt = b.frames.indexOf(done);
    assert.ok(b.frames.slice(0, doneAt).filter((f) => f.type === 'message').length === 30, 'the catch-up comes before sync_done');
  });

  it('with live traffic during the catch-up, each message arrives once, in order, with no gap', async () => {
    const a = await connect(doc.token);
    open.push(a);
    const base = (await s.call('GET', `/api/v2/sessions/${conv}/session`, { token: doc.token })).body.session.last_seq as number;
    for (let i = 0; i < 100; i++) await s.sendAs('doc', conv, `backlog ${i}`);
    const b = await connect(pat.token, { sync: true });
    open.push(b);
    // Live sends start before the sync frame and keep going while it runs.
    const live = (async () => {
      for (let i = 0; i < 100; i++) {
        a.send({ type: 'send', id: `L${i}`, conversation_id: conv, message: { client_id: `live-${i}`, type: 1, content: { text: `live ${i}` } } });
        if (i % 10 === 0) await sleep(1);
      }
    })();
    await sleep(2);
    b.send({ type: 'sync', id: 's2', cursors: { [conv]: base } });
    await live;
    await a.count((f) => f.type === 'ack' && String(f.id).startsWith('L'), 100);
    const msgs = await b.count((f) => f.type === 'message', 200, 10_000);
    assertContiguous(msgs.map((f) => f.message.seq), base, base + 200);
  });

  // A client without `?sync=1` is the WebSocket's alone: MQTT's frames topic always holds until the first sync.
  if (transport === 'websocket') it('a sync after live frames began to flow (no sync=1) does not send those frames again', async () => {
    const base = (await s.call('GET', `/api/v2/sessions/${conv}/session`, { token: doc.token })).body.session.last_seq as number;
    assert.ok(base >= 2);
    const b = await connect(pat.token);
    open.push(b);
    for (let i = 0; i < 3; i++) await s.sendAs('doc', conv, `live first ${i}`);
    await b.count((f) => f.type === 'message' && f.message.conversation_id === conv, 3);
    // The client lacks two older messages: the catch-up sends those, not the three it got live.
    b.send({ type: 'sync', id: 's5', cursors: { [conv]: base - 2 } });
    const done = await b.next((f) => f.type === 'sync_done' && f.id === 's5');
    assert.equal(done.sent, 2);
    assert.deepEqual(b.messages(conv).map((m) => m.seq), [base + 1, base + 2, base + 3, base - 1, base]);
  });

  it('a conversation joined while offline is sent from the start of membership when `since` is given', async () => {
    const b = await connect(pat.token, { sync: true });
    b.send({ type: 'sync', id: 's0', cursors: { [conv]: 1_000_000 } });
    const first = await b.next((f) => f.type === 'sync_done' && f.id === 's0');
    b.close();
    await b.closed;
    await s.user('nurse', 'staff');
    const fresh = await s.conversation({ participants: ['nurse', 'pat'], type: 2 });
    for (let i = 0; i < 3; i++) await s.sendAs('nurse', fresh, `while you were away ${i}`);
    const c = await connect(pat.token, { sync: true });
    open.push(c);
    c.send({ type: 'sync', id: 's3', cursors: { [conv]: first.conversations.find((x: Frame) => x.id === conv).last_seq }, since: first.server_time });
    const done = await c.next((f) => f.type === 'sync_done' && f.id === 's3');
    assert.equal(done.sent, 3);
    assertContiguous(c.messages(fresh).map((m) => m.seq), 0, 3);
    // Without `since`, a conversation with no cursor is only listed.
    const d = await connect(pat.token, { sync: true });
    open.push(d);
    d.send({ type: 'sync', id: 's4', cursors: {} });
    const listed = await d.next((f) => f.type === 'sync_done' && f.id === 's4');
    assert.equal(listed.sent, 0);
    assert.ok(listed.conversations.some((x: Frame) => x.id === fresh));
  });
});
}

describe('a sync that comes after the hold ran out', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ config: { ws: { syncHoldMs: 200 } } });
  });
  after(() => s.stop());

  it('does not send again what the released hold and live traffic already delivered', async () => {
    const doc = await s.user('doc2', 'doctor');
    const pat = await s.user('pat2', 'patient');
    const conv = await s.conversation({ participants: ['doc2', 'pat2'] });
    await s.user('nurse2', 'staff');
    const other = await s.conversation({ participants: ['doc2', 'pat2', 'nurse2'] });
    for (let i = 0; i < 3; i++) await s.sendAs('doc2', conv, `before ${i}`); // seqs 1..3, missed while offline
    const a = await WsClient.open(s.wsUrl, doc.token);
    const b = await WsClient.open(s.wsUrl, pat.token, { sync: true });
    // Held, then released by the timer (the client promised a sync and is late with it).
    a.send({ type: 'send', id: 'h', conversation_id: conv, message: { client_id: 'held', type: 1, content: { text: 'held' } } });
    await a.next((f) => f.type === 'ack' && f.id === 'h');
    await b.next((f) => f.type === 'message' && f.message.client_id === 'held');
    // Live after the release.
    for (let i = 0; i < 3; i++) {
      a.send({ type: 'send', id: `l${i}`, conversation_id: conv, message: { client_id: `live-${i}`, type: 1, content: { text: `live ${i}` } } });
      await b.next((f) => f.type === 'message' && f.message.client_id === `live-${i}`);
    }
    await s.sendAs('doc2', other, 'in the other conversation');
    await b.next((f) => f.type === 'message' && f.message.conversation_id === other);
    // The late sync, with the cursors the client had when it connected.
    b.send({ type: 'sync', id: 'late', cursors: { [conv]: 0, [other]: 0 } });
    const done = await b.next((f) => f.type === 'sync_done' && f.id === 'late');
    assert.equal(done.sent, 3, 'only the three the client never got');
    assertContiguous(b.messages(conv).map((m) => m.seq).sort((x, y) => x - y), 0, 7);
    assert.equal(b.messages(conv).length, 7, 'each message of the conversation once');
    assert.equal(b.messages(other).length, 1);
    // After the sync the connection is live as usual, and a second sync sends what is asked.
    a.send({ type: 'send', id: 'after', conversation_id: conv, message: { client_id: 'after', type: 1, content: { text: 'after' } } });
    const afterFrame = await b.next((f) => f.type === 'message' && f.message.client_id === 'after');
    const between = b.frames.slice(b.frames.indexOf(done) + 1, b.frames.indexOf(afterFrame));
    assert.deepEqual(between.filter((f) => f.type === 'message'), [], 'nothing sent again after sync_done either');
    b.send({ type: 'sync', id: 'again', cursors: { [conv]: 6 } });
    assert.equal((await b.next((f) => f.type === 'sync_done' && f.id === 'again')).sent, 2);
    a.close();
    b.close();
  });

  it('notifications that went out live after the hold ran out are not sent again by the late sync', async () => {
    await s.user('pat3', 'patient');
    const token = (await s.user('pat3')).token;
    const notify = async (title: string) =>
      (await s.call('POST', '/api/v2/management/notifications', { body: { kind: 'S2C_RESERVATION_PUSH', target: { user: 'pat3' }, title } })).body.notification.id as string;
    const missed = await notify('while offline');
    const b = await WsClient.open(s.wsUrl, token, { sync: true });
    // The first is held and comes when the hold (200 ms) runs out; the second goes out live.
    const live = [await notify('held, then released')];
    await b.next((f) => f.type === 'notification' && f.notification.id === live[0]);
    live.push(await notify('live'));
    await b.next((f) => f.type === 'notification' && f.notification.id === live[1]);
    b.send({ type: 'sync', id: 'late', cursors: {}, notifications_after: '' });
    const done = await b.next((f) => f.type === 'sync_done' && f.id === 'late');
    assert.equal(done.notifications.sent, 1);
    const ids = b.frames.filter((f) => f.type === 'notification').map((f) => f.notification.id);
    assert.deepEqual([...ids].sort(), [missed, ...live].sort(), 'each once');
    b.close();
  });
});

describe('resilience', () => {
  it('drops a silent connection after two heartbeat intervals (4002)', async () => {
    const s = await startTestServer({ config: { ws: { heartbeatMs: 1000 } } });
    try {
      const u = await s.user('quiet', 'patient');
      const c = await WsClient.open(s.wsUrl, u.token);
      // Stop reading: pings go unanswered, as with a dead network.
      (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const deadline = Date.now() + 6000;
      while (s.server.ws.hub.size > 0 && Date.now() < deadline) await sleep(100);
      assert.equal(s.server.ws.hub.size, 0);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /careline_ws_closed_total\{code="4002"\} 1/);
      c.ws.terminate();
    } finally {
      await s.stop();
    }
  });

  it('keeps a connection that sends no frames but answers pings (pongs are a sign of life)', async () => {
    const s = await startTestServer({ config: { ws: { heartbeatMs: 1000 } } });
    try {
      const u = await s.user('listener', 'patient');
      const c = await WsClient.open(s.wsUrl, u.token);
      let pings = 0;
      c.ws.on('ping', () => pings++);
      // It is pinged when silent, at most every other beat (a pong makes the next beat not
      // silent): four pings take over two heartbeat intervals, after which a silent one is dropped.
      const deadline = Date.now() + 15_000;
      while (pings < 4 && Date.now() < deadline) await sleep(100);
      assert.ok(pings >= 4, `${pings} pings`);
      assert.equal(s.server.ws.hub.size, 1);
      assert.equal(c.ws.readyState, c.ws.OPEN);
      c.close();
    } finally {
      await s.stop();
    }
  });

  it('does not ping a connection that talks; pings it once it falls silent', async () => {
    const s = await startTestServer({ config: { ws: { heartbeatMs: 1000 } } });
    try {
      const u = await s.user('talker', 'patient');
      const c = await WsClient.open(s.wsUrl, u.token);
      let pings = 0;
      c.ws.on('ping', () => pings++);
      // Talking: a frame every 100 ms for over two heartbeat intervals (four beats).
      for (let i = 0; i < 25; i++) {
        c.send({ type: 'ping', id: `p${i}` });
        await sleep(100);
      }
      // Pinging every beat would be five pings; one is tolerated (a stall of this test process).
      assert.ok(pings <= 1, `a client that talks is not pinged (${pings})`);
      pings = 0;
      const deadline = Date.now() + 10_000;
      while (pings === 0 && Date.now() < deadline) await sleep(50);
      assert.ok(pings > 0, 'pinged once silent');
      assert.equal(c.ws.readyState, c.ws.OPEN);
      c.close();
    } finally {
      await s.stop();
    }
  });

  // Long-poll has no output to pile up: an answer is at most longpoll.maxResponseBytes, and a client that stops polling only keeps its cursor.
  for (const transport of ['websocket', 'mqtt'] as const) it(`closes a consumer that does not read (4001) instead of buffering without bound, over ${transport}`, async () => {
    const s = await startTestServer({ config: { ws: { maxBufferedBytes: 65_536 }, messages: { maxContentBytes: 32_768 }, mqtt: { enabled: true, port: 0 } } });
    try {
      const a = await s.user('loud', 'doctor');
      const b = await s.user('slow', 'patient');
      const conv = await s.conversation({ participants: ['loud', 'slow'] });
      const slow = transport === 'websocket' ? await WsClient.open(s.wsUrl, b.token) : await MqttFrameClient.open(`mqtt://127.0.0.1:${s.server.mqttPort}`, b.token);
      if (slow instanceof WsClient) (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      else (slow.client.stream as unknown as { pause(): void }).pause();
      const loud = await WsClient.open(s.wsUrl, a.token);
      const text = 'x'.repeat(15_000);
      let metrics = '';
      for (let i = 0; i < 600 && !/careline_ws_closed_total\{code="4001"\}/.test(metrics); i++) {
        await loud.say(conv, text);
        if (i % 20 === 0) metrics = await (await fetch(`${s.url}/metrics`)).text();
      }
      // The close frame cannot pass a full buffer: the socket is cut within 2 s.
      const deadline = Date.now() + 5000;
      while (s.server.ws.hub.size > 1 && Date.now() < deadline) await sleep(50);
      assert.equal(s.server.ws.hub.size, 1, 'only the sender is left');
      metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /careline_ws_closed_total\{code="4001"\} 1/);
      loud.close();
      if (slow instanceof WsClient) slow.ws.terminate();
      else slow.client.end(true);
    } finally {
      await s.stop();
    }
  });

  for (const transport of ['websocket', 'mqtt'] as const) it(`graceful shutdown: connections are told 4000 (reconnect), acked messages survive the restart, over ${transport}`, async () => {
    const s = await startTestServer({ config: { mqtt: { enabled: true, port: 0 } } });
    try {
      const u = await s.user('u1', 'doctor');
      await s.user('u2', 'patient');
      const conv = await s.conversation({ participants: ['u1', 'u2'] });
      const c = transport === 'websocket' ? await WsClient.open(s.wsUrl, u.token) : await MqttFrameClient.open(`mqtt://127.0.0.1:${s.server.mqttPort}`, u.token);
      const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => c.say(conv, `before restart ${i}`)));
      const restarting = s.restart();
      assert.equal((await c.closed).code, CloseCodes.SHUTDOWN);
      await restarting;
      const h = await s.call('GET', `/api/v2/sessions/${conv}/messages?limit=100`, { token: u.token });
      assert.deepEqual(h.body.messages.map((m: Frame) => m.id).sort(), acks.map((a) => a.message_id).sort());
      const again = await WsClient.open(s.wsUrl, u.token);
      assert.equal((await again.say(conv, 'after restart')).seq, 21);
      again.close();
    } finally {
      await s.stop();
    }
  });
});
