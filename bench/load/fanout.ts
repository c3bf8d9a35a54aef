/**
 * Generator side of the group fan-out scenario. Members of one big conversation are spread
 * over the generators; the sender is the first member of generator 0. Receivers note, per
 * message, how many of their members got it and when the last one did (wall clock, which
 * all processes share), so the orchestrator can tell when the last member had it.
 */
import type WebSocket from 'ws';
import { wallMs } from '../lib/util.ts';
import { connect } from './client.ts';

interface Rec {
  count: number;
  last: number;
}

let conns: WebSocket[] = [];
let recv = new Map<string, Rec>();
let deliveries = 0;
let errors = 0;
let closes = 0;
const acks = new Map<string, (ok: boolean) => void>();
let sendErrors: string[] = [];

const CID = Buffer.from('"client_id":"');
const MSG = Buffer.from('{"type":"message"');

const SEQ = Buffer.from('"seq":');
let gaps = 0;
let dups = 0;

/** Per connection: the last seq seen, to check each member gets 1 message per seq, in order. */
function onData(this: { last: number }, data: Buffer): void {
  if (data.indexOf(MSG) === 0) {
    const at = wallMs();
    const q = data.indexOf(SEQ);
    let seq = 0;
    for (let k = q + SEQ.length; data[k]! >= 48 && data[k]! <= 57; k++) seq = seq * 10 + data[k]! - 48;
    if (this.last !== 0 && seq !== this.last + 1) {
      if (seq <= this.last) dups++;
      else gaps += seq - this.last - 1;
    }
    if (seq > this.last) this.last = seq;
    const i = data.indexOf(CID);
    if (i < 0) return;
    const start = i + CID.length;
    const cid = data.toString('latin1', start, data.indexOf(34, start));
    const r = recv.get(cid);
    if (r) {
      r.count++;
      r.last = at;
    } else recv.set(cid, { count: 1, last: at });
    deliveries++;
    return;
  }
  const f = JSON.parse(data.toString()) as any;
  if (f.type === 'ack') acks.get(f.id)?.(true);
  else if (f.type === 'error') {
    errors++;
    if (sendErrors.length < 5) sendErrors.push(`${f.code}: ${f.message}`);
    if (f.id) acks.get(f.id)?.(false);
  }
}

export const fanoutHandlers = {
  async 'fanout.connect'(p: { members: { user: string; url: string }[]; localAddress?: string }) {
    const t0 = performance.now();
    const list: WebSocket[] = [];
    for (let i = 0; i < p.members.length; i += 50) {
      list.push(...(await Promise.all(p.members.slice(i, i + 50).map((m) =>
        connect(m.url, { localAddress: p.localAddress, onData: onData.bind({ last: 0 }), onClose: () => closes++ })))));
    }
    conns = list;
    recv = new Map();
    deliveries = 0;
    gaps = 0;
    dups = 0;
    sendErrors = [];
    return { connected: list.length, ms: performance.now() - t0 };
  },

  /**
   * The sender (this generator's first connection) posts `count` messages into `conv`:
   * `paced` one every `intervalMs`; `window` as fast as acks allow with `window` in flight,
   * stopping after `durationMs`. Returns each message's send time.
   */
  async 'fanout.send'(p: { conv: string; prefix: string; count: number; mode: 'paced' | 'window'; intervalMs: number; window: number; durationMs: number }) {
    const ws = conns[0];
    if (!ws) throw new Error('no sender connection');
    const sendTimes: [string, number][] = [];
    let acked = 0;
    const t0 = performance.now();
    const sendOne = (n: number): Promise<void> => {
      const id = `${p.prefix}.${n}`;
      const done = new Promise<void>((resolve) => acks.set(id, (ok) => {
        acks.delete(id);
        if (ok) acked++;
        resolve();
      }));
      sendTimes.push([id, wallMs()]);
      ws.send(JSON.stringify({ type: 'send', id, conversation_id: p.conv, message: { client_id: id, type: 1, content: { text: `Team notice ${n}: the ward round starts at 9:00, please review the overnight vitals before.` } } }));
      return done;
    };
    if (p.mode === 'paced') {
      for (let n = 0; n < p.count; n++) {
        void sendOne(n);
        await new Promise((r) => setTimeout(r, p.intervalMs));
      }
    } else {
      let next = 0;
      const lane = async () => {
        while (next < p.count && performance.now() - t0 < p.durationMs) await sendOne(next++);
      };
      await Promise.all(Array.from({ length: p.window }, lane));
    }
    const end = Date.now() + 10_000;
    while (acked < sendTimes.length && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    return { sent: sendTimes.length, acked, sendTimes, sendMs: performance.now() - t0, errors: sendErrors };
  },

  /** Deliveries seen so far for messages whose id starts with `prefix`. */
  'fanout.status'(p: { prefix: string; detail?: boolean }) {
    let n = 0;
    const per: [string, number, number][] = [];
    for (const [cid, r] of recv) {
      if (!cid.startsWith(p.prefix + '.')) continue;
      n += r.count;
      if (p.detail) per.push([cid, r.count, r.last]);
    }
    return { deliveries: n, per, errors, closes, gaps, dups, connections: conns.length };
  },

  'fanout.close'() {
    for (const ws of conns) ws.terminate();
    conns = [];
    return null;
  },
};
