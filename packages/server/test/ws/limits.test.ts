/**
 * What one client can make the server hold: a catch-up to a client that stopped reading,
 * presence watches, connections per user. Each is bounded and released, against a real
 * server with real sockets; counts and times are kept small.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCodes } from '@careline/protocol';
import { startTestServer } from '../support/server.ts';
import { WsClient, sleep } from '../support/ws-client.ts';
import { MqttFrameClient } from '../support/mqtt-frame-client.ts';
import mqtt from 'mqtt';
import { insertMessages } from '../support/seed.ts';

const pause = (c: WsClient) => (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();

/** Sends `n` messages in rounds of 100 (all acks of a round fit the small output bound of these servers). */
async function seed(w: WsClient, conv: string, n: number, text: string): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    for (let j = i; j < Math.min(n, i + 100); j++) w.send({ type: 'send', id: `s${j}`, conversation_id: conv, message: { client_id: `c${j}`, type: 1, content: { text } } });
    await w.count((f) => f.type === 'ack', Math.min(n, i + 100), 30_000);
  }
}

async function closedCount(url: string, code: number): Promise<number> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`careline_ws_closed_total\\{code="${code}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
}

describe('a catch-up to a client that stopped reading', () => {
  it('20 paused readers asking a 10 MB catch-up (and pinging to look alive) are closed 4001 within the drain timeout; buffered output stays bounded', async (t) => {
    const maxBufferedBytes = 65_536;
    const s = await startTestServer({
      config: { ws: { maxBufferedBytes, drainTimeoutMs: 1000, heartbeatMs: 1000, syncPageSize: 10, maxConnectionsPerUser: 100 } },
    });
    const open: WsClient[] = [];
    try {
      const writer = await s.user('writer', 'doctor');
      const reader = await s.user('reader', 'patient');
      const conv = await s.conversation({ participants: ['writer', 'reader'] });
      const w = await WsClient.open(s.wsUrl, writer.token);
      open.push(w);
      // 10 MB to catch up: more than the kernel's socket buffers take for a reader that does not read.
      insertMessages(s.dbPath, s.tenantId, conv, 'writer', 2500, 'x'.repeat(4000));

      const READERS = 20;
      const t0 = Date.now();
      const heap0 = process.memoryUsage().heapUsed;
      const readers: WsClient[] = [];
      // The readers keep talking (a ping frame every 200 ms), so the heartbeat finds them alive.
      const talk = setInterval(() => {
        for (const c of readers) if (c.ws.readyState === c.ws.OPEN) c.send({ type: 'ping' });
      }, 200);
      let maxBuffered = 0;
      let heapPeak = 0;
      // A bound, not a speed check: without the drain timeout they stay open for good.
      const deadline = Date.now() + 30_000;
      try {
        for (let i = 0; i < READERS; i++) {
          const c = await WsClient.open(s.wsUrl, reader.token);
          open.push(c);
          readers.push(c);
          pause(c);
          c.send({ type: 'sync', id: 'y', cursors: { [conv]: 0 } });
        }
        while (Date.now() < deadline) {
          let readersOpen = 0;
          for (const c of s.server.ws.hub.connections()) {
            if (c.principal.userId !== 'reader') continue;
            readersOpen++;
            maxBuffered = Math.max(maxBuffered, c.buffered());
          }
          heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
          if (readersOpen === 0) break;
          await sleep(20);
        }
      } finally {
        clearInterval(talk);
      }
      const left = [...s.server.ws.hub.connections()].filter((c) => c.principal.userId === 'reader').length;
      t.diagnostic(`all closed ${Date.now() - t0} ms after the first sync; heap: ${(heap0 / 2 ** 20).toFixed(1)} MiB before, ${(heapPeak / 2 ** 20).toFixed(1)} MiB at most; largest unsent output of a connection: ${maxBuffered} bytes`);
      assert.equal(left, 0, `${left} of ${READERS} stalled readers still open`);
      assert.equal(await closedCount(s.url, CloseCodes.SLOW_CONSUMER), READERS);
      // Bounded: the limit, plus at most one frame written before the check.
      assert.ok(maxBuffered <= maxBufferedBytes + 8 * 1024, `unsent output reached ${maxBuffered} bytes`);
      // The writer was never affected.
      assert.equal((await w.say(conv, 'still fine')).type, 'ack');
    } finally {
      for (const c of open) c.ws.terminate();
      await s.stop();
    }
  });

  it('a client reading slowly but steadily is not closed', async () => {
    const s = await startTestServer({ config: { ws: { maxBufferedBytes: 65_536, drainTimeoutMs: 1000, heartbeatMs: 1000, syncPageSize: 10 } } });
    try {
      const writer = await s.user('writer', 'doctor');
      const reader = await s.user('reader', 'patient');
      const conv = await s.conversation({ participants: ['writer', 'reader'] });
      const w = await WsClient.open(s.wsUrl, writer.token);
      const N = 1000;
      await seed(w, conv, N, 'y'.repeat(4000));
      const c = await WsClient.open(s.wsUrl, reader.token);
      const socket = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      c.send({ type: 'sync', id: 'y', cursors: { [conv]: 0 } });
      // Read in bursts: 100 ms of reading every 300 ms.
      const done = c.next((f) => f.type === 'sync_done', 30_000);
      let finished = false;
      void done.then(() => (finished = true), () => {});
      while (!finished && c.ws.readyState === c.ws.OPEN) {
        socket.pause();
        await sleep(200);
        socket.resume();
        await sleep(100);
      }
      socket.resume();
      const f = await done;
      assert.equal(f.sent, N);
      assert.equal(c.ws.readyState, c.ws.OPEN);
      c.close();
      w.close();
    } finally {
      await s.stop();
    }
  });

  it('syncs beyond the pending limit are refused with sync.too_many_pending; the ones queued are answered in order', async () => {
    const s = await startTestServer();
    try {
      const u = await s.user('u', 'patient');
      await s.user('v', 'doctor');
      const conv = await s.conversation({ participants: ['u', 'v'] });
      await s.sendAs('v', conv, 'hello');
      const c = await WsClient.open(s.wsUrl, u.token);
      // In one TCP write: the server reads all 40 in one turn.
      const socket = (c.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
      socket.cork();
      for (let i = 0; i < 40; i++) c.send({ type: 'sync', id: `y${i}`, cursors: { [conv]: 0 } });
      socket.uncork();
      const answers = await c.count((f) => (f.type === 'sync_done' || f.type === 'error') && typeof f.id === 'string' && f.id.startsWith('y'), 40);
      const refused = answers.filter((f) => f.type === 'error');
      assert.ok(refused.length > 0, 'some syncs refused');
      for (const e of refused) assert.equal(e.code, 'sync.too_many_pending');
      const done = answers.filter((f) => f.type === 'sync_done').map((f) => Number(f.id.slice(1)));
      assert.deepEqual(done, [...done].sort((a, b) => a - b), 'sync_done in the order sent');
      assert.equal(c.ws.readyState, c.ws.OPEN);
      c.close();
    } finally {
      await s.stop();
    }
  });
});

describe('presence watches', () => {
  for (const transport of ['websocket', 'mqtt'] as const) it(`are capped per connection (presence.too_many_watches) and all released when the connection closes, over ${transport}`, async () => {
    const s = await startTestServer({ config: { ws: { maxPresenceWatches: 1500 }, mqtt: { enabled: true, port: 0 } } });
    try {
      const u = await s.user('watcher', 'doctor');
      const c = transport === 'websocket' ? await WsClient.open(s.wsUrl, u.token) : await MqttFrameClient.open(`mqtt://127.0.0.1:${s.server.mqttPort}`, u.token);
      const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `someone-${from + i}`);
      c.send({ type: 'presence', id: 'p1', subscribe: ids(0, 1000) });
      await c.count((f) => f.type === 'presence' && f.id === 'p1', 1000);
      c.send({ type: 'presence', id: 'p2', subscribe: ids(1000, 1000) });
      const e = await c.next((f) => f.type === 'error' && f.id === 'p2');
      assert.equal(e.code, 'presence.too_many_watches');
      assert.equal(e.details.max, 1500);
      assert.equal(s.server.ws.hub.watches, 1000, 'the refused subscribe added nothing');
      // Watching the same users again, or after unsubscribing some, fits.
      c.send({ type: 'presence', id: 'p3', unsubscribe: ids(0, 600), subscribe: ids(1000, 1000) });
      await c.count((f) => f.type === 'presence' && f.id === 'p3', 1000);
      assert.equal(s.server.ws.hub.watches, 1400);
      c.close();
      await c.closed;
      const deadline = Date.now() + 3000;
      while (s.server.ws.hub.watches > 0 && Date.now() < deadline) await sleep(20);
      assert.equal(s.server.ws.hub.watches, 0);
    } finally {
      await s.stop();
    }
  });
});

