/**
 * Generator side of the 1:1 chat scenario. Both members of a pair live in the same
 * generator, so send time and delivery time are read from the same clock. Every send has a
 * scheduled time (open loop: a fixed rate, whatever the server does); latency is measured
 * from it, so a stalled server (or generator) shows up as latency and is not hidden
 * (no coordinated omission).
 *
 * Each connection checks its conversation's seqs (acks of its own sends and messages of the
 * peer) as the SDK delivers them: 1, 2, 3… with no gap and no duplicate, and each send is
 * acked once and delivered to the peer once. On several nodes a message committed on one
 * node can reach a client after a later one committed on another (each node sends what it
 * committed, the others get it through the bus), so, as the SDK does, a seq that comes
 * ahead of a missing one is held, and the gap is filled: the missing one normally arrives
 * within milliseconds; if it has not after `FILL_AFTER_MS`, a `sync` frame from the cursor
 * asks the server for it (at most `MAX_FILLS` per gap; what the sync sends again is dropped,
 * as the SDK drops it). Latency is still taken when a frame arrives, held or not. The check
 * fails on a seq missing at the end (lost even to the fills), a seq had twice outside a fill,
 * a send acked or delivered twice or never; `held` (came ahead of an earlier seq, then put in
 * order), `fills` and `filled` (gap seqs that came while a fill ran) are reported beside it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Histogram } from '../lib/hist.ts';
import { wallMs } from '../lib/util.ts';
import { longPollStats, open, type BenchConn } from './transport.ts';

interface Peer {
  /** Its index in `peers`, + 1 (0: none), as kept in `Step.from`. */
  tag: number;
  /** Its connection: WebSocket, long-poll or MQTT (`transport.ts`, chosen by the URL). */
  ws: BenchConn | null;
  user: string;
  conv: string;
  /** The next seq in order: every seq below it was had. */
  expect: number;
  inflight: number;
  /** Seqs had ahead of `expect` (a missing one before them), null when none. */
  held: Set<number> | null;
  /** The highest seq held. */
  top: number;
  /** When the current gap was first seen (performance.now), for the fill. */
  gapSince: number;
  /** The id of the fill `sync` in flight (its answer not in yet), else null. */
  filling: string | null;
  /** Fills sent for the current gap: at most `MAX_FILLS`, then it stays open (missing at the end). */
  fillTries: number;
}

interface Step {
  sched: Float64Array;
  /** The sender's `Peer.tag`: a fill may send a peer its own messages, which are no delivery. */
  from: Int32Array;
  ackSeq: Int32Array;
  state: Uint8Array;
  sent: number;
  acked: number;
  delivered: number;
  ackH: Histogram;
  delH: Histogram;
  lagH: Histogram;
  /** Scheduled send → the server's created_at stamp (ms resolution), and created_at → ack received. */
  inH: Histogram;
  outH: Histogram;
  closed: boolean;
  /** With `keepTimes`: when each send was acked and delivered (performance.now), for `chat.window`. */
  ackAt: Float64Array | null;
  delAt: Float64Array | null;
}

const ACK = 1;
const DEL = 2;
/** A fill sent the sender its own message before its ack: the seq is placed already. */
const OWN_FILLED = 4;
const CONTENT = { text: 'Good morning doctor, my blood pressure today is 135/85 after the new tablets.' };

const peers: Peer[] = [];
const steps: Step[] = [];
/**
 * `reordered`: a seq had again (at or below one already had) outside a fill; `chat.verify`
 * adds `gaps`, the seqs still missing at the end. `held`, `fills`, `filled`, `fillResent`,
 * `echoes` (own messages on the own connection: long-polling):
 * reported, not faults.
 */
