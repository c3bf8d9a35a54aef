/**
 * Generator side of the reconnect storm. Patients (one conversation each) connect, receive,
 * drop all at once, and reconnect at random moments within a window with `?sync=1` and a
 * `sync` frame carrying their cursor. Doctors (the `traffic.*` calls, on a generator of their
 * own) keep sending at a fixed rate the whole time. At the end each patient's record is
 * checked against the doctors' acks: every seq 1..last seen exactly once.
 */
import type WebSocket from 'ws';
import { tally, wallMs } from '../lib/util.ts';
import { connect } from './client.ts';
import { open as openConn, type BenchConn } from './transport.ts';

interface Patient {
  user: string;
  url: string;
  conv: string;
  /** The doctor of its conversation (the `to` of MQTT envelopes). */
  peer?: string;
  /** WebSocket, long-poll or MQTT, by the URL (`transport.ts`). */
  ws: BenchConn | null;
  /** Times each seq was received (index = seq). */
  seen: Uint8Array;
  cursor: number;
  connectStart: number;
  helloAt: number;
  syncDoneAt: number;
  caughtUpAt: number;
  head: number;
  attempts: number;
}

let patients: Patient[] = [];
let localAddress: string | undefined;
let catchUpFrames = 0;
let errors = 0;
let closedAfterCatchUp = 0;
const errorSamples: string[] = [];

function grow(p: Patient, seq: number): void {
  if (seq < p.seen.length) return;
  let n = p.seen.length * 2;
  while (n <= seq) n *= 2;
  const s = new Uint8Array(n);
  s.set(p.seen);
  p.seen = s;
}

function onData(p: Patient, data: Buffer): void {
  const f = JSON.parse(data.toString()) as any;
  // A message: a Careline frame, or over MQTT seed 003's envelope (`seq` at its top level).
  if (f.type === 'message' || (typeof f.from === 'string' && typeof f.seq === 'number')) {
    const seq = (f.type === 'message' ? f.message.seq : f.seq) as number;
    grow(p, seq);
    if (p.seen[seq]! < 255) p.seen[seq]!++;
    while (p.seen[p.cursor + 1]) p.cursor++;
    if (p.syncDoneAt === 0 && p.connectStart > 0) catchUpFrames++;
    if (p.caughtUpAt === 0 && p.syncDoneAt > 0 && p.cursor >= p.head) p.caughtUpAt = wallMs();
  } else if (f.type === 'hello') {
    p.helloAt = wallMs();
  } else if (f.type === 'sync_done') {
    const now = wallMs();
    p.syncDoneAt = now;
    p.head = (f.conversations as { id: string; last_seq: number }[]).find((c) => c.id === p.conv)?.last_seq ?? 0;
    if (p.cursor >= p.head) p.caughtUpAt = now;
  } else if (f.type === 'error') {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(`${f.code}: ${f.message}`);
  }
}

async function open(p: Patient): Promise<void> {
  p.attempts++;
  p.ws = await openConn(p.url, {
    localAddress,
    timeoutMs: 15_000, // the SDK's default connectTimeoutMs
    ...(p.peer ? { peers: { [p.conv]: p.peer } } : {}),
    onOpen: (ws) => ws.send(JSON.stringify({ type: 'sync', id: 's', cursors: { [p.conv]: p.cursor } })),
    onData: (d) => onData(p, d),
    onClose: () => {
      p.ws = null;
      // A patient that caught up and then lost its connection misses what follows (it does not come back).
      if (p.caughtUpAt > 0) closedAfterCatchUp++;
    },
  });
}

/** Retries as the SDK does: exponential backoff with full jitter (first retry within 500 ms). */
async function openWithRetry(p: Patient, deadline: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await open(p);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(30_000, 500 * 2 ** attempt)));
    }
  }
}

