/**
 * Scenario 1 — 1:1 chat throughput and latency. N patient/doctor pairs, each in its own
 * p2p conversation, both sides online and sending. First a closed-loop step (every
 * connection keeps a few sends in flight) measures the maximum; then open-loop steps at
 * 25/50/75/100 % of it (or --chat-rates). Latency: from each send's scheduled time to its
 * ack (committed) and to its delivery on the peer's device. At the end every message is
 * checked: acked once, delivered once, seqs 1, 2, 3… with no gap on both devices — after the
 * reordering a client does (load/chat.ts): on several nodes a seq can come ahead of an earlier
 * one committed on another node; it is held until the gap closes or is filled by a `sync`.
 */
import { CpuMeter } from '../lib/proc.ts';
import { generatorBound, lat, settle, startGens, startTarget, stopAll, type Ctx, type Lat } from '../lib/ctx.ts';
import { commitDelta, cpuPerMsg, type Backend, type CpuPerMsg, type Target, type TargetKind } from '../lib/target.ts';
import { split, wallMs, sleep } from '../lib/util.ts';
import type { Proc } from '../lib/proc.ts';
import type { TransportName } from '../load/transport.ts';

export interface ChatStep {
  label: string;
  mode: 'closed' | 'open';
  offered: number;
  sent: number;
  acked: number;
  delivered: number;
  /** Delivered messages per second of the sending phase. */
  rate: number;
  ack: Lat;
  delivery: Lat;
  sendLagP99: number;
  /** The generators' event-loop delay while sending (ms; the worst generator's p99 and max): a frame waiting there counts in the latencies. */
  genLoop: { p99: number; max: number };
  /** Scheduled send → the server's created_at stamp; created_at → ack received (ms, p50/p99). */
  toServer: Lat;
  fromServer: Lat;
  /** Careline's CPU in cores (summed over the nodes of a cluster), and its µs per delivered message. */
  serverCpu: number;
  cpuUsPerMsg: number;
  /** The same per node, and PostgreSQL's and Redis's, when they run. */
  cpu: CpuPerMsg;
  genCpu: number[];
  machineBusy: number;
  /** CPU (cores) used by other people's processes during the step: > 0.25 means the figures were disturbed. */
  foreignCores: number;
  generatorBound: boolean;
  /** Careline: group commits in the step, messages per commit, share of the step's wall time spent inside commits. */
  commit: ReturnType<typeof commitDelta> | null;
  /** The server's RSS (bytes; the first node of a cluster), read every second of the step: first, peak, last, and each reading. */
  rss: { first: number; peak: number; last: number; samples: number[] };
}

export interface ChatRun {
  backend: Backend;
  /** How the clients reached the server (WebSocket unless the transports scenario said otherwise). */
  transport: TransportName;
  nodes: number;
  pairs: number;
  connections: number;
  steps: ChatStep[];
  max: number;
  maxSustained: { rate: number; p99: number; step: string } | null;
  check: Record<string, unknown> & { ok: boolean };
  /** Where the server's resident memory was at the end of the ladder (one Careline node; see bench/server.ts `memDetail`). */
  memory?: Record<string, unknown> | null;
}

export async function chatScenario(ctx: Ctx): Promise<Partial<Record<TargetKind, ChatRun>>> {
  const out: Partial<Record<TargetKind, ChatRun>> = {};
  for (const kind of ctx.o.kinds) out[kind] = await chatRun(ctx, kind);
  return out;
}

/** A step of the open-loop ladder: its label and offered rate, from the closed-loop maximum. */
export type Ladder = (max: number) => { label: string; rate: number }[];

export interface ChatRunOptions {
  /** The clients' transport (default WebSocket); Careline runs its MQTT listener for `mqtt`. */
  transport?: TransportName;
  /** The open-loop steps (default: --chat-rates, else 25/50/75/100 % of the maximum). */
  ladder?: Ladder;
  steps?: number;
}