const counters = { dupAck: 0, dupDel: 0, reordered: 0, seqMismatch: 0, errors: 0, unknown: 0, closes: 0, notifications: 0, held: 0, fills: 0, filled: 0, fillResent: 0, echoes: 0 };
/** A gap not closed after this long is filled with a `sync` (cross-node reordering closes in a few ms). */
const FILL_AFTER_MS = 250;
const MAX_FILLS = 5;
/** Peers with a gap, looked at by the fill timer. */
const gapped = new Set<Peer>();
let fillTimer: NodeJS.Timeout | null = null;
let fillSeq = 0;
const SYNC_DONE_PREFIX = Buffer.from('{"type":"sync_done"');
const errorSamples: string[] = [];
let closedLoop: { step: number; until: number; window: number; next: number } | null = null;

const ACK_PREFIX = Buffer.from('{"type":"ack"');
const MSG_PREFIX = Buffer.from('{"type":"message"');
/** A message over MQTT: seed 003's envelope, whose `id` is the client id (and `seq` Careline's). */
const ENV_PREFIX = Buffer.from('{"id":"');
const K_ID = Buffer.from('"id":"');
const K_CID = Buffer.from('"client_id":"');
const K_SEQ = Buffer.from('"seq":');
const K_AT = Buffer.from('"created_at":');

/** The integer after `key` in a frame (NaN if absent): frames are scanned, not parsed, to keep the generators light. */
function intAfter(b: Buffer, key: Buffer): number {
  const i = b.indexOf(key);
  if (i < 0) return NaN;
  let n = 0;
  let k = i + key.length;
  if (b[k]! < 48 || b[k]! > 57) return NaN;
  for (; b[k]! >= 48 && b[k]! <= 57; k++) n = n * 10 + b[k]! - 48;
  return n;
}

/** The `step.n` request/client id after `key`, as [step, n] (NaN if absent). */
function idAfter(b: Buffer, key: Buffer): [number, number] {
  const i = b.indexOf(key);
  if (i < 0) return [NaN, NaN];
  let k = i + key.length;
  let step = 0;
  for (; b[k]! >= 48 && b[k]! <= 57; k++) step = step * 10 + b[k]! - 48;
  if (b[k] !== 46) return [NaN, NaN];
  let n = 0;
  for (k++; b[k]! >= 48 && b[k]! <= 57; k++) n = n * 10 + b[k]! - 48;
  return b[k] === 34 ? [step, n] : [NaN, NaN];
}

