/**
 * Scenario 7 — transports. The same protocol over WebSocket, long-polling and MQTT, and MQTT
 * beside a plain broker (Debian's Mosquitto) in the same run:
 *
 * 1. **Chat** (the chat scenario's clients and checks, `--pairs` pairs) over each transport
 *    of `--transports`, each against a fresh Careline server (with its MQTT listener for
 *    MQTT): the closed-loop maximum, then open-loop steps at the same offered rates for every
 *    transport — 25 % and 50 % of the WebSocket's maximum — so latencies compare at equal load.
 *    Long-poll clients are the SDK's own long-poll client; MQTT clients are mqtt.js sending
 *    seed 003 envelopes at QoS 1 (PUBACK after commit) to the peer, one to one.
 * 2. **Mosquitto's QoS 1 relay rate**: the same pairs, subscribers and window (4 publishes in
 *    flight per client, the next on each PUBACK), a payload of the size of the envelope, for
 *    as long as the chat's closed-loop step. Mosquitto stores nothing; Careline commits every
 *    message before its PUBACK and delivers it to the peer's account topic.
 * 3. **Reconnect storm** (`--transport-storm-clients` patients) over each transport: patients
 *    drop and reconnect with their cursor — WebSocket `sync`, a long-poll `GET` from the
 *    cursor, an MQTT publish on the sync topic after subscribing; the doctors' traffic is
 *    WebSocket. Time until all caught up; nothing missed or doubled.
 * 4. **Idle MQTT connections** (`--mqtt-idle`), subscribed to their account topic: memory per
 *    connection of Careline (RSS and heap after a GC, server restarted after the user setup)
 *    and of Mosquitto (RSS).
 *
 * Ratios reported: MQTT chat maximum ÷ Mosquitto's QoS 1 relay rate (target ≥ 0.5), and
 * long-poll chat delivery p50 ÷ WebSocket's at 25 % load (target < 2).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuMeter, fdLimits, type Proc } from '../lib/proc.ts';
import { generatorBound, lat, settle, startGens, startTarget, stopAll, type Ctx, type Lat } from '../lib/ctx.ts';
import { startMosquitto, type Mosquitto } from '../lib/mosquitto.ts';
import type { Target } from '../lib/target.ts';
import { sleep, split, wallMs } from '../lib/util.ts';
import type { TransportName } from '../load/transport.ts';
import { chatRun, type ChatRun, type Ladder } from './chat.ts';
import { stormRun, type StormRun } from './storm.ts';

export interface RelayRun {
  broker: string;
  pairs: number;
  subscribers: number;
  payloadBytes: number;
  window: number;
  sent: number;
  delivered: number;
  duplicated: number;
  /** Deliveries per second of the sending phase. */
  rate: number;
  latency: Lat;
  brokerCpu: number;
  cpuUsPerMsg: number;
  genCpu: number[];
  foreignCores: number;
  generatorBound: boolean;
}

export interface IdleRun {
  server: 'careline' | 'mosquitto';
  requested: number;
  opened: number;
  failed: number;
  failSamples: string[];
  stillOpen: number;
  connectRate: number;
  holdMs: number;
  rssBefore: number;
  rssAfter: number;
  rssPerConn: number;
  /** Careline: V8 heap growth per connection (after a GC). */
  heapPerConn: number | null;
}

export interface TransportsRun {
  transports: TransportName[];
  chat: Partial<Record<TransportName, ChatRun>>;
  storm: Partial<Record<TransportName, StormRun>>;
  relay: RelayRun | null;
  idle: { careline: IdleRun | null; mosquitto: IdleRun | null };
  mosquittoVersion: string;
  ratios: {
    /** Careline's MQTT chat maximum (closed loop, delivered/s) ÷ Mosquitto's QoS 1 relay rate. */
    mqttChatVsMosquitto: number | null;
    /** Long-poll chat delivery p50 ÷ WebSocket's, at the 25 % step (same offered rate). */
    longpollP50VsWs25: number | null;
    mqttP50VsWs25: number | null;
    /** Careline's RSS per idle MQTT connection ÷ Mosquitto's. */
    idleMqttVsMosquitto: number | null;
  };
  errors: Record<string, string>;
}

