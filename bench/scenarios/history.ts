/**
 * Scenario 5 — history. 1M+ messages spread unevenly over conversations (Zipf: the biggest
 * holds ~13 %, most hold a few hundred), seeded through the message store. Then REST reads
 * as a user of the app would make them: the latest page of a random conversation, a page
 * deep in the big ones (`before`), and "since seq" (`after`), each at concurrency 1 (the
 * latency of one read) and 8 (reads per second).
 */
import { CpuMeter, type Proc } from '../lib/proc.ts';
import { statSync } from 'node:fs';
import { lat, settle, startGens, startTarget, stopAll, type Ctx, type Lat } from '../lib/ctx.ts';
import type { Target, TargetKind } from '../lib/target.ts';

export interface HistoryRead {
  kind: 'latest' | 'deep' | 'since';
  concurrency: number;
  latency: Lat;
  perSec: number;
  rowsPerRead: number;
  errors: number;
  samples: string[];
  serverCpu: number;
  /** CPU (cores) used by other people's processes meanwhile: > 0.25 means the figures were disturbed. */
  foreignCores: number;
}

export interface HistoryRun {
  messages: number;
  conversations: number;
  biggest: number;
  seedMs: number;
  dbBytes: number;
  reads: HistoryRead[];
}

export function zipfCounts(total: number, n: number): number[] {
  const w = Array.from({ length: n }, (_, i) => 1 / (i + 1));
  const sum = w.reduce((a, b) => a + b, 0);
  const counts = w.map((x) => Math.max(1, Math.floor((total * x) / sum)));
  counts[0]! += total - counts.reduce((a, b) => a + b, 0);
  return counts;
}

export async function historyScenario(ctx: Ctx): Promise<Partial<Record<TargetKind, HistoryRun>>> {
  const out: Partial<Record<TargetKind, HistoryRun>> = {};
  for (const kind of ctx.o.kinds) out[kind] = await runOne(ctx, kind);
  return out;
}

async function runOne(ctx: Ctx, kind: TargetKind): Promise<HistoryRun> {
  const M = ctx.o.historyMessages;
  const C = ctx.o.historyConversations;
  ctx.progress.phase(`history ${kind}: setup ${C} conversations`);
  let target: Target | undefined;
  let gens: Proc[] = [];
  try {
    target = await startTarget(ctx, kind, 'history');
    const patients = Array.from({ length: C }, (_, i) => `h${i}`);
    const tokens = await target.users(['reader'], 'doctor');
    await target.users(patients, 'patient');
    const convs = await target.conversations(patients.map((p) => ({ kind: 'p2p' as const, participants: ['reader', p] })));
    const counts = zipfCounts(M, C);
    const list: [string, number][] = convs.map((c, i) => [c, counts[i]!]);
    ctx.progress.phase(`history ${kind}: seeding ${M.toLocaleString('en-US')} messages`);
    const seeded = await target.proc.call<{ rows: number; ms: number }>('seed', { tenantId: target.tenantId, sender: 'reader', conversations: list }, 30 * 60_000);
    const dbBytes = target.db ? ['', '-wal', '-search', '-search-wal'].reduce((a, s) => a + safeSize(target!.db + s), 0) : 0;
    const g = await startGens(ctx, 1, { name: 'hist' });
    gens = g.procs;
    const deepConvs = list.filter(([, n]) => n >= 1000).slice(0, 50);
    const kinds = ctx.o.historyPages;
    const conc = ctx.o.historyConcurrency;
    const ms = Math.max(1000, Math.round((ctx.o.duration * 1000) / (kinds.length * conc.length)));
    const reads: HistoryRead[] = [];
    await settle(ctx, `history ${kind} reads`);
    await target.profileStart();
    for (const k of kinds) {
      for (const c of conc) {
        ctx.progress.phase(`history ${kind}: ${k} page, concurrency ${c}`, ms, ms / 1000);
        const meter = new CpuMeter([target.proc, ...gens]).start();
        const r = await gens[0]!.call('history.run', {
          base: target.url, token: tokens.get('reader') || undefined, kind: k, convs: list, deepConvs,
          concurrency: c, durationMs: ms, limit: k === 'since' ? 100 : 50, seed: 42 + c,
        }, ms + 60_000);
        const m = meter.stop();
        const l = lat([r.latency]);
        reads.push({
          kind: k, concurrency: c, latency: l, perSec: l.n / (r.ms / 1000), rowsPerRead: r.rows / Math.max(1, l.n), errors: r.errors, samples: r.samples,
          serverCpu: m.util[0]!, foreignCores: m.foreignCores,
        });
      }
    }
    await target.profileStop();
    const first = reads[0]!;
    ctx.log(`  history ${kind}: ${seeded.rows.toLocaleString('en-US')} rows; ${first.kind} page ×${first.concurrency} p50 ${first.latency.p50.toFixed(2)} ms p99 ${first.latency.p99.toFixed(2)} ms; ${reads.map((r) => `${r.kind}×${r.concurrency} ${Math.round(r.perSec)}/s`).join(', ')}${reads.some((r) => r.foreignCores > 0.25) ? ` (disturbed: up to ${Math.max(...reads.map((r) => r.foreignCores)).toFixed(1)} cores of other work)` : ''}`);
    return { messages: seeded.rows, conversations: C, biggest: counts[0]!, seedMs: seeded.ms, dbBytes, reads };
  } finally {
    await stopAll([...gens, target]);
  }
}

function safeSize(f: string): number {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
}
