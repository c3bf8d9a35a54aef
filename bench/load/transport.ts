/**
 * One client connection of a load generator, over any of Careline's transports, chosen by
 * the URL the orchestrator hands out (`Target.connectUrl`):
 *
 * - `ws://host/ws?token=…` — the WebSocket (`client.ts`; `onOpen` runs when the socket opens);
 * - `http://host/?token=…` — long-polling, through the SDK's own long-poll client
 *   (`packages/sdk/src/transport-longpoll.ts`, which presents itself as a WebSocket) over a
 *   keep-alive `node:http` agent bound to the generator's source address; a message it passes
 *   on twice is dropped by its seq, as the SDK's client does (`longPollStats`). It polls live only
 *   after a `sync`: a connection whose owner sends none in `onOpen` is given one from "now"
 *   (`cursors: {}`) and opens when its `sync_done` is in;
 * - `mqtt://host:port/?token=…&user=…` — MQTT 3.1.1 (mqtt.js), password = the token; the
 *   client subscribes to its account topic (QoS 1) and opens on the SUBACK, which is reported
 *   as a `{"type":"hello"}` frame since MQTT has no hello. `send` frames go out as seed 003
 *   envelopes on `<user>/send` (QoS 1, one-to-one to the conversation's peer given in
 *   `peers`), `sync` frames on `<user>/sync`; what comes back on the account topic is passed
 *   on as it is: Careline frames (`ack`, `sync_done`, `error`…) and, for messages, envelopes
 *   (`{"id":<client id>,…,"seq":N}` — the generators read both).
 *
 * Every frame reaches `onData` as a Buffer, as the WebSocket gives them.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { createConnection } from 'node:net';
import mqtt from 'mqtt';
import { LongPollSocket } from '../../packages/sdk/src/transport-longpoll.ts';
import { connect } from './client.ts';

export type TransportName = 'ws' | 'longpoll' | 'mqtt';
export const TRANSPORTS: readonly TransportName[] = ['ws', 'longpoll', 'mqtt'];

/** What the generators use of a connection (a `ws` WebSocket fits). */
export interface BenchConn {
  send(frame: string): void;
  /** Drops the connection at once, without a close handshake. */
  terminate(): void;
}

export interface OpenOptions {
  onData: (data: Buffer) => void;
  /** Called once the connection is open (long-poll: after the hello; MQTT: after the SUBACK; WebSocket: the socket opened), before `open` resolves. */
  onOpen?: (conn: BenchConn) => void;
  onClose?: (code: number) => void;
  localAddress?: string;
  timeoutMs?: number;
  /** MQTT: conversation id → the other member, the `to` of one-to-one envelopes. */
  peers?: Record<string, string>;
}

export function transportOf(url: string): TransportName {
  return url.startsWith('mqtt:') ? 'mqtt' : url.startsWith('http') ? 'longpoll' : 'ws';
}

/** Opens a connection; resolves once it is open (the server's hello, or its equivalent). */
export function open(url: string, o: OpenOptions): Promise<BenchConn> {
  switch (transportOf(url)) {
    case 'ws':
      // (onOpen runs when the socket opens: with ?sync=1 the server holds everything until the sync.)
      return connect(url, o);
    case 'longpoll':
      return openLongPoll(url, o);
    case 'mqtt':
      return openMqtt(url, o);
  }
}

// ---- long-polling --------------------------------------------------------------------------

const agents = new Map<string, Agent>();
function agentFor(localAddress: string | undefined): Agent {
  const key = localAddress ?? '';
  let a = agents.get(key);
  if (!a) {
    a = new Agent({ keepAlive: true, maxSockets: Infinity, ...(localAddress ? { localAddress } : {}) });
    agents.set(key, a);
  }
  return a;
}

/** The part of `fetch` the long-poll client uses, over `node:http` with the given agent. */
function httpFetch(agent: Agent): typeof fetch {
  return ((input: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {}) =>
    new Promise((resolve, reject) => {
      const signal = init.signal;
      if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'));
      const req = request(input, { method: init.method ?? 'GET', headers: init.headers, agent }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          resolve({ ok: status >= 200 && status < 300, status, text: async () => text } as Response);
        });
        res.on('error', reject);
      });
      const onAbort = () => {
        req.destroy();
        reject(new DOMException('aborted', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => signal?.removeEventListener('abort', onAbort));
      req.on('error', reject);
      req.end(init.body);
    })) as unknown as typeof fetch;
}

const SYNC_DONE = Buffer.from('{"type":"sync_done"');
const MESSAGE = Buffer.from('{"type":"message"');
const MSG_CONV = Buffer.from('"conversation_id":"');
const MSG_SEQ = Buffer.from('"seq":');

/**
 * Messages the long-poll client passed on a second time and were dropped here by their seq,
 * as the SDK's client drops them (its sequencer): a poll that was under way while a catch-up
 * ran can answer after it with messages the catch-up brought. Reported beside the checks.
 */
export const longPollStats = { redelivered: 0 };

/** The conversation id and seq of a `message` frame (scanned, not parsed), or null. */
function messageKey(data: Buffer): string | null {
  if (data.indexOf(MESSAGE) !== 0) return null;
  const c = data.indexOf(MSG_CONV);
  const q = data.indexOf(MSG_SEQ);
  if (c < 0 || q < 0) return null;
  const end = data.indexOf(34, c + MSG_CONV.length);
  let k = q + MSG_SEQ.length;
  let n = 0;
  for (; data[k]! >= 48 && data[k]! <= 57; k++) n = n * 10 + data[k]! - 48;
  return `${data.toString('latin1', c + MSG_CONV.length, end)}\u0000${n}`;
}