/** The envelope a Careline MQTT client of the chat publishes (the relay's payload is this size). */
export function relayPayload(): string {
  return `{"id":"000000000","from":"p0","to":"d0","type":"TEXT","content":${JSON.stringify({ text: 'Good morning doctor, my blood pressure today is 135/85 after the new tablets.' })},"timestamp":${Date.now()},"isBackground":false}`;
}

const WINDOW = 4;

export async function transportsScenario(ctx: Ctx): Promise<TransportsRun> {
  const list = ctx.o.transports;
  const out: TransportsRun = {
    transports: list, chat: {}, storm: {}, relay: null, idle: { careline: null, mosquitto: null }, mosquittoVersion: '?',
    ratios: { mqttChatVsMosquitto: null, longpollP50VsWs25: null, mqttP50VsWs25: null, idleMqttVsMosquitto: null }, errors: {},
  };
  const attempt = async (key: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      out.errors[key] = (err as Error).stack ?? String(err);
      ctx.log(`  transports: ${key} failed: ${(err as Error).message}`);
    }
  };

  // 1. Chat: WebSocket first, its maximum sets the offered rates of every transport.
  let rates: number[] | null = null;
  const order = [...list].sort((a, b) => (a === 'ws' ? -1 : b === 'ws' ? 1 : 0));
  for (const tr of order) {
    await attempt(`chat/${tr}`, async () => {
      const ladder: Ladder = (max) => {
        rates ??= [0.25, 0.5].map((f) => Math.max(10, Math.round(max * f)));
        const of = list.includes('ws') ? 'of the WebSocket maximum' : 'of the maximum';
        return rates.map((r, i) => ({ label: `${[25, 50][i]}% ${of} = ${r}/s`, rate: r }));
      };
      out.chat[tr] = await chatRun(ctx, 'careline', { transport: tr, ladder, steps: 2 });
    });
  }

  // 2. Mosquitto's QoS 1 relay rate, with the chat's pairs and window; 4. idle connections on it.
  if (list.includes('mqtt')) {
    await attempt('mosquitto/relay', async () => {
      out.relay = await relayRun(ctx, (v) => (out.mosquittoVersion = v));
    });
  }

  // 3. The reconnect storm over each transport (--transport-storm-clients 0: none).
  for (const tr of ctx.o.transportStormClients > 0 ? order : []) {
    await attempt(`storm/${tr}`, async () => {
      out.storm[tr] = await stormRun(ctx, 'careline', { transport: tr, clients: ctx.o.transportStormClients });
    });
  }

  if (list.includes('mqtt') && ctx.o.mqttIdle > 0) {
    await attempt('idle/careline', async () => {
      out.idle.careline = await idleCareline(ctx);
    });
    await attempt('idle/mosquitto', async () => {
      out.idle.mosquitto = await idleMosquitto(ctx);
    });
  }

  const mq = out.chat.mqtt;
  if (mq && out.relay && out.relay.rate > 0) out.ratios.mqttChatVsMosquitto = mq.max / out.relay.rate;
  const p50At25 = (c: ChatRun | undefined) => c?.steps.find((s) => s.mode === 'open' && s.label.startsWith('25%'))?.delivery.p50;
  const ws25 = p50At25(out.chat.ws);
  const lp25 = p50At25(out.chat.longpoll);
  const mq25 = p50At25(mq);
  if (ws25 && lp25 !== undefined) out.ratios.longpollP50VsWs25 = lp25 / ws25;
  if (ws25 && mq25 !== undefined) out.ratios.mqttP50VsWs25 = mq25 / ws25;
  const ic = out.idle.careline;
  const im = out.idle.mosquitto;
  if (ic && im && im.rssPerConn > 0) out.ratios.idleMqttVsMosquitto = ic.rssPerConn / im.rssPerConn;
  const r = out.ratios;
  ctx.log(`  transports: MQTT chat ÷ Mosquitto QoS 1 = ${r.mqttChatVsMosquitto?.toFixed(2) ?? '–'}; long-poll p50 ÷ WebSocket p50 at 25% = ${r.longpollP50VsWs25?.toFixed(2) ?? '–'}; idle MQTT RSS ÷ Mosquitto = ${r.idleMqttVsMosquitto?.toFixed(2) ?? '–'}`);
  return out;
}

