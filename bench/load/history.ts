/**
 * Generator side of the history scenario: a closed loop of REST reads (`concurrency` in
 * flight, keep-alive) for `durationMs`, timing each request to the end of its body.
 */
import { Agent, request } from 'node:http';
import { Histogram } from '../lib/hist.ts';
import { rng } from '../lib/util.ts';

export const HISTORY_PAGES = ['latest', 'deep', 'since'] as const;
export type HistoryKind = (typeof HISTORY_PAGES)[number];

function get(agent: Agent, url: URL, path: string, token: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, path, method: 'GET', headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export const historyHandlers = {
  async 'history.run'(p: {
    base: string; token?: string; kind: HistoryKind; convs: [string, number][]; deepConvs: [string, number][];
    concurrency: number; durationMs: number; limit: number; seed: number;
  }) {
    const url = new URL(p.base);
    const agent = new Agent({ keepAlive: true, maxSockets: p.concurrency });
    const rand = rng(p.seed);
    const h = new Histogram();
    let errors = 0;
    let rows = 0;
    const samples: string[] = [];
    const pathFor = (): string => {
      if (p.kind === 'latest') {
        const [id] = p.convs[Math.floor(rand() * p.convs.length)]!;
        return `/api/v2/sessions/${encodeURIComponent(id)}/messages?limit=${p.limit}`;
      }
      const [id, last] = p.deepConvs[Math.floor(rand() * p.deepConvs.length)]!;
      if (p.kind === 'deep') return `/api/v2/sessions/${encodeURIComponent(id)}/messages?before=${1 + p.limit + Math.floor(rand() * (last - p.limit))}&limit=${p.limit}`;
      return `/api/v2/sessions/${encodeURIComponent(id)}/messages?after=${Math.max(0, last - 1 - Math.floor(rand() * 500))}&limit=${p.limit}`;
    };
    const t0 = performance.now();
    const end = t0 + p.durationMs;
    const lane = async () => {
      while (performance.now() < end) {
        const path = pathFor();
        const s = performance.now();
        try {
          const r = await get(agent, url, path, p.token);
          h.record(performance.now() - s);
          if (r.status !== 200) {
            errors++;
            if (samples.length < 3) samples.push(`${r.status} ${r.body.slice(0, 200)}`);
          } else rows += (JSON.parse(r.body) as { messages: unknown[] }).messages.length;
        } catch (err) {
          errors++;
          if (samples.length < 3) samples.push(String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: p.concurrency }, lane));
    agent.destroy();
    return { latency: h.toJSON(), ms: performance.now() - t0, errors, rows, samples };
  },
};