function openLongPoll(url: string, o: OpenOptions): Promise<BenchConn> {
  const u = new URL(url);
  const token = u.searchParams.get('token') ?? '';
  const base = `${u.protocol}//${u.host}`;
  return new Promise((resolve, reject) => {
    const s = new LongPollSocket({ baseUrl: base, token, fetch: httpFetch(agentFor(o.localAddress)) });
    const conn: BenchConn = { send: (f) => s.send(f), terminate: () => s.close(1006, 'dropped') };
    let opened = false;
    let starting = false;
    /** The messages passed on (conversation, seq): a second copy is dropped. */
    const had = new Set<string>();
    const timer = setTimeout(() => {
      if (opened) return;
      s.close(1006, 'timeout');
      reject(new Error('no hello in time'));
    }, o.timeoutMs ?? 30_000);
    const done = () => {
      opened = true;
      clearTimeout(timer);
      resolve(conn);
    };
    s.onmessage = (ev) => {
      const data = Buffer.from(ev.data as string);
      if (!opened && !starting && data.includes('"type":"hello"')) {
        o.onData(data);
        if (o.onOpen) {
          o.onOpen(conn);
          return done();
        }
        // No catch-up asked: poll live from now on.
        starting = true;
        s.send('{"type":"sync","id":"lp-start","cursors":{}}');
        return;
      }
      if (starting && !opened && data.indexOf(SYNC_DONE) === 0) return done();
      const key = messageKey(data);
      if (key !== null) {
        if (had.has(key)) return void longPollStats.redelivered++;
        had.add(key);
      }
      o.onData(data);
    };
    s.onclose = (ev) => {
      clearTimeout(timer);
      if (!opened) reject(new Error(`closed ${ev.code} before hello`));
      o.onClose?.(ev.code);
    };
  });
}

// ---- MQTT ----------------------------------------------------------------------------------

let mqttClientSeq = 0;
const K_CLIENT_ID = /"client_id":"([^"]*)"/;
const K_CONV = /"conversation_id":"([^"]*)"/;
const K_CONTENT = /"content":(\{.*\})\}\}$/;

function openMqtt(url: string, o: OpenOptions): Promise<BenchConn> {
  const u = new URL(url);
  const token = u.searchParams.get('token') ?? '';
  const user = u.searchParams.get('user') ?? '';
  const port = Number(u.port || 1883);
  const host = u.hostname;
  return new Promise((resolve, reject) => {
    const client = new mqtt.MqttClient(() => createConnection({ host, port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) }), {
      protocolVersion: 4, clean: true, reconnectPeriod: 0, keepalive: 60, connectTimeout: o.timeoutMs ?? 30_000,
      clientId: `bench-${process.pid}-${++mqttClientSeq}`, username: user, password: token,
    });
    let opened = false;
    let closed = false;
    const conn: BenchConn = {
      send: (frame) => {
        if (frame.startsWith('{"type":"send"')) {
          // The generators' send frames: {"type":"send","id":…,"conversation_id":C,"message":{"client_id":X,"type":1,"content":{…}}}
          const cid = K_CLIENT_ID.exec(frame)?.[1] ?? '';
          const conv = K_CONV.exec(frame)?.[1] ?? '';
          const content = K_CONTENT.exec(frame)?.[1] ?? '{}';
          const to = o.peers?.[conv];
          const envelope = to
            ? `{"id":"${cid}","from":"${user}","to":"${to}","type":"TEXT","content":${content},"timestamp":${Date.now()},"isBackground":false}`
            : `{"id":"${cid}","from":"${user}","to":"${conv}","target":"*","type":"TEXT","content":${content},"timestamp":${Date.now()},"isBackground":false}`;
          client.publish(`${user}/send`, envelope, { qos: 1 });
        } else if (frame.startsWith('{"type":"sync"')) {
          client.publish(`${user}/sync`, frame, { qos: 1 });
        }
        // Other frames (ping…) have no use on MQTT: its keepalive is the heartbeat.
      },
      terminate: () => {
        client.stream?.destroy();
        client.end(true);
      },
    };
    const timer = setTimeout(() => {
      if (opened) return;
      conn.terminate();
      reject(new Error('no SUBACK in time'));
    }, o.timeoutMs ?? 30_000);
    client.on('connect', () => {
      client.subscribe(user, { qos: 1 }, (err, granted) => {
        if (err || !granted?.length || granted[0]!.qos === 128) {
          clearTimeout(timer);
          conn.terminate();
          return reject(err ?? new Error('subscription refused'));
        }
        opened = true;
        clearTimeout(timer);
        o.onData(Buffer.from('{"type":"hello","transport":"mqtt"}'));
        o.onOpen?.(conn);
        resolve(conn);
      });
    });
    client.on('message', (_topic, payload) => o.onData(payload));
    client.on('error', (err) => {
      if (!opened) {
        clearTimeout(timer);
        conn.terminate();
        reject(err);
      }
    });
    client.on('close', () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      if (!opened) reject(new Error('closed before SUBACK'));
      else o.onClose?.(1006);
    });
  });
}