async function relayRun(ctx: Ctx, onVersion: (v: string) => void): Promise<RelayRun> {
  const N = ctx.o.pairs;
  const ms = Math.max(3000, Math.round(ctx.o.duration * 1000 * 0.2));
  const payload = relayPayload();
  ctx.progress.phase(`transports: Mosquitto, ${N} pairs`);
  let broker: Mosquitto | undefined;
  let gens: Proc[] = [];
  try {
    broker = await startMosquitto();
    onVersion(broker.version);
    const b = broker;
    const g = await startGens(ctx, ctx.o.gens, { name: 'relay' });
    gens = g.procs;
    const shares = split(Array.from({ length: N }, (_, i) => i), gens.length);
    await Promise.all(gens.map((gen, i) => gen.call('relay.connect', { url: b.url, pairs: shares[i]!.length, prefix: `bench/g${i}`, payload, localAddress: g.addrs[i] })));
    await settle(ctx, 'Mosquitto relay');
    ctx.progress.phase('transports: Mosquitto QoS 1 relay (closed loop)', ms, ms / 1000);
    const source = { cpuMs: () => b.cpuMs() };
    const meter = new CpuMeter([source, ...gens]).start();
    const startAt = wallMs() + 100;
    const rs = await Promise.all(gens.map((gen) => gen.call('relay.step', { durationMs: ms, window: WINDOW, drainMs: 5000, startAt }, ms + 60_000)));
    const m = meter.stop();
    const sent = rs.reduce((a, r) => a + r.sent, 0);
    const delivered = rs.reduce((a, r) => a + r.delivered, 0);
    const inPhase = rs.reduce((a, r) => a + r.deliveredInPhase, 0);
    const sendMs = Math.max(...rs.map((r) => r.sendMs));
    const genCpu = m.util.slice(1);
    const run: RelayRun = {
      broker: `mosquitto ${b.version}`, pairs: N, subscribers: 2 * N, payloadBytes: Buffer.byteLength(payload), window: WINDOW,
      sent, delivered, duplicated: rs.reduce((a, r) => a + r.duplicated, 0),
      rate: inPhase / (sendMs / 1000), latency: lat(rs.map((r) => r.lat)),
      brokerCpu: m.util[0]!, cpuUsPerMsg: (m.cpuMs[0]! * 1000) / Math.max(1, inPhase),
      genCpu, foreignCores: m.foreignCores, generatorBound: generatorBound(ctx, genCpu, m.machineBusy, m.foreignCores),
    };
    ctx.log(`  Mosquitto ${b.version} QoS 1 relay: ${Math.round(run.rate)} msg/s delivered (${2 * N} subscribers, ${run.payloadBytes} B), p50/p99 ${run.latency.p50.toFixed(1)}/${run.latency.p99.toFixed(1)} ms, broker CPU ${(run.brokerCpu * 100).toFixed(0)}%; ${sent - delivered} undelivered, ${run.duplicated} doubled${run.generatorBound ? ' (generator-bound)' : ''}`);
    await Promise.all(gens.map((gen) => gen.call('relay.close')));
    return run;
  } finally {
    await stopAll(gens);
    await broker?.stop();
  }
}

const PER_GEN = 4000;
const HOLD_MS = 5000;

async function openIdle(ctx: Ctx, urls: string[], limit: number): Promise<{ gens: Proc[]; opened: number; failed: number; samples: string[]; ms: number }> {
  const g = await startGens(ctx, Math.max(1, Math.ceil(urls.length / PER_GEN)), { fdLimit: limit, name: 'mqtt-idle' });
  const shares = split(urls, g.procs.length);
  const t0 = performance.now();
  const rs = await Promise.all(g.procs.map((gen, i) => gen.call('mqttIdle.open', { urls: shares[i], concurrency: 32, localAddress: g.addrs[i] }, 300_000)));
  return {
    gens: g.procs, opened: rs.reduce((a, r) => a + r.opened, 0), failed: rs.reduce((a, r) => a + r.failed, 0),
    samples: rs.flatMap((r) => r.samples).slice(0, 3), ms: performance.now() - t0,
  };
}

