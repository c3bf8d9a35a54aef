/**
 * Call set-up time on the cluster (docs/calls.md): `nodes` real `careline start` processes on
 * PostgreSQL + Redis, `calls` callers and as many callees on WebSocket connections, each caller
 * on another node than its callee. All callers invite within `spreadMs` (so `calls` calls ring
 * at once), then all callees accept within `spreadMs`. Measured:
 *
 *  - ringing: the caller's `invite` frame sent → the callee's `call` frame `invite` received;
 *  - connected: the callee's `accept` frame sent → both the callee's answer and the caller's
 *    `accept` frame received (the later of the two: both sides know the call is on);
 *  - chat latency (send → delivered to the other node) of `chatPairs` pairs at `chatRate`
 *    messages/s in total, alone first, then while the invites and accepts go on.
 *
 * Everything is bounded: each phase waits at most `phaseTimeoutMs`; what did not arrive is
 * counted as missing, not waited for.
 *
 *   node bench/calls.ts [--calls 1000] [--nodes 3] [--chat-pairs 20] [--chat-rate 200] [--out FILE]
 *   npm run bench -- --only calls [--nodes 3]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startCluster, type ClusterNode, type ClusterTenant } from '../packages/server/test/support/cluster.ts';
import type { Ctx } from './lib/ctx.ts';

export interface CallsBenchOptions {
  calls: number;
  nodes: number;
  chatPairs: number;
  /** Chat messages per second, all pairs together. */
  chatRate: number;
  /** Invites (then accepts) are spread over this long. */
  spreadMs: number;
  /** The chat-alone phase. */
  chatAloneMs: number;
  phaseTimeoutMs: number;
  log?: (line: string) => void;
}

export interface Latency {
  n: number;
  missing: number;
  p50: number;
  p99: number;
  max: number;
}

export interface CallsBenchResult {
  nodes: number;
  calls: number;
  /** Calls ringing at once at the peak (every invite answered with ringing before the first accept). */
  peakRinging: number;
  ringing: Latency;
  connected: Latency;
  chatAlone: Latency;
  chatDuringCalls: Latency;
  wallMs: number;
}

type Frame = { type: string; [k: string]: any };

