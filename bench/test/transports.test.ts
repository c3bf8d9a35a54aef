/**
 * The transports scenario at a tiny scale (part of `npm test`): chat and the reconnect storm
 * over WebSocket, long-polling and MQTT, Mosquitto's QoS 1 relay and idle MQTT connections on
 * Careline and on Mosquitto — each part runs, checks its deliveries (nothing lost, doubled or
 * out of order) and reports its figures. No figure is judged here: speed belongs to
 * `npm run bench`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TransportsRun } from '../scenarios/transports.ts';

const RUN = fileURLToPath(new URL('../run.ts', import.meta.url));

test('transports scenario: WebSocket, long-poll and MQTT chat and storm, Mosquitto beside MQTT', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'careline-bench-transports-'));
  try {
    const out = join(dir, 'result.json');
    const args = [
      RUN, '--only', 'transports', '--pairs', '3', '--duration', '3', '--gens', '1', '--quiet-wait', '0',
      '--transport-storm-clients', '20', '--storm-rate', '50', '--storm-spread', '1', '--mqtt-idle', '20', '--out', out,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const r = JSON.parse(readFileSync(out, 'utf8')) as { results: { transports: TransportsRun }; errors: Record<string, string> };
    assert.deepEqual(r.errors, {}, log);
    assert.equal(code, 0, log);
    const t = r.results.transports;
    for (const tr of ['ws', 'longpoll', 'mqtt'] as const) {
      const c = t.chat[tr];
      assert.ok(c, `chat over ${tr} ran`);
      assert.equal(c.transport, tr);
      assert.ok((c.check.sent as number) > 0, `chat over ${tr} sent`);
      assert.ok(c.check.ok, `chat over ${tr}: ${JSON.stringify(c.check)}`);
      assert.ok(c.max > 0);
      // The same offered rates for every transport: 25 % and 50 % of the WebSocket's maximum.
      assert.deepEqual(c.steps.filter((s) => s.mode === 'open').map((s) => s.offered), t.chat.ws!.steps.filter((s) => s.mode === 'open').map((s) => s.offered));
      const s = t.storm[tr];
      assert.ok(s, `storm over ${tr} ran`);
      assert.equal(s.transport, tr);
      assert.equal(s.notBack, 0, `storm over ${tr}: every client back`);
      assert.ok(s.expected > 0, `storm over ${tr} checked messages`);
      assert.equal(s.missed, 0, `storm over ${tr}: nothing missed`);
      assert.equal(s.duplicated, 0, `storm over ${tr}: nothing doubled`);
    }
    assert.ok(t.relay, 'Mosquitto relay ran');
    assert.match(t.relay.broker, /^mosquitto \d/);
    assert.equal(t.relay.subscribers, 6);
    assert.ok(t.relay.sent > 0);
    assert.equal(t.relay.delivered, t.relay.sent, 'Mosquitto delivered every QoS 1 publish');
    assert.equal(t.relay.duplicated, 0);
    for (const idle of [t.idle.careline, t.idle.mosquitto]) {
      assert.ok(idle, 'idle connections ran');
      assert.equal(idle.opened, 20, JSON.stringify(idle.failSamples));
      assert.equal(idle.stillOpen, 20);
      assert.ok(Number.isFinite(idle.rssPerConn));
    }
    for (const [k, v] of Object.entries(t.ratios)) assert.ok(typeof v === 'number' && Number.isFinite(v), `ratio ${k}: ${v}`);
    // The figures are in the Markdown summary too.
    const md = readFileSync(out.replace(/\.json$/, '.md'), 'utf8');
    assert.match(md, /Careline, long-poll/);
    assert.match(md, /MQTT chat ≥ 0\.5× Mosquitto/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