export async function chatRun(ctx: Ctx, kind: TargetKind, opt: ChatRunOptions = {}): Promise<ChatRun> {
  const transport = opt.transport ?? 'ws';
  const D = ctx.o.duration * 1000;
  const ladder = opt.steps ?? (ctx.o.chatRates ? ctx.o.chatRates.length : 4);
  const calMs = Math.round(D * 0.2);
  const stepMs = Math.round((D - calMs) / ladder);
  const N = ctx.o.pairs;
  const name = `chat ${kind}${transport === 'ws' ? '' : ` over ${transport}`}`;
  ctx.progress.phase(`${name}: setup ${N} pairs`);
  let target: Target | undefined;
  let gens: Proc[] = [];
  try {
    target = await startTarget(ctx, kind, transport === 'ws' ? 'chat' : `chat-${transport}`, transport === 'mqtt' ? { mqtt: true } : {});
    const patients = Array.from({ length: N }, (_, i) => `p${i}`);
    const doctors = Array.from({ length: N }, (_, i) => `d${i}`);
    const tokens = new Map([...(await target.users(patients, 'patient')), ...(await target.users(doctors, 'doctor'))]);
    const convs = await target.conversations(patients.map((p, i) => ({ kind: 'p2p' as const, participants: [p, doctors[i]!] })));
    const t = target;
    const pairs = patients.map((p, i) => {
      const d = doctors[i]!;
      const conv = convs[i]!;
      return { conv, a: { user: p, url: t.connectUrl(p, tokens.get(p)!, [conv], false, undefined, transport) }, b: { user: d, url: t.connectUrl(d, tokens.get(d)!, [conv], false, undefined, transport) } };
    });
    const g = await startGens(ctx, ctx.o.gens);
    gens = g.procs;
    const shares = split(pairs, gens.length);
    await Promise.all(gens.map((gen, i) => gen.call('chat.connect', { pairs: shares[i], localAddress: g.addrs[i] })));

    const steps: ChatStep[] = [];
    const runStep = async (label: string, mode: 'open' | 'closed', rate: number, ms: number): Promise<ChatStep> => {
      await settle(ctx, `${name} ${label}`);
      ctx.progress.phase(`${name}: ${label}`, ms, ms / 1000);
      const c0 = await target!.commits();
      const sources = target!.cpuSources();
      const meter = new CpuMeter([...sources, ...gens]).start();
      const rssSamples = [target!.proc.rssBytes()];
      const rssTimer = setInterval(() => rssSamples.push(target!.proc.rssBytes()), 1000);
      const startAt = wallMs() + 100;
      const rs = await Promise.all(gens.map((gen) => gen.call('chat.step', {
        // (Long-polling and MQTT queue more in their clients under overload, and a cluster's acks
        // wait for row locks across nodes at its maximum: a longer wait for the last acks.)
        step: steps.length, mode, rate: rate / gens.length, window: 4, durationMs: ms, drainMs: transport === 'ws' && ctx.o.backend !== 'cluster' ? 5000 : 15_000, startAt,
      }, ms + 60_000)));
      const m = meter.stop();
      clearInterval(rssTimer);
      rssSamples.push(target!.proc.rssBytes());
      const commit = kind === 'careline' ? commitDelta(c0, await target!.commits(), m.wallMs) : null;
      const sent = rs.reduce((a, r) => a + r.sent, 0);
      const acked = rs.reduce((a, r) => a + r.acked, 0);
      const delivered = rs.reduce((a, r) => a + r.delivered, 0);
      const sendMs = Math.max(...rs.map((r) => r.sendMs));
      const genCpu = m.util.slice(sources.length);
      const cpu = cpuPerMsg(target!.serverCpu(m.cpuMs), delivered, m.wallMs);
      const s: ChatStep = {
        label, mode, offered: rate, sent, acked, delivered,
        rate: delivered / (sendMs / 1000),
        ack: lat(rs.map((r) => r.ack)), delivery: lat(rs.map((r) => r.del)),
        sendLagP99: lat(rs.map((r) => r.lag)).p99,
        genLoop: { p99: Math.max(...rs.map((r) => r.loop.p99)), max: Math.max(...rs.map((r) => r.loop.max)) },
        toServer: lat(rs.map((r) => r.toServer)), fromServer: lat(rs.map((r) => r.fromServer)),
        serverCpu: cpu.nodeUtil.reduce((a, b) => a + b, 0), cpuUsPerMsg: cpu.total, cpu,
        genCpu, machineBusy: m.machineBusy, foreignCores: m.foreignCores, generatorBound: generatorBound(ctx, genCpu, m.machineBusy, m.foreignCores), commit,
        rss: { first: rssSamples[0]!, peak: Math.max(...rssSamples), last: rssSamples.at(-1)!, samples: rssSamples },
      };
      steps.push(s);
      ctx.log(`  ${name} ${label}: ${Math.round(s.rate)} msg/s delivered, ack p99 ${s.ack.p99.toFixed(1)} ms, delivery p99 ${s.delivery.p99.toFixed(1)} ms, server CPU ${(s.serverCpu * 100).toFixed(0)}%${cpuNote(cpu)}${commit ? `, ${commit.meanBatch.toFixed(1)} msg/commit, ${(commit.commitShare * 100).toFixed(0)}% of the time in commits` : ''} (p99 send→server ${s.toServer.p99.toFixed(0)} ms, server→ack ${s.fromServer.p99.toFixed(0)} ms; generators' event-loop delay p99 ${s.genLoop.p99.toFixed(0)} ms, max ${s.genLoop.max.toFixed(0)} ms), RSS ${mib(s.rss.first)} → ${mib(s.rss.last)} MiB (peak ${mib(s.rss.peak)})${s.generatorBound ? ' (generator-bound)' : ''}${s.foreignCores > 0.25 ? ` (disturbed: ${s.foreignCores.toFixed(1)} cores used by other processes)` : ''}`);
      await sleep(300);
      return s;
    };

    await target.profileStart();
    const cal = await runStep('max (closed loop)', 'closed', 0, calMs);
    const max = cal.rate;
    const plan = opt.ladder ? opt.ladder(max)
      : ctx.o.chatRates ? ctx.o.chatRates.map((r) => ({ label: `${r}/s`, rate: r }))
      : [0.25, 0.5, 0.75, 1].map((f) => {
        const r = Math.max(10, Math.round(max * f));
        return { label: `${f * 100}% = ${r}/s`, rate: r };
      });
    for (const { label, rate } of plan) await runStep(label, 'open', rate, stepMs);
    await target.profileStop();
    const memory = await target.memDetail();
    if (memory) ctx.log(`  ${name} memory after the ladder (MiB): ${JSON.stringify(memory)}`);
    const checks = await Promise.all(gens.map((gen) => gen.call('chat.verify')));
    const sum = (k: string) => checks.reduce((a, c) => a + (c[k] as number), 0);
    const check = {
      sent: sum('sent'), unacked: sum('unacked'), undelivered: sum('undelivered'), duplicateAcks: sum('dupAck'), duplicateDeliveries: sum('dupDel'),
      gaps: sum('gaps'), reordered: sum('reordered'), seqMismatch: sum('seqMismatch'), headMismatch: sum('headMismatch'), errors: sum('errors'),
      closes: sum('closes'),
      // Not faults: seqs that came ahead of an earlier one (cross-node) and were put in order,
      // the fill syncs sent, messages that came while one ran, and what they sent again.
      held: sum('held'), fills: sum('fills'), filled: sum('filled'), fillResent: sum('fillResent'), echoes: sum('echoes'), redelivered: sum('redelivered'),
      errorSamples: checks.flatMap((c) => c.errorSamples as string[]).slice(0, 5),
      ok: false,
    };
    ctx.log(`  ${name} check: ${check.unacked} unacked, ${check.undelivered} undelivered, ${check.duplicateAcks + check.duplicateDeliveries} doubled, ${check.gaps} missing, ${check.reordered} out of order after reordering (${check.held} held for order, ${check.fills} fill syncs, ${check.filled} filled)`);
    check.ok = check.unacked === 0 && check.undelivered === 0 && check.duplicateAcks === 0 && check.duplicateDeliveries === 0 && check.gaps === 0 && check.reordered === 0 && check.seqMismatch === 0 && check.headMismatch === 0;
    const good = steps.filter((s) => s.mode === 'open' && s.delivered === s.sent && s.sent > 0 && s.delivery.p99 < 100);
    const best = good.sort((a, b) => b.rate - a.rate)[0];
    await Promise.all(gens.map((gen) => gen.call('chat.close')));
    return {
      backend: target.backend, nodes: target.procs.length, transport,
      pairs: N, connections: 2 * N, steps, max,
      maxSustained: best ? { rate: best.rate, p99: best.delivery.p99, step: best.label } : null,
      check, memory,
    };
  } finally {
    await stopAll([...gens, target]);
  }
}

/** ", nodes 40% 38% 41%, PostgreSQL 30%, Redis 5%" for a networked backend; "" for one SQLite node. */
const mib = (b: number) => (b / 1048576).toFixed(0);

export function cpuNote(c: CpuPerMsg): string {
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const parts: string[] = [];
  if (c.nodeUtil.length > 1) parts.push(`nodes ${c.nodeUtil.map(pct).join(' ')}`);
  if (c.postgresUtil !== null) parts.push(`PostgreSQL ${pct(c.postgresUtil)}`);
  if (c.redisUtil !== null) parts.push(`Redis ${pct(c.redisUtil)}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