/** A raw WebSocket with one frame callback (the bench keeps no frame lists). */
class Sock {
  readonly ws: WebSocket;
  onFrame: (f: Frame, at: number) => void = () => {};

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (d) => this.onFrame(JSON.parse(d.toString()) as Frame, performance.now()));
    ws.on('error', () => {});
  }

  static open(node: ClusterNode, token: string): Promise<Sock> {
    const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(token)}`);
    const s = new Sock(ws);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no hello in 30 s')), 30_000);
      s.onFrame = (f) => {
        if (f.type !== 'hello') return;
        clearTimeout(t);
        s.onFrame = () => {};
        resolve(s);
      };
      ws.once('error', reject);
    });
  }

  send(f: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(f));
  }
}

export function latency(samples: number[], expected: number): Latency {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? +s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1) : 0);
  return { n: s.length, missing: Math.max(0, expected - s.length), p50: at(0.5), p99: at(0.99), max: s.length ? +s[s.length - 1]!.toFixed(1) : 0 };
}

/** Runs `f` over `items`, `width` at a time. */
async function pool<T, R>(items: T[], width: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  }));
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The balancer answers 503 while a busy machine makes a node miss its health checks: try again (bounded). */
async function retry<T>(f: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (err) {
      if (attempt >= 20 || !/→ 50[23]/.test((err as Error).message)) throw err;
      await sleep(500);
    }
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await sleep(20);
}

/** Open-loop chat over the pairs until `stop()`: each message's send → delivery time goes to `into`. */
function chat(pairs: { from: Sock; to: Sock; conv: string }[], rate: number, into: () => number[]): { stop: () => Promise<void>; sent: () => number } {
  const sentAt = new Map<string, number>();
  let n = 0;
  for (const p of pairs) {
    p.to.onFrame = (f, at) => {
      if (f.type !== 'message') return;
      const cid = f.message.client_id as string;
      const t0 = sentAt.get(cid);
      if (t0 === undefined) return;
      sentAt.delete(cid);
      into().push(at - t0);
    };
  }
  const every = 1000 / Math.max(1, rate);
  let running = true;
  const loop = (async () => {
    const start = performance.now();
    while (running) {
      const p = pairs[n % pairs.length]!;
      const cid = `m${n++}`;
      sentAt.set(cid, performance.now());
      p.from.send({ type: 'send', id: cid, conversation_id: p.conv, message: { client_id: cid, type: 1, content: { text: `bench ${cid}` } } });
      const due = start + n * every - performance.now();
      if (due > 0) await sleep(due);
    }
  })();
  return {
    sent: () => n,
    stop: async () => {
      running = false;
      await loop;
      await sleep(500);
    },
  };
}

export async function callsBench(o: CallsBenchOptions): Promise<CallsBenchResult> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const cluster = await startCluster({
    nodes: o.nodes,
    env: {
      CARELINE_CALLS_RING_TIMEOUT_MS: '600000', CARELINE_CALLS_HEARTBEAT_MS: '60000', CARELINE_CALLS_HEARTBEAT_TIMEOUT_MS: '600000',
      CARELINE_RATE_LIMIT_ENABLED: 'false',
    },
  });
  const socks: Sock[] = [];
  try {
    await cluster.waitBalanced();
    const t: ClusterTenant = await cluster.tenant();
    const nodes = cluster.nodes;
    log(`calls: ${o.nodes} nodes up; creating ${o.calls * 2 + o.chatPairs * 2} users`);
    const ids = Array.from({ length: o.calls }, (_, i) => i);
    const calls = await pool(ids, 8, async (i) => {
      const caller = await retry(() => t.user(`caller-${i}`, 'doctor'));
      const callee = await retry(() => t.user(`callee-${i}`, 'patient'));
      const conv = await retry(() => t.conversation({ participants: [caller.id, callee.id] }));
      return { caller, callee, conv };
    });
    const chatters = await pool(Array.from({ length: o.chatPairs }, (_, i) => i), 8, async (i) => {
      const a = await retry(() => t.user(`chat-a-${i}`, 'doctor'));
      const b = await retry(() => t.user(`chat-b-${i}`, 'patient'));
      return { a, b, conv: await retry(() => t.conversation({ participants: [a.id, b.id] })) };
    });
    log(`calls: opening ${o.calls * 2 + o.chatPairs * 2} WebSocket connections`);
    const legs = await pool(calls, 32, async (c, i) => {
      const caller = await Sock.open(nodes[i % nodes.length]!, c.caller.token);
      const callee = await Sock.open(nodes[(i + 1) % nodes.length]!, c.callee.token);
      socks.push(caller, callee);
      return { ...c, callerSock: caller, calleeSock: callee };
    });
    const pairs = await pool(chatters, 8, async (c, i) => {
      const from = await Sock.open(nodes[i % nodes.length]!, c.a.token);
      const to = await Sock.open(nodes[(i + 1) % nodes.length]!, c.b.token);
      socks.push(from, to);
      return { from, to, conv: c.conv };
    });

    // Chat alone.
    let chatInto: number[] = [];
    const alone: number[] = [];
    const during: number[] = [];
    chatInto = alone;
    const talk = pairs.length ? chat(pairs, o.chatRate, () => chatInto) : null;
    await sleep(o.chatAloneMs);
    const aloneSent = talk?.sent() ?? 0;
    chatInto = during;
    const duringFrom = aloneSent;

    // Invites: all within spreadMs; ringing when the callee's invite frame arrives.
    log(`calls: ${o.calls} invites within ${o.spreadMs} ms`);
    const ring: number[] = [];
    const callIds: (string | null)[] = new Array(o.calls).fill(null);
    const invitedAt: number[] = new Array(o.calls).fill(0);
    let ringingNow = 0;
    let peak = 0;
    legs.forEach((l, i) => {
      l.calleeSock.onFrame = (f, at) => {
        if (f.type === 'call' && f.status === 'invite' && f.id === undefined && callIds[i] === null) {
          callIds[i] = f.call.id;
          ring.push(at - invitedAt[i]!);
          peak = Math.max(peak, ++ringingNow);
        }
      };
    });
    const perMs = o.calls / Math.max(1, o.spreadMs);
    const start = performance.now();
    for (let i = 0; i < legs.length; i++) {
      const due = start + i / perMs - performance.now();
      if (due > 0) await sleep(due);
      invitedAt[i] = performance.now();
      legs[i]!.callerSock.send({ type: 'call', id: `inv${i}`, action: 'invite', conversation_id: legs[i]!.conv, av_type: 'video' });
    }
    await waitFor(() => ring.length >= o.calls, o.phaseTimeoutMs);

    // Accepts: connected once the callee's answer and the caller's accept frame are both in.
    log(`calls: ${ring.length} ringing; ${ring.length} accepts within ${o.spreadMs} ms`);
    const connected: number[] = [];
    const acceptAt: number[] = new Array(o.calls).fill(0);
    const got = legs.map(() => ({ callee: 0, caller: 0 }));
    const done = (i: number) => {
      const g = got[i]!;
      if (g.callee && g.caller) connected.push(Math.max(g.callee, g.caller) - acceptAt[i]!);
    };
    legs.forEach((l, i) => {
      l.calleeSock.onFrame = (f, at) => {
        if (f.type === 'call' && f.id === `acc${i}` && !got[i]!.callee) {
          got[i]!.callee = at;
          ringingNow--;
          done(i);
        }
      };
      l.callerSock.onFrame = (f, at) => {
        if (f.type === 'call' && f.status === 'accept' && f.id === undefined && !got[i]!.caller) {
          got[i]!.caller = at;
          done(i);
        }
      };
    });
    const start2 = performance.now();
    for (let i = 0; i < legs.length; i++) {
      if (!callIds[i]) continue;
      const due = start2 + i / perMs - performance.now();
      if (due > 0) await sleep(due);
      acceptAt[i] = performance.now();
      legs[i]!.calleeSock.send({ type: 'call', id: `acc${i}`, action: 'accept', call_id: callIds[i] });
    }
    await waitFor(() => connected.length >= ring.length, o.phaseTimeoutMs);
    await talk?.stop();
    log(`calls: ${connected.length} connected; hanging up`);
    for (let i = 0; i < legs.length; i++) if (callIds[i]) legs[i]!.callerSock.send({ type: 'call', action: 'hangup', call_id: callIds[i], id: `bye${i}` });
    await sleep(1000);

    return {
      nodes: o.nodes, calls: o.calls, peakRinging: peak,
      ringing: latency(ring, o.calls), connected: latency(connected, o.calls),
      chatAlone: latency(alone, aloneSent), chatDuringCalls: latency(during, (talk?.sent() ?? 0) - duringFrom),
      wallMs: Date.now() - t0,
    };
  } catch (err) {
    for (const n of cluster.nodes) log(`calls: ${n.name} ${n.running() ? 'running' : 'not running'}: ${n.log().slice(-600)}`);
    throw err;
  } finally {
    for (const s of socks) s.ws.terminate();
    await cluster.stop();
  }
}

export function callsTable(r: CallsBenchResult): string {
  const row = (what: string, l: Latency) => `| ${what} | ${l.n} | ${l.missing} | ${l.p50} | ${l.p99} | ${l.max} |`;
  return [
    `Calls on ${r.nodes} nodes (PostgreSQL + Redis), ${r.calls} calls, ${r.peakRinging} ringing at once at the peak:`,
    '',
    '| measure | n | missing | p50 ms | p99 ms | max ms |',
    '| --- | --- | --- | --- | --- | --- |',
    row('invite → ringing on the callee (other node)', r.ringing),
    row('accept → both sides connected (signalling)', r.connected),
    row('chat latency, alone', r.chatAlone),
    row('chat latency, during the invites and accepts', r.chatDuringCalls),
  ].join('\n');
}

/** The `calls` scenario of `bench/run.ts`: its own cluster of `--nodes` nodes. */
export async function callsScenario(ctx: Ctx): Promise<CallsBenchResult> {
  ctx.progress.phase('calls');
  const quick = ctx.o.duration <= 5;
  const r = await callsBench({
    calls: quick ? 200 : 1000, nodes: ctx.o.nodes, chatPairs: 20, chatRate: 200, spreadMs: 2000, chatAloneMs: Math.min(10_000, ctx.o.duration * 1000),
    phaseTimeoutMs: 60_000, log: ctx.log,
  });
  ctx.log(callsTable(r));
  return r;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: a } = parseArgs({
    options: { calls: { type: 'string' }, nodes: { type: 'string' }, 'chat-pairs': { type: 'string' }, 'chat-rate': { type: 'string' }, out: { type: 'string' } },
  });
  const r = await callsBench({
    calls: Number(a.calls ?? 1000), nodes: Number(a.nodes ?? 3), chatPairs: Number(a['chat-pairs'] ?? 20), chatRate: Number(a['chat-rate'] ?? 200),
    spreadMs: 2000, chatAloneMs: 10_000, phaseTimeoutMs: 60_000, log: (l) => process.stderr.write(l + '\n'),
  });
  process.stdout.write(callsTable(r) + '\n');
  if (a.out) writeFileSync(a.out, JSON.stringify({ at: new Date().toISOString(), result: r }, null, 2) + '\n');
}
