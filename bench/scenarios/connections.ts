/**
 * Scenario 3 — connections. Authenticated connections up to the per-process file limit
 * (`ulimit -n`, raised to the hard limit for this scenario only), opened with bounded
 * concurrency by several generators (each from its own loopback address), then held idle
 * with a `ping` frame per connection every 10 s. Memory per connection: the growth of the
 * server's RSS and of its V8 heap (both after a full GC) divided by the connections.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuMeter, fdLimits, listenDrops, type Proc } from '../lib/proc.ts';
import { lat, settle, startGens, startTarget, stopAll, type Ctx, type Lat } from '../lib/ctx.ts';
import type { Mem, Target, TargetKind } from '../lib/target.ts';
import { sleep, split } from '../lib/util.ts';

export interface ConnRun {
  requested: number;
  fdLimit: number;
  opened: number;
  failed: number;
  failSamples: string[];
  stillOpen: number;
  connectMs: number;
  connectRate: number;
  connect: Lat;
  /** Server CPU per connection opened (ms), the generators' CPU share while opening, and other people's load. */
  serverCpuPerConnMs: number;
  genCpu: number[];
  foreignCores: number;
  listenDrops: number;
  holdMs: number;
  before: Mem;
  after: Mem;
  rssPerConn: number;
  heapPerConn: number;
  serverRssBefore: number;
  serverRssAfter: number;
}

const PER_GEN = 4000;

export function connectionTarget(ctx: Ctx): { n: number; limit: number } {
  const { hard } = fdLimits();
  const n = ctx.o.connections > 0 ? ctx.o.connections : hard - 300;
  return { n: Math.max(1, Math.min(n, hard - 300)), limit: hard };
}

export async function connectionsScenario(ctx: Ctx): Promise<Partial<Record<TargetKind, ConnRun>>> {
  const out: Partial<Record<TargetKind, ConnRun>> = {};
  for (const kind of ctx.o.kinds) out[kind] = await runOne(ctx, kind);
  return out;
}

async function runOne(ctx: Ctx, kind: TargetKind): Promise<ConnRun> {
  const { n: N, limit } = connectionTarget(ctx);
  const D = ctx.o.duration * 1000;
  ctx.progress.phase(`connections ${kind}: setup ${N} users`);
  let target: Target | undefined;
  let gens: Proc[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'careline-bench-conns-'));
  const opts = { fdLimit: limit, heartbeatMs: 10_000, db: join(dir, 'careline.db'), tenantFile: join(dir, 'tenant.json') };
  try {
    target = await startTarget(ctx, kind, 'connections', opts);
    const ids = Array.from({ length: N }, (_, i) => `c${i}`);
    const tokens = await target.users(ids, 'patient', (done) => ctx.progress.phase(`connections ${kind}: setup ${done}/${N} users`));
    if (kind === 'careline') {
      // Restart on the same database so the memory the setup calls left behind is not counted.
      await target.stop();
      target = await startTarget(ctx, kind, 'connections', opts);
    }
    const t = target;
    const urls = ids.map((u) => t.connectUrl(u, tokens.get(u)!, []));
    const g = await startGens(ctx, Math.ceil(N / PER_GEN), { fdLimit: limit, name: 'conn' });
    gens = g.procs;
    await sleep(500);
    const before = await target.mem();
    const rss0 = target.proc.rssBytes();
    await settle(ctx, `connections ${kind}`);
    ctx.progress.phase(`connections ${kind}: opening ${N}`, D / 3, D / 3000);
    const shares = split(urls, gens.length);
    const t0 = performance.now();
    await target.profileStart();
    const meter = new CpuMeter([target.proc, ...gens]).start();
    const drops0 = listenDrops();
    const rs = await Promise.all(gens.map((gen, i) => gen.call('conns.open', { urls: shares[i], concurrency: 32, localAddress: g.addrs[i], pingMs: 10_000 }, 300_000)));
    const connectMs = performance.now() - t0;
    const m = meter.stop();
    await target.profileStop('open');
    const drops = listenDrops() - drops0;
    const opened = rs.reduce((a, r) => a + r.opened, 0);
    const holdMs = Math.max(5000, Math.round(D / 3));
    ctx.progress.phase(`connections ${kind}: holding ${opened} idle`, holdMs, holdMs / 1000);
    await sleep(holdMs);
    const st = await Promise.all(gens.map((gen) => gen.call('conns.status')));
    const after = await target.mem();
    const rss1 = target.proc.rssBytes();
    const stillOpen = st.reduce((a, s) => a + s.open, 0);
    const r: ConnRun = {
      requested: N, fdLimit: limit, opened, failed: rs.reduce((a, x) => a + x.failed, 0), failSamples: rs.flatMap((x) => x.samples).slice(0, 3),
      stillOpen, connectMs, connectRate: opened / (connectMs / 1000), connect: lat(rs.map((x) => x.latency)),
      serverCpuPerConnMs: m.cpuMs[0]! / Math.max(1, opened), genCpu: m.util.slice(1), foreignCores: m.foreignCores, listenDrops: drops, holdMs,
      before, after,
      rssPerConn: (after.rss - before.rss) / Math.max(1, opened), heapPerConn: (after.heapUsed - before.heapUsed) / Math.max(1, opened),
      serverRssBefore: rss0, serverRssAfter: rss1,
    };
    ctx.log(`  connections ${kind}: ${opened}/${N} open (${stillOpen} still open after ${holdMs / 1000}s), ${Math.round(r.connectRate)} conn/s, connect p99 ${r.connect.p99.toFixed(1)} ms, ${r.serverCpuPerConnMs.toFixed(2)} ms server CPU each, ${(r.rssPerConn / 1024).toFixed(1)} KiB RSS and ${(r.heapPerConn / 1024).toFixed(1)} KiB heap per connection`);
    await Promise.all(gens.map((gen) => gen.call('conns.close')));
    return r;
  } finally {
    await stopAll([...gens, target]);
    rmSync(dir, { recursive: true, force: true });
  }
}
