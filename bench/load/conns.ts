/**
 * Generator side of the connections scenario: opens many authenticated connections with
 * bounded concurrency, timing each from the first byte to the server's hello, then keeps
 * them alive with a `ping` frame per connection every `pingMs` (spread over the interval).
 */
import type WebSocket from 'ws';
import { Histogram } from '../lib/hist.ts';
import { connect } from './client.ts';

let conns: (WebSocket | null)[] = [];
let pongs = 0;
let closes = 0;
let pinger: NodeJS.Timeout | undefined;

const PONG = Buffer.from('"type":"pong"');

export const connsHandlers = {
  async 'conns.open'(p: { urls: string[]; concurrency: number; localAddress?: string; pingMs: number }) {
    const h = new Histogram();
    let failed = 0;
    const samples: string[] = [];
    conns = new Array(p.urls.length).fill(null);
    const t0 = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < p.urls.length) {
        const i = next++;
        const s = performance.now();
        try {
          conns[i] = await connect(p.urls[i]!, {
            localAddress: p.localAddress,
            timeoutMs: 30_000,
            onData: (d) => {
              if (d.indexOf(PONG) >= 0) pongs++;
            },
            onClose: () => {
              closes++;
              conns[i] = null;
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
    const ms = performance.now() - t0;
    // Heartbeat: every connection sends a ping frame once per pingMs, spread evenly.
    const slices = 20;
    let slice = 0;
    clearInterval(pinger);
    pinger = setInterval(() => {
      for (let i = slice; i < conns.length; i += slices) conns[i]?.send('{"type":"ping"}');
      slice = (slice + 1) % slices;
    }, p.pingMs / slices);
    return { opened: conns.filter(Boolean).length, failed, samples, ms, latency: h.toJSON() };
  },

  'conns.status'() {
    return { open: conns.filter((c) => c && c.readyState === c.OPEN).length, pongs, closes };
  },

  'conns.close'() {
    clearInterval(pinger);
    for (const c of conns) c?.terminate();
    conns = [];
    return null;
  },
};