function onFrame(p: Peer, data: Buffer): void {
  const now = performance.now();
  let seq: number;
  if (data.indexOf(ACK_PREFIX) === 0) {
    const [si, n] = idAfter(data, K_ID);
    const s = steps[si];
    seq = intAfter(data, K_SEQ);
    if (!s || !(n < s.sched.length)) return void counters.unknown++;
    if (s.state[n]! & ACK) counters.dupAck++;
    else {
      s.state[n]! |= ACK;
      s.acked++;
      s.ackH.record(now - s.sched[n]!);
      if (s.ackAt) s.ackAt[n] = now;
      // Where the time went: until the server stamped the message, and from there to here.
      const at = intAfter(data, K_AT);
      if (at > 0) {
        const sched = performance.timeOrigin + s.sched[n]!;
        const recv = performance.timeOrigin + now;
        s.inH.record(Math.max(0, at - sched));
        s.outH.record(Math.max(0, recv - at));
      }
      if (s.ackSeq[n] !== 0 && s.ackSeq[n] !== seq) counters.seqMismatch++;
      s.ackSeq[n] = seq;
    }
    p.inflight--;
    if (closedLoop && steps[closedLoop.step] === s && now < closedLoop.until) sendNext(p, closedLoop.step, closedLoop.next++, now);
    if (s.state[n]! & OWN_FILLED) {
      s.state[n]! &= ~OWN_FILLED;
      return; // its seq came with the fill (a different one is a seqMismatch, counted above)
    }
  } else if (data.indexOf(MSG_PREFIX) === 0 || data.indexOf(ENV_PREFIX) === 0) {
    const [si, n] = idAfter(data, data[2] === 0x69 ? K_ID : K_CID);
    const s = steps[si];
    seq = intAfter(data, K_SEQ);
    if (!s || !(n < s.sched.length)) return void counters.unknown++;
    if (s.from[n] === p.tag && p.filling === null) {
      // The sender's own message on its own connection. Never on a WebSocket or MQTT (the
      // sending connection gets the ack); over long-polling the poll may bring it after the
      // POST's answer carried the ack — the SDK's sequencer drops it by its seq, and so do we.
      counters.echoes++;
      if (s.ackSeq[n] !== 0 && s.ackSeq[n] !== seq) counters.seqMismatch++;
      if (s.state[n]! & ACK) return; // its seq was placed by the ack
      s.state[n]! |= OWN_FILLED;
      s.ackSeq[n] = seq;
    } else if (p.filling !== null && (s.from[n] === p.tag || s.state[n]! & DEL)) {
      // What a fill sends: the peer's own messages (their acks carry the seq) and messages it
      // already had are no delivery; only the seq counts.
      if (s.from[n] === p.tag && !(s.state[n]! & ACK)) {
        s.state[n]! |= OWN_FILLED;
        if (s.ackSeq[n] !== 0 && s.ackSeq[n] !== seq) counters.seqMismatch++;
        s.ackSeq[n] = seq;
      }
    } else if (s.state[n]! & DEL) counters.dupDel++;
    else {
      s.state[n]! |= DEL;
      s.delivered++;
      s.delH.record(now - s.sched[n]!);
      if (s.delAt) s.delAt[n] = now;
      if (s.ackSeq[n] !== 0 && s.ackSeq[n] !== seq) counters.seqMismatch++;
      s.ackSeq[n] = seq;
      if (p.filling !== null && p.held && seq >= p.expect && seq < p.top && !p.held.has(seq)) counters.filled++;
    }
  } else if (data.indexOf(SYNC_DONE_PREFIX) === 0) {
    p.filling = null;
    if (p.held) p.gapSince = now; // still a gap: filled again after the wait
    return;
  } else {
    const f = JSON.parse(data.toString()) as { type: string; id?: string; code?: string; message?: string };
    if (f.type === 'error') {
      if (f.id !== undefined && f.id === p.filling) {
        // A fill the server could not serve: tried again after the wait, as the SDK does.
        p.filling = null;
        p.gapSince = performance.now();
      }
      counters.errors++;
      if (errorSamples.length < 5) errorSamples.push(`${f.code}: ${f.message}`);
    } else if (f.type === 'notification') counters.notifications++; // a tenant broadcast reaches the pairs too
    return;
  }
  inOrder(p, seq, now);
}

/** Puts `seq` in its place: in order, held ahead of a gap, or had already. */
function inOrder(p: Peer, seq: number, now: number): void {
  if (!(seq > 0)) return void counters.seqMismatch++;
  if (seq < p.expect || p.held?.has(seq)) {
    if (p.filling !== null) counters.fillResent++;
    else counters.reordered++;
    return;
  }
  if (seq > p.expect) {
    if (!p.held) {
      p.held = new Set();
      p.gapSince = now;
      gapped.add(p);
      fillTimer ??= setInterval(fillGaps, 50);
    }
    p.held.add(seq);
    if (seq > p.top) p.top = seq;
    counters.held++;
    return;
  }
  p.expect++;
  const held = p.held;
  if (!held) return;
  while (held.delete(p.expect)) p.expect++;
  if (held.size === 0) {
    p.held = null;
    p.top = 0;
    p.fillTries = 0;
    gapped.delete(p);
  } else {
    p.gapSince = now; // the next gap
    p.fillTries = 0;
  }
}

/** Asks the server, with a `sync` from the cursor, for what a peer has been missing for FILL_AFTER_MS. */
function fillGaps(): void {
  const now = performance.now();
  for (const p of gapped) {
    if (p.filling !== null || now - p.gapSince < FILL_AFTER_MS || !p.ws || p.fillTries >= MAX_FILLS) continue;
    p.fillTries++;
    p.filling = `f${++fillSeq}`;
    counters.fills++;
    p.ws.send(`{"type":"sync","id":"${p.filling}","cursors":{"${p.conv}":${p.expect - 1}}}`);
  }
  if (gapped.size === 0 && fillTimer) {
    clearInterval(fillTimer);
    fillTimer = null;
  }
}

