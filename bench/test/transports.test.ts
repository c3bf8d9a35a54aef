/**
 * The transports scenario at a tiny scale (part of `npm test`): chat and the reconnect storm
 * over WebSocket, long-polling and MQTT, Mosquitto's QoS 1 relay and idle MQTT connections on
 * Careline and on Mosquitto — each part runs, checks its deliveries (nothing lost, doubled or
 * out of order) and reports its figures. No figure is judged here: speed belongs to
 * `npm run bench`. The scenario runs once; each check is a test of its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TransportsRun } from '../scenarios/transports.ts';

const RUN = fileURLToPath(new URL('../run.ts', import.meta.url));

describe('transports scenario (WebSocket, long-poll, MQTT; Mosquitto beside MQTT)', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'careline-bench-transports-'));
  const out = join(dir, 'result.json');
  let code: number | null = null;
  /** The scenario's own lines (one per part, with its check), without the progress bar. */
  let lines = '';
  let r: { results: { transports: TransportsRun }; errors: Record<string, string> };
  let t: TransportsRun;

  before(async () => {
    const args = [
      RUN, '--only', 'transports', '--pairs', '3', '--duration', '3', '--gens', '1', '--quiet-wait', '0',
      '--transport-storm-clients', '20', '--storm-rate', '50', '--storm-spread', '1', '--mqtt-idle', '20', '--out', out,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    // Bounded: stopped by its pid if it runs past the test's own limit.
    const kill = setTimeout(() => child.kill('SIGTERM'), 560_000);
    code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(kill);
    lines = log.split(/[\r\n]+/).filter((l) => l.startsWith('  ')).join('\n');
    r = JSON.parse(readFileSync(out, 'utf8')) as typeof r;
    t = r.results.transports;
  }, { timeout: 600_000 });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every part runs', () => {
    assert.deepEqual(Object.keys(r.errors), [], `${lines}\n${Object.values(r.errors).join('\n')}`);
    for (const [k, v] of Object.entries(t.ratios)) assert.ok(typeof v === 'number' && Number.isFinite(v), `ratio ${k}: ${v}`);
    // The figures are in the Markdown summary too.
    const md = readFileSync(out.replace(/\.json$/, '.md'), 'utf8');
    assert.match(md, /Careline, long-poll/);
    assert.match(md, /MQTT chat ≥ 0\.5× Mosquitto/);
  });

  it('chat over each transport: each message acked once, delivered once, in order, at the same offered rates', () => {
    for (const tr of ['ws', 'longpoll', 'mqtt'] as const) {
      const c = t.chat[tr];
      assert.ok(c, `chat over ${tr} ran`);
      assert.equal(c.transport, tr);
      assert.ok((c.check.sent as number) > 0, `chat over ${tr} sent`);
      assert.ok(c.check.ok, `chat over ${tr}: ${JSON.stringify(c.check)}\n${lines}`);
      assert.ok(c.max > 0);
      // 25 % and 50 % of the WebSocket's maximum, for every transport.
      assert.deepEqual(c.steps.filter((s) => s.mode === 'open').map((s) => s.offered), t.chat.ws!.steps.filter((s) => s.mode === 'open').map((s) => s.offered));
    }
  });

  const stormChecks = (tr: 'ws' | 'longpoll' | 'mqtt') => () => {
    const s = t.storm[tr];
    assert.ok(s, `storm over ${tr} ran`);
    assert.equal(s.transport, tr);
    assert.equal(s.notBack, 0, `storm over ${tr}: every client back\n${lines}`);
    assert.ok(s.expected > 0, `storm over ${tr} checked messages`);
    assert.equal(s.missed, 0, `storm over ${tr}: nothing missed\n${lines}`);
    assert.equal(s.duplicated, 0, `storm over ${tr}: nothing doubled\n${lines}`);
  };
  it('reconnect storm over WebSocket: every client back, nothing missed or doubled', stormChecks('ws'));
  it('reconnect storm over long-polling: every client back, nothing missed or doubled', stormChecks('longpoll'));
  it('reconnect storm over MQTT: every client back, nothing missed or doubled', stormChecks('mqtt'));

  it("Mosquitto relays every QoS 1 publish once; idle connections stay open on both", () => {
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
  });

  it('the run exits 0 unless a check failed', () => {
    // Missed targets are findings; a failed check (the MQTT storm's, above) or a broken part is exit code 1.
    const failed = Object.values(t.chat).some((c) => c && !c.check.ok) || Object.values(t.storm).some((s) => s && (s.missed > 0 || s.duplicated > 0)) || Object.keys(r.errors).length > 0;
    assert.equal(code, failed ? 1 : 0, lines);
  });
});