async function idleCareline(ctx: Ctx): Promise<IdleRun> {
  const { hard } = fdLimits();
  const N = Math.max(1, Math.min(ctx.o.mqttIdle, hard - 300));
  const dir = mkdtempSync(join(tmpdir(), 'careline-bench-mqtt-idle-'));
  const opts = { fdLimit: hard, heartbeatMs: 10_000, db: join(dir, 'careline.db'), tenantFile: join(dir, 'tenant.json'), mqtt: true };
  let target: Target | undefined;
  let gens: Proc[] = [];
  try {
    ctx.progress.phase(`transports: idle MQTT, setup ${N} users`);
    target = await startTarget(ctx, 'careline', 'mqtt-idle', opts);
    const ids = Array.from({ length: N }, (_, i) => `m${i}`);
    const tokens = await target.users(ids, 'patient');
    // Restarted on the same database so that the setup's memory is not counted.
    await target.stop();
    target = await startTarget(ctx, 'careline', 'mqtt-idle', opts);
    const t = target;
    const urls = ids.map((u) => t.connectUrl(u, tokens.get(u)!, [], false, 0, 'mqtt'));
    await sleep(500);
    const before = await target.mem();
    await settle(ctx, 'idle MQTT connections (Careline)');
    ctx.progress.phase(`transports: opening ${N} idle MQTT connections to Careline`);
    const o = await openIdle(ctx, urls, hard);
    gens = o.gens;
    ctx.progress.phase(`transports: holding ${o.opened} idle MQTT connections`, HOLD_MS, HOLD_MS / 1000);
    await sleep(HOLD_MS);
    const st = await Promise.all(gens.map((gen) => gen.call('mqttIdle.status')));
    const after = await target.mem();
    const run: IdleRun = {
      server: 'careline', requested: N, opened: o.opened, failed: o.failed, failSamples: o.samples, stillOpen: st.reduce((a, s) => a + s.open, 0),
      connectRate: o.opened / (o.ms / 1000), holdMs: HOLD_MS, rssBefore: before.rss, rssAfter: after.rss,
      rssPerConn: (after.rss - before.rss) / Math.max(1, o.opened), heapPerConn: (after.heapUsed - before.heapUsed) / Math.max(1, o.opened),
    };
    ctx.log(`  idle MQTT, Careline: ${o.opened}/${N} open (${run.stillOpen} after ${HOLD_MS / 1000} s), ${(run.rssPerConn / 1024).toFixed(1)} KiB RSS and ${((run.heapPerConn ?? 0) / 1024).toFixed(1)} KiB heap per connection${o.failed ? `; ${o.failed} failed: ${o.samples.join('; ')}` : ''}`);
    await Promise.all(gens.map((gen) => gen.call('mqttIdle.close')));
    return run;
  } finally {
    await stopAll([...gens, target]);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function idleMosquitto(ctx: Ctx): Promise<IdleRun> {
  const { hard } = fdLimits();
  const N = Math.max(1, Math.min(ctx.o.mqttIdle, hard - 300));
  let broker: Mosquitto | undefined;
  let gens: Proc[] = [];
  try {
    broker = await startMosquitto();
    const b = broker;
    const urls = Array.from({ length: N }, (_, i) => `${b.url}/?token=&user=m${i}`);
    await sleep(300);
    const rssBefore = b.rssBytes();
    await settle(ctx, 'idle MQTT connections (Mosquitto)');
    ctx.progress.phase(`transports: opening ${N} idle MQTT connections to Mosquitto`);
    const o = await openIdle(ctx, urls, hard);
    gens = o.gens;
    ctx.progress.phase(`transports: holding ${o.opened} idle Mosquitto connections`, HOLD_MS, HOLD_MS / 1000);
    await sleep(HOLD_MS);
    const st = await Promise.all(gens.map((gen) => gen.call('mqttIdle.status')));
    const rssAfter = b.rssBytes();
    const run: IdleRun = {
      server: 'mosquitto', requested: N, opened: o.opened, failed: o.failed, failSamples: o.samples, stillOpen: st.reduce((a, s) => a + s.open, 0),
      connectRate: o.opened / (o.ms / 1000), holdMs: HOLD_MS, rssBefore, rssAfter, rssPerConn: (rssAfter - rssBefore) / Math.max(1, o.opened), heapPerConn: null,
    };
    ctx.log(`  idle MQTT, Mosquitto: ${o.opened}/${N} open, ${(run.rssPerConn / 1024).toFixed(1)} KiB RSS per connection${o.failed ? `; ${o.failed} failed: ${o.samples.join('; ')}` : ''}`);
    await Promise.all(gens.map((gen) => gen.call('mqttIdle.close')));
    return run;
  } finally {
    await stopAll(gens);
    await broker?.stop();
  }
}