function sendNext(p: Peer, stepIdx: number, n: number, sched: number): void {
  const s = steps[stepIdx]!;
  if (n >= s.sched.length || !p.ws) return;
  s.sched[n] = sched;
  s.from[n] = p.tag;
  const id = `${stepIdx}.${n}`;
  p.ws.send(`{"type":"send","id":"${id}","conversation_id":"${p.conv}","message":{"client_id":"${id}","type":1,"content":${JSON.stringify(CONTENT)}}}`);
  s.lagH.record(performance.now() - sched);
  s.sent++;
  p.inflight++;
}

export const chatHandlers = {
  /** Connects both members of each pair. */
  async 'chat.connect'(p: { pairs: { conv: string; a: { user: string; url: string }; b: { user: string; url: string } }[]; localAddress?: string }) {
    const t0 = performance.now();
    const list: Peer[] = [];
    for (const pair of p.pairs) {
      for (const side of [pair.a, pair.b]) list.push({ tag: peers.length + list.length + 1, ws: null, user: side.user, conv: pair.conv, expect: 1, inflight: 0, held: null, top: 0, gapSince: 0, filling: null, fillTries: 0 });
    }
    const urls = p.pairs.flatMap((pair) => [pair.a.url, pair.b.url]);
    // MQTT's one-to-one envelopes are addressed to the other member.
    const others = p.pairs.flatMap((pair) => [{ [pair.conv]: pair.b.user }, { [pair.conv]: pair.a.user }]);
    for (let i = 0; i < list.length; i += 50) {
      await Promise.all(list.slice(i, i + 50).map(async (peer, j) => {
        peer.ws = await open(urls[i + j]!, {
          localAddress: p.localAddress,
          peers: others[i + j],
          onData: (d) => onFrame(peer, d),
          onClose: () => {
            counters.closes++;
            peer.ws = null;
          },
        });
      }));
    }
    peers.push(...list);
    return { connected: list.length, ms: performance.now() - t0 };
  },

  /**
   * One step. Open loop: sends at `rate`/s for `durationMs`, round-robin over the
   * connections, each at its scheduled time. Closed loop: each connection keeps `window`
   * sends in flight. Then waits up to `drainMs` for every ack and delivery.
   */
  async 'chat.step'(p: { step: number; mode: 'open' | 'closed'; rate: number; window: number; durationMs: number; drainMs: number; startAt: number; keepTimes?: boolean }) {
    const max = p.mode === 'open' ? Math.ceil((p.rate * p.durationMs) / 1000) : Math.ceil(200_000 * (p.durationMs / 1000));
    const s: Step = {
      sched: new Float64Array(max), from: new Int32Array(max), ackSeq: new Int32Array(max), state: new Uint8Array(max), sent: 0, acked: 0, delivered: 0,
      ackH: new Histogram(), delH: new Histogram(), lagH: new Histogram(), inH: new Histogram(), outH: new Histogram(), closed: p.mode === 'closed',
      ackAt: p.keepTimes ? new Float64Array(max) : null, delAt: p.keepTimes ? new Float64Array(max) : null,
    };
    steps[p.step] = s;
    // This generator's own event-loop delay while it sends: a frame that waits here for the
    // loop shows in the latencies as if the server had been late.
    const loop = monitorEventLoopDelay({ resolution: 1 });
    const cpu0 = process.cpuUsage();
    const start = performance.now() + Math.max(0, p.startAt - wallMs());
    const end = start + p.durationMs;
    await new Promise((r) => setTimeout(r, Math.max(0, start - performance.now())));
    loop.enable();
    const live = peers.filter((x) => x.ws);
    if (p.mode === 'closed') {
      closedLoop = { step: p.step, until: end, window: p.window, next: 0 };
      const now = performance.now();
      for (let w = 0; w < p.window; w++) for (const peer of live) sendNext(peer, p.step, closedLoop.next++, now);
      await new Promise((r) => setTimeout(r, Math.max(0, end - performance.now())));
      closedLoop = null;
    } else {
      const interval = 1000 / p.rate;
      let n = 0;
      await new Promise<void>((resolve) => {
        const tick = () => {
          const now = performance.now();
          const due = Math.min(max, Math.floor((now - start) / interval) + 1);
          while (n < due) {
            sendNext(live[n % live.length]!, p.step, n, start + n * interval);
            n++;
          }
          if (n >= max || now >= end) resolve();
          else setTimeout(tick, 1);
        };
        tick();
      });
    }
    const sendEnd = performance.now();
    loop.disable();
    const drainEnd = sendEnd + p.drainMs;
    while ((s.acked < s.sent || s.delivered < s.sent) && performance.now() < drainEnd) await new Promise((r) => setTimeout(r, 10));
    const cpu = process.cpuUsage(cpu0);
    return {
      sent: s.sent, acked: s.acked, delivered: s.delivered,
      sendMs: sendEnd - start, totalMs: performance.now() - start,
      ack: s.ackH.toJSON(), del: s.delH.toJSON(), lag: s.lagH.toJSON(), toServer: s.inH.toJSON(), fromServer: s.outH.toJSON(),
      cpuMs: (cpu.user + cpu.system) / 1000,
      connections: live.length,
      // ms beyond the 1 ms the monitor sleeps
      loop: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    };
  },

  /**
   * Latency of the sends of a step (run with `keepTimes`) scheduled within [from, to)
   * (wall-clock ms): how the traffic fared during something else, e.g. a broadcast fan-out.
   */
  'chat.window'(p: { step: number; from: number; to: number }) {
    const s = steps[p.step];
    if (!s?.ackAt || !s.delAt) throw new Error(`step ${p.step} was not run with keepTimes`);
    const from = p.from - performance.timeOrigin;
    const to = p.to - performance.timeOrigin;
    const ack = new Histogram();
    const del = new Histogram();
    let n = 0;
    let unacked = 0;
    let undelivered = 0;
    for (let i = 0; i < s.sent; i++) {
      const at = s.sched[i]!;
      if (at < from || at >= to) continue;
      n++;
      if (s.state[i]! & ACK) ack.record(s.ackAt[i]! - at);
      else unacked++;
      if (s.state[i]! & DEL) del.record(s.delAt[i]! - at);
      else undelivered++;
    }
    return { n, unacked, undelivered, ack: ack.toJSON(), del: del.toJSON() };
  },

  /** End-of-scenario check over every step: each send acked once, delivered once, seqs in order with no gap. */
  'chat.verify'() {
    let sent = 0;
    let unacked = 0;
    let undelivered = 0;
    for (const s of steps) {
      if (!s) continue;
      sent += s.sent;
      for (let n = 0; n < s.sent; n++) {
        if (!(s.state[n]! & ACK)) unacked++;
        if (!(s.state[n]! & DEL)) undelivered++;
      }
    }
    // What is still missing before a held seq was lost, even to the fills.
    let missing = 0;
    for (const p of peers) if (p.held) missing += p.top - p.expect + 1 - p.held.size;
    // Both members of a conversation must have seen the same last seq.
    let headMismatch = 0;
    const heads = new Map<string, number>();
    for (const p of peers) {
      const h = heads.get(p.conv);
      if (h === undefined) heads.set(p.conv, p.expect);
      else if (h !== p.expect) headMismatch++;
    }
    return { sent, unacked, undelivered, headMismatch, ...counters, redelivered: longPollStats.redelivered, gaps: missing, errorSamples };
  },

  'chat.close'() {
    for (const p of peers) p.ws?.terminate();
    peers.length = 0;
    gapped.clear();
    if (fillTimer) clearInterval(fillTimer);
    fillTimer = null;
    return null;
  },
};
