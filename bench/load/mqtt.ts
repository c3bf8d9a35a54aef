/**
 * Generator side of the MQTT comparison with a plain broker (Mosquitto), and of idle MQTT
 * connections on either.
 *
 * `relay.*`: the chat's shape on a broker that stores nothing — N pairs of clients (mqtt.js,
 * MQTT 3.1.1), each subscribed at QoS 1 to a topic of its own, each publishing at QoS 1 to its
 * peer's topic with `window` publishes in flight (the next one on each PUBACK: closed loop, as
 * the chat's maximum). The payload is the envelope a Careline MQTT client publishes, at the
 * same size. Counted: deliveries to the peers during the sending phase (their rate), publish →
 * delivery latency, and each message delivered once.
 *
 * `mqttIdle.*`: opens MQTT connections (subscribed to their account topic, as a seed 003 app
 * sits) with bounded concurrency and holds them; the orchestrator reads the server's memory.
 */
import { createConnection } from 'node:net';
import mqtt from 'mqtt';
import { Histogram } from '../lib/hist.ts';
import { wallMs } from '../lib/util.ts';
import { open, type BenchConn } from './transport.ts';

interface RelayClient {
  client: mqtt.MqttClient;
  topic: string;
  peerTopic: string;
  inflight: number;
}

let relay: RelayClient[] = [];
let step: { sent: number; delivered: number; dup: number; start: number; end: number; sendAt: Float64Array; got: Uint8Array; until: number; lat: Histogram; window: number } | null = null;
let relayPayload = '';

function publishNext(c: RelayClient): void {
  const s = step;
  if (!s || performance.now() >= s.until || s.sent >= s.sendAt.length) return;
  const n = s.sent++;
  s.sendAt[n] = performance.now();
  c.inflight++;
  // The message number first, padded to the size of the Careline envelope's client id.
  c.client.publish(c.peerTopic, relayPayload.replace('"id":"000000000"', `"id":"${String(n).padStart(9, '0')}"`), { qos: 1 }, () => {
    c.inflight--;
    publishNext(c);
  });
}

export const relayHandlers = {
  /** Connects 2 × `pairs` clients to the broker at `url`, each subscribed to its own topic. */
  async 'relay.connect'(p: { url: string; pairs: number; prefix: string; payload: string; localAddress?: string }) {
    const u = new URL(p.url);
    relayPayload = p.payload;
    const list: RelayClient[] = [];
    for (let i = 0; i < 2 * p.pairs; i++) list.push({ client: null as unknown as mqtt.MqttClient, topic: `${p.prefix}/${i}`, peerTopic: `${p.prefix}/${i ^ 1}`, inflight: 0 });
    const t0 = performance.now();
    for (let i = 0; i < list.length; i += 50) {
      await Promise.all(list.slice(i, i + 50).map((c, j) => new Promise<void>((resolve, reject) => {
        c.client = new mqtt.MqttClient(() => createConnection({ host: u.hostname, port: Number(u.port), ...(p.localAddress ? { localAddress: p.localAddress } : {}) }), {
          protocolVersion: 4, clean: true, reconnectPeriod: 0, keepalive: 60, connectTimeout: 30_000, clientId: `relay-${process.pid}-${i + j}`,
        });
        c.client.on('message', (_t, payload: Buffer) => {
          const s = step;
          if (!s) return;
          const k = payload.indexOf('"id":"');
          const n = k < 0 ? NaN : Number(payload.toString('latin1', k + 6, k + 15));
          if (!(n >= 0 && n < s.sendAt.length)) return;
          if (s.got[n]) {
            s.dup++;
            return;
          }
          s.got[n] = 1;
          s.delivered++;
          s.lat.record(performance.now() - s.sendAt[n]!);
        });
        c.client.once('connect', () => c.client.subscribe(c.topic, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
        c.client.once('error', reject);
      })));
    }
    relay = list;
    return { connected: list.length, ms: performance.now() - t0 };
  },

  /** Closed loop for `durationMs` with `window` publishes in flight per client; then waits up to `drainMs` for the deliveries. */
  async 'relay.step'(p: { durationMs: number; window: number; drainMs: number; startAt: number }) {
    const max = Math.ceil(300_000 * (p.durationMs / 1000));
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, Math.max(0, p.startAt - wallMs())));
    const start = performance.now();
    step = { sent: 0, delivered: 0, dup: 0, start, end: 0, sendAt: new Float64Array(max), got: new Uint8Array(max), until: start + p.durationMs, lat: new Histogram(), window: p.window };
    for (let w = 0; w < p.window; w++) for (const c of relay) publishNext(c);
    await new Promise((r) => setTimeout(r, p.durationMs));
    const s = step;
    const sendMs = performance.now() - start;
    const deliveredInPhase = s.delivered;
    const drainEnd = performance.now() + p.drainMs;
    while (s.delivered < s.sent && performance.now() < drainEnd) await new Promise((r) => setTimeout(r, 10));
    const cpu = process.cpuUsage(cpu0);
    step = null;
    return { sent: s.sent, delivered: s.delivered, deliveredInPhase, duplicated: s.dup, sendMs, lat: s.lat.toJSON(), cpuMs: (cpu.user + cpu.system) / 1000 };
  },

  'relay.close'() {
    for (const c of relay) c.client.end(true);
    relay = [];
    step = null;
    return null;
  },
};

let idle: (BenchConn | null)[] = [];
let idleCloses = 0;

export const mqttIdleHandlers = {
  /** Opens one MQTT connection per URL (`mqtt://host:port/?token=&user=`), `concurrency` at a time, each subscribed to its account topic. */
  async 'mqttIdle.open'(p: { urls: string[]; concurrency: number; localAddress?: string }) {
    const h = new Histogram();
    let failed = 0;
    const samples: string[] = [];
    idle = new Array(p.urls.length).fill(null);
    let next = 0;
    const t0 = performance.now();
    const lane = async () => {
      while (next < p.urls.length) {
        const i = next++;
        const s = performance.now();
        try {
          idle[i] = await open(p.urls[i]!, {
            localAddress: p.localAddress,
            onData: () => {},
            onClose: () => {
              idleCloses++;
              idle[i] = null;
            },
          });
          h.record(performance.now() - s);
        } catch (err) {
          failed++;
          if (samples.length < 3) samples.push(String((err as Error).message));
        }
      }
    };
    await Promise.all(Array.from({ length: p.concurrency }, lane));
    return { opened: idle.filter(Boolean).length, failed, samples, ms: performance.now() - t0, latency: h.toJSON() };
  },

  'mqttIdle.status'() {
    return { open: idle.filter(Boolean).length, closes: idleCloses };
  },

  'mqttIdle.close'() {
    for (const c of idle) c?.terminate();
    idle = [];
    return null;
  },
};