export const stormHandlers = {
  async 'storm.connect'(p: { patients: { user: string; url: string; conv: string; peer?: string }[]; localAddress?: string }) {
    localAddress = p.localAddress;
    patients = p.patients.map((x) => ({ ...x, ws: null, seen: new Uint8Array(64), cursor: 0, connectStart: 0, helloAt: 0, syncDoneAt: 0, caughtUpAt: 0, head: 0, attempts: 0 }));
    const t0 = performance.now();
    const deadline = Date.now() + 120_000;
    for (let i = 0; i < patients.length; i += 100) await Promise.all(patients.slice(i, i + 100).map((x) => openWithRetry(x, deadline)));
    return { connected: patients.filter((x) => x.ws).length, ms: performance.now() - t0 };
  },

  /** Every patient's socket is cut at once (no close handshake). */
  'storm.drop'() {
    for (const p of patients) p.ws?.terminate();
    return { dropped: patients.length };
  },

  /** Each patient reconnects at a random moment in [startAt, startAt + spreadMs] and syncs from its cursor. */
  'storm.reconnect'(p: { startAt: number; spreadMs: number }) {
    catchUpFrames = 0;
    const deadline = Date.now() + 120_000;
    for (const x of patients) {
      x.syncDoneAt = 0;
      x.helloAt = 0;
      x.caughtUpAt = 0;
      x.head = 0;
      x.connectStart = 0;
      const at = p.startAt + Math.random() * p.spreadMs;
      setTimeout(() => {
        x.connectStart = wallMs();
        openWithRetry(x, deadline).catch(() => {});
      }, Math.max(0, at - wallMs()));
    }
    return null;
  },

  'storm.status'(p: { times?: boolean }) {
    const done = patients.filter((x) => x.caughtUpAt > 0);
    return {
      total: patients.length,
      caughtUp: done.length,
      open: patients.filter((x) => x.ws).length,
      attempts: patients.reduce((a, x) => a + x.attempts, 0),
      catchUpFrames,
      times: p.times ? done.map((x) => [x.connectStart, x.helloAt, x.syncDoneAt, x.caughtUpAt]) : [],
      errors,
      errorSamples,
      closedAfterCatchUp,
    };
  },

  /**
   * Checks every patient that caught up against the conversation's final head (from the
   * doctors' acks). Patients that never got back (no sync_done) are counted apart.
   */
  'storm.verify'(p: { last: Record<string, number> }) {
    let missed = 0;
    let duplicated = 0;
    let unknown = 0;
    let expected = 0;
    let clientsMissing = 0;
    let notBack = 0;
    for (const x of patients) {
      if (x.syncDoneAt === 0) {
        notBack++;
        continue;
      }
      const last = p.last[x.conv] ?? 0;
      expected += last;
      const seqs = Array.from({ length: last }, (_, i) => i + 1);
      const { missing: miss, duplicated: dup } = tally(seqs, (s) => x.seen[s] ?? 0);
      duplicated += dup;
      for (let s = last + 1; s < x.seen.length; s++) if (x.seen[s]) unknown++;
      missed += miss;
      if (miss) clientsMissing++;
    }
    return { clients: patients.length, checked: patients.length - notBack, notBack, expected, missed, duplicated, unknown, clientsMissing };
  },

  'storm.close'() {
    for (const p of patients) p.ws?.terminate();
    patients = [];
    return null;
  },
};

// ---- the doctors: steady traffic ---------------------------------------------------------
interface Doctor {
  ws: WebSocket | null;
  convs: string[];
}
let doctors: Doctor[] = [];
let traffic: { timer: NodeJS.Timeout | undefined; sent: number; acked: number; errors: number; stop: boolean } = { timer: undefined, sent: 0, acked: 0, errors: 0, stop: false };
const last = new Map<string, number>();

export const trafficHandlers = {
  async 'traffic.connect'(p: { doctors: { user: string; url: string; convs: string[] }[]; localAddress?: string }) {
    doctors = await Promise.all(p.doctors.map(async (d) => {
      const doc: Doctor = { ws: null, convs: d.convs };
      doc.ws = await connect(d.url, {
        localAddress: p.localAddress,
        onData: (data) => {
          const f = JSON.parse(data.toString()) as any;
          if (f.type === 'ack') {
            traffic.acked++;
            if ((last.get(f.conversation_id) ?? 0) < f.seq) last.set(f.conversation_id, f.seq);
          } else if (f.type === 'error') traffic.errors++;
        },
        onClose: () => {
          doc.ws = null;
        },
      });
      return doc;
    }));
    return { connected: doctors.length };
  },

  /** Open loop at `rate`/s: round-robin over every (doctor, conversation). */
  'traffic.start'(p: { rate: number }) {
    const pairs = doctors.flatMap((d) => d.convs.map((c) => [d, c] as const));
    // Interleave doctors so consecutive sends go to different sockets.
    pairs.sort((a, b) => doctors.indexOf(a[0]) - doctors.indexOf(b[0]));
    const order: (readonly [Doctor, string])[] = [];
    const per = doctors.map((d) => pairs.filter((x) => x[0] === d));
    for (let i = 0; order.length < pairs.length; i++) for (const list of per) if (list[i]) order.push(list[i]!);
    traffic = { timer: undefined, sent: 0, acked: 0, errors: 0, stop: false };
    const start = performance.now();
    const interval = 1000 / p.rate;
    const tick = () => {
      if (traffic.stop) return;
      const due = Math.floor((performance.now() - start) / interval) + 1;
      while (traffic.sent < due) {
        const [d, conv] = order[traffic.sent % order.length]!;
        const id = `t.${traffic.sent}`;
        traffic.sent++;
        d.ws?.send(`{"type":"send","id":"${id}","conversation_id":"${conv}","message":{"client_id":"${id}","type":1,"content":{"text":"Your lab results are in; please check the report and book a follow-up."}}}`);
      }
      traffic.timer = setTimeout(tick, 2);
    };
    tick();
    return null;
  },

  async 'traffic.stop'(p: { drainMs: number }) {
    traffic.stop = true;
    clearTimeout(traffic.timer);
    const end = Date.now() + p.drainMs;
    while (traffic.acked < traffic.sent && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return { sent: traffic.sent, acked: traffic.acked, errors: traffic.errors, last: Object.fromEntries(last) };
  },

  'traffic.close'() {
    for (const d of doctors) d.ws?.terminate();
    doctors = [];
    last.clear();
    return null;
  },
};
