/**
 * What an open connection keeps: nothing of its upgrade request. The request (headers), its
 * URL and so the token in it are garbage once the handshake is done; a leak here costs
 * kilobytes per idle connection. Counted with `v8.queryObjects` (after a full GC) against a
 * real server with real sockets.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { queryObjects } from 'node:v8';
import { startTestServer, type TestServer } from '../support/server.ts';
import { WsClient, sleep } from '../support/ws-client.ts';

describe('memory of an open connection', () => {
  let s: TestServer;
  const open: WsClient[] = [];
  before(async () => {
    // Forty connections of one user.
    s = await startTestServer({ config: { ws: { maxConnectionsPerUser: 100 } } });
  });
  after(async () => {
    for (const c of open) c.close();
    await s.stop();
  });

  it('does not keep the upgrade request or its URL (token included) once the connection is open', async () => {
    const { token } = await s.user('holder', 'patient');
    await sleep(50);
    const requests0 = queryObjects(IncomingMessage, { format: 'count' }) as number;
    const urls0 = queryObjects(URL, { format: 'count' }) as number;
    const N = 40;
    for (let i = 0; i < N; i++) open.push(await WsClient.open(s.wsUrl, token, { sync: i % 2 === 0 }));
    // Each connection works (the shared listeners find their connection).
    const c = open[N - 1]!;
    c.send({ type: 'ping', id: 'p' });
    assert.equal((await c.next((f) => f.type === 'pong')).id, 'p');
    assert.equal(s.server.ws.hub.size, N);
    const requests = (queryObjects(IncomingMessage, { format: 'count' }) as number) - requests0;
    const urls = (queryObjects(URL, { format: 'count' }) as number) - urls0;
    assert.ok(requests < N / 4, `${requests} more IncomingMessage objects alive with ${N} connections open`);
    assert.ok(urls < N / 4, `${urls} more URL objects alive with ${N} connections open`);
  });
});