describe('connections per user', () => {
  for (const transport of ['websocket', 'longpoll', 'mqtt'] as const) it(`one more than ws.maxConnectionsPerUser is refused with connection.too_many (WebSocket 4005, HTTP 429, CONNACK 3); others are not affected, over ${transport}`, async () => {
    const s = await startTestServer({ config: { ws: { maxConnectionsPerUser: 3 }, mqtt: { enabled: true, port: 0 } } });
    const open: (WsClient | MqttFrameClient)[] = [];
    try {
      const u = await s.user('many', 'patient');
      const other = await s.user('other', 'patient');
      const mqttUrl = `mqtt://127.0.0.1:${s.server.mqttPort}`;
      // Long-poll has no connection to hold open: the three are WebSockets, the fourth a poll.
      for (let i = 0; i < 3; i++) open.push(transport === 'mqtt' ? await MqttFrameClient.open(mqttUrl, u.token) : await WsClient.open(s.wsUrl, u.token));
      if (transport === 'websocket') {
        const extra = await WsClient.connect(s.wsUrl, u.token);
        assert.equal((await extra.next((f) => f.type === 'error')).code, 'connection.too_many');
        assert.equal((await extra.closed).code, CloseCodes.TOO_MANY_CONNECTIONS);
        assert.equal(extra.frames.some((f) => f.type === 'hello'), false);
      } else if (transport === 'longpoll') {
        const res = await fetch(`${s.url}/api/v2/poll?hello=1&timeout=0`, { headers: { authorization: `Bearer ${u.token}` } });
        assert.equal(res.status, 429);
        assert.equal(((await res.json()) as { code: string }).code, 'connection.too_many');
      } else {
        const err = await mqtt.connectAsync(mqttUrl, { username: 'many', password: u.token, protocolVersion: 4, reconnectPeriod: 0 }).then((c) => (c.end(true), null), (e: Error & { code?: number }) => e);
        assert.equal(err?.code, 3, 'CONNACK 3: server unavailable');
      }
      open.push(await WsClient.open(s.wsUrl, other.token));
      // One leaves: a new one fits.
      open[0]!.close();
      await open[0]!.closed;
      const deadline = Date.now() + 3000;
      while (s.server.ws.hub.size > 3 && Date.now() < deadline) await sleep(20);
      open.push(await WsClient.open(s.wsUrl, u.token));
    } finally {
      for (const c of open) c.close();
      await s.stop();
    }
  });
});
