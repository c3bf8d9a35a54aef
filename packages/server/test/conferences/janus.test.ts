/**
 * The Janus start helper (scripts/lib/janus.ts): only the videoroom plugin and the HTTP and
 * WebSocket transports load, every listener is on loopback, the API wants its secret or a
 * token, and a missing janus fails naming the install script.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { locateJanus, startJanus, type JanusService } from '../support/janus.ts';

describe('Janus start helper', () => {
  let janus: JanusService;
  before(async () => {
    janus = await startJanus();
  });
  after(async () => {
    await janus?.stop();
  });

  it('loads the videoroom plugin and the HTTP and WebSocket transports only', async () => {
    const info = (await (await fetch(`${janus.httpUrl}/info`)).json()) as { plugins: Record<string, unknown>; transports: Record<string, unknown>; events: Record<string, unknown> };
    assert.deepEqual(Object.keys(info.plugins), ['janus.plugin.videoroom']);
    assert.deepEqual(Object.keys(info.transports).sort(), ['janus.transport.http', 'janus.transport.websockets']);
    assert.deepEqual(Object.keys(info.events ?? {}), []);
  });

  it('listens on 127.0.0.1 and wants the API secret or a token', async () => {
    for (const url of [janus.httpUrl, janus.adminUrl, janus.wsUrl]) assert.equal(new URL(url).hostname, '127.0.0.1');
    const post = async (url: string, body: object) => (await (await fetch(url, { method: 'POST', body: JSON.stringify({ ...body, transaction: 't' }) })).json()) as { janus: string };
    assert.equal((await post(janus.httpUrl, { janus: 'create' })).janus, 'error');
    assert.equal((await post(janus.httpUrl, { janus: 'create', apisecret: janus.apiSecret })).janus, 'success');
    assert.equal((await post(janus.adminUrl, { janus: 'list_tokens' })).janus, 'error');
    assert.equal((await post(janus.adminUrl, { janus: 'list_tokens', admin_secret: janus.adminSecret })).janus, 'success');
    const ws = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: Number(new URL(janus.wsUrl).port) });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    assert.equal(ws, true, 'the WebSocket transport listens');
  });

  it('stops by process id and removes its temp dir', async () => {
    const j = await startJanus();
    const { pid, dir } = j;
    await j.stop();
    assert.throws(() => process.kill(pid, 0));
    assert.equal(existsSync(dir), false);
  });

  it('a missing janus fails naming scripts/install-services', () => {
    assert.throws(() => locateJanus({ candidates: ['/nonexistent/janus'] }), /scripts\/install-services/);
  });
});
