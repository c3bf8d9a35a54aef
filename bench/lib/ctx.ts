/** What every scenario gets: the options, the progress bar, and helpers to start processes. */
import { fileURLToPath } from 'node:url';
import type { TransportName } from '../load/transport.ts';
import type { HistoryKind } from '../load/history.ts';
import { Histogram, type HistJSON } from './hist.ts';
import { Proc, waitQuiet } from './proc.ts';
import type { Progress } from './progress.ts';
import { Target, type Backend, type TargetKind, type TargetOptions } from './target.ts';

export interface BenchOptions {
  /** Load time of each scenario, per server, in seconds. */
  duration: number;
  pin: boolean;
  sync: 'NORMAL' | 'FULL';
  /** Where Careline's SQLite writes run (`storage.sqliteWriter`). */
  writer: 'worker' | 'inline';
  gens: number;
  profile: string | null;
  pairs: number;
  chatRates: number[] | null;
  groupSizes: number[];
  connections: number;
  stormClients: number;
  stormRate: number;
  historyMessages: number;
  historyConversations: number;
  /** History: the pages read (`--history-pages`), and the reads in flight of each phase (`--history-concurrency`). */
  historyPages: HistoryKind[];
  historyConcurrency: number[];
  kinds: TargetKind[];
  /** The baseline keeps the messages in SQLite before acking them (`--baseline-store`). */
  baselineStore?: boolean;
  /** Reconnect storm: the window over which clients reconnect, in ms. */
  stormSpreadMs: number;
  /** Seconds to wait for a quiet machine before each measured phase (0: do not wait). */
  quietWait: number;
  /** Broadcast: users of the tenant, of them connected, offline users who catch up afterwards, chatting pairs, their rate, broadcasts per series, their kind. */
  broadcastUsers: number;
  broadcastConnected: number;
  broadcastOffline: number;
  broadcastPairs: number;
  broadcastChatRate: number;
  broadcastCount: number;
  broadcastKind: string;
  /** Careline's backend in this pass of the scenarios (the orchestrator runs one pass per backend), and a cluster's node count. */
  backend: Backend;
  nodes: number;
  /** Transports scenario: the transports compared, its storm's clients, and idle MQTT connections (0: none). */
  transports: TransportName[];
  transportStormClients: number;
  mqttIdle: number;
}

export interface Ctx {
  o: BenchOptions;
  progress: Progress;
  log: (line: string) => void;
}

let addr = 0;
/** A fresh loopback source address for a generator: each has its own ephemeral port range. */
export function nextLocalAddress(): string {
  const k = addr++;
  return `127.0.${1 + Math.floor(k / 250)}.${2 + (k % 250)}`;
}

const genFile = fileURLToPath(new URL('../load/main.ts', import.meta.url));

/** Starts `n` load generator processes (pinned to CPU 1 with --pin). */
export async function startGens(ctx: Ctx, n: number, o: { fdLimit?: number; name?: string } = {}): Promise<{ procs: Proc[]; addrs: string[] }> {
  const procs = Array.from({ length: n }, (_, i) => new Proc(genFile, {
    name: `${o.name ?? 'gen'}${i}`, cpus: ctx.o.pin ? '1' : undefined, fdLimit: o.fdLimit, execArgv: ['--max-old-space-size=4096'],
  }));
  try {
    await Promise.all(procs.map((p) => p.ready));
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    throw err;
  }
  return { procs, addrs: procs.map(() => nextLocalAddress()) };
}

export async function stopAll(procs: (Proc | Target | undefined)[]): Promise<void> {
  await Promise.all(procs.map((p) => p?.stop()));
}

/** Starts the server under test (pinned to CPU 0 with --pin). */
export function startTarget(ctx: Ctx, kind: TargetKind, scenario: string, extra: Partial<TargetOptions> = {}): Promise<Target> {
  return Target.start({
    kind, name: `${scenario}-${kind}${kind === 'careline' && ctx.o.backend !== 'sqlite' ? `-${ctx.o.backend}` : ''}`, sync: ctx.o.sync, writer: ctx.o.writer, cpus: ctx.o.pin ? '0' : undefined,
    profileDir: kind === 'careline' && ctx.o.profile ? ctx.o.profile : undefined, backend: ctx.o.backend, nodes: ctx.o.nodes,
    ...(kind === 'baseline' && ctx.o.baselineStore ? { store: true } : {}), ...extra,
  });
}

export interface Lat {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function lat(hs: (HistJSON | Histogram)[]): Lat {
  const h = new Histogram();
  for (const x of hs) h.merge(x);
  const s = h.summary();
  return { n: s.n, p50: s.p50, p99: s.p99, p999: s.p999, max: s.max };
}

/** A generator counts as the bottleneck when it used more than this share of one core. */
export const GEN_BOUND = 0.9;

/**
 * Whether the load generators were the limit: one of them used (nearly) a whole core, or,
 * pinned together on one core, they used it all between them, or the machine was saturated.
 */
export function generatorBound(ctx: Ctx, genUtil: number[], machineBusy: number, foreignCores = 0): boolean {
  const sum = genUtil.reduce((a, b) => a + b, 0);
  return Math.max(0, ...genUtil) > GEN_BOUND || (ctx.o.pin && sum > GEN_BOUND) || (machineBusy > 0.9 && foreignCores < 0.25);
}

/**
 * Before a measured phase: waits (up to --quiet-wait seconds) for the machine to be quiet,
 * since it is shared; says so when it was not.
 */
export async function settle(ctx: Ctx, what: string): Promise<void> {
  if (ctx.o.quietWait <= 0) return;
  const busy = await waitQuiet(ctx.o.quietWait * 1000);
  if (busy >= 0.25) ctx.log(`  note: machine still ${Math.round(busy * 100)}% busy with other work before ${what}`);
}
