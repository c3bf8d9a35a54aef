/**
 * Scenario 4 — reconnect storm. Thousands of patients, each in a conversation with one of
 * the doctors; the doctors send at a fixed rate the whole time. All patients drop at once,
 * traffic goes on, then each reconnects at a random moment within a few seconds with
 * `?sync=1` and its cursor. Measured: time from the start of the reconnect window until
 * 99 % and 100 % have caught up (sync_done received and every message up to the head it
 * announced in hand), and each patient's record checked against the doctors' acks: no seq
 * missed, none received twice.
 */
import { CpuMeter, listenDrops, timeWaitSockets, waitTimeWait, type Proc } from '../lib/proc.ts';
import { settle, startGens, startTarget, stopAll, type Ctx, type Lat } from '../lib/ctx.ts';
import { commitDelta, cpuPerMsg, type CpuPerMsg, type Target, type TargetKind } from '../lib/target.ts';
import { cpuNote } from './chat.ts';
import { sleep, split, waitFor, wallMs } from '../lib/util.ts';
import type { TransportName } from '../load/transport.ts';

export interface StormRun {
  /** How the patients reconnected (the doctors' traffic is always WebSocket). */
  transport: TransportName;
  clients: number;
  doctors: number;
  rate: number;
  downMs: number;
  spreadMs: number;
  caughtUp: number;
  t99: number;
  t100: number;
  perClient: Lat;
  /** Per client: reconnect attempt → hello (upgrade + auth), and hello → sync_done (catch-up). */
  toHello: Lat;
  helloToSyncDone: Lat;
  attempts: number;
  catchUpFrames: number;
  trafficSent: number;
  trafficAcked: number;
  /** Patients checked (those that caught up) and those that never got back within the time limit. */
  checked: number;
  notBack: number;
  expected: number;
  missed: number;
  duplicated: number;
  unknown: number;
  serverCpu: number;
  /** Per node, PostgreSQL and Redis: CPU share over the storm, and µs per message caught up or delivered. */
  cpu: CpuPerMsg;
  genCpu: number[];
  foreignCores: number;
  /** Connections the kernel dropped because the server's listen queue was full (machine-wide counter). */
  listenDrops: number;
  commit: ReturnType<typeof commitDelta> | null;
  errors: number;
  errorSamples: string[];
  /** Patients whose connection closed after they had caught up (they miss what follows: the storm does not bring them back). */
  closedAfterCatchUp: number;
}

export async function stormScenario(ctx: Ctx): Promise<Partial<Record<TargetKind, StormRun>>> {
  const out: Partial<Record<TargetKind, StormRun>> = {};
  for (const kind of ctx.o.kinds) out[kind] = await stormRun(ctx, kind);
  return out;
}

const PER_GEN = 2500;

/** One storm: `clients` patients (default --storm-clients) reconnecting over `transport` (default WebSocket). */
export async function stormRun(ctx: Ctx, kind: TargetKind, opt: { transport?: TransportName; clients?: number } = {}): Promise<StormRun> {
  const transport = opt.transport ?? 'ws';
  const P = opt.clients ?? ctx.o.stormClients;
  const Dn = Math.max(1, Math.min(100, Math.round(P / 100)));
  const downMs = 3000;
  const spreadMs = ctx.o.stormSpreadMs;
  const waited = await waitTimeWait(90_000);
  if (waited > 2000) ctx.log(`  storm ${kind}: waited ${Math.round(waited / 1000)} s for the last run's TIME_WAIT sockets to clear (now ${timeWaitSockets()})`);
  ctx.progress.phase(`storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}: setup ${P} patients`);
  let target: Target | undefined;
  let gens: Proc[] = [];
  let traffic: Proc | undefined;
  try {
    target = await startTarget(ctx, kind, transport === 'ws' ? 'storm' : `storm-${transport}`, { log: true, ...(transport === 'mqtt' ? { mqtt: true } : {}) });
    const patients = Array.from({ length: P }, (_, i) => `s${i}`);
    const doctors = Array.from({ length: Dn }, (_, i) => `dr${i}`);
    const tokens = new Map([
      ...(await target.users(doctors, 'doctor')),
      ...(await target.users(patients, 'patient', (done) => ctx.progress.phase(`storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}: setup ${done}/${P} patients`))),
    ]);
    ctx.progress.phase(`storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}: setup ${P} conversations`);
    const convs = await target.conversations(patients.map((p, i) => ({ kind: 'p2p' as const, participants: [p, doctors[i % Dn]!] })));
    const t = target;
    const pList = patients.map((p, i) => ({ user: p, conv: convs[i]!, peer: doctors[i % Dn]!, url: t.connectUrl(p, tokens.get(p)!, [convs[i]!], true, undefined, transport) }));
    const dList = doctors.map((d, j) => {
      const mine = convs.filter((_, i) => i % Dn === j);
      return { user: d, convs: mine, url: t.connectUrl(d, tokens.get(d)!, mine) };
    });
    const g = await startGens(ctx, Math.ceil(P / PER_GEN), { name: 'storm' });
    gens = g.procs;
    const tg = await startGens(ctx, 1, { name: 'traffic' });
    traffic = tg.procs[0]!;
    ctx.progress.phase(`storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}: connecting ${P} patients`);
    const shares = split(pList, gens.length);
    await Promise.all(gens.map((gen, i) => gen.call('storm.connect', { patients: shares[i], localAddress: g.addrs[i] }, 300_000)));
    await traffic.call('traffic.connect', { doctors: dList, localAddress: tg.addrs[0] });

    await settle(ctx, `storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}`);
    ctx.progress.phase(`storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}: traffic ${ctx.o.stormRate}/s`, 2000, 2);
    await traffic.call('traffic.start', { rate: ctx.o.stormRate });
    await sleep(2000);
    ctx.progress.phase(`storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}: ${P} patients dropped`, downMs, downMs / 1000);
    await target.profileStart();
    const c0 = await target.commits();
    const sources = target.cpuSources();
    const meter = new CpuMeter([...sources, ...gens, traffic]).start();
    const drops0 = listenDrops();
    await Promise.all(gens.map((gen) => gen.call('storm.drop')));
    await sleep(downMs);
    const startAt = wallMs() + 50;
    ctx.progress.phase(`storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}: reconnecting within ${spreadMs / 1000}s`, spreadMs + 2000, 5);
    await Promise.all(gens.map((gen) => gen.call('storm.reconnect', { startAt, spreadMs })));
    const status = async (times = false) => Promise.all(gens.map((gen) => gen.call('storm.status', { times })));
    await waitFor(async () => (await status()).reduce((a, s) => a + s.caughtUp, 0) >= P, 60_000, 100);
    const m = meter.stop();
    const commit = kind === 'careline' ? commitDelta(c0, await target.commits(), m.wallMs) : null;
    await target.profileStop();
    const drops = listenDrops() - drops0;
    const st = await status(true);
    await sleep(1000);
    const tr = await traffic.call('traffic.stop', { drainMs: 10_000 });
    await sleep(1500);
    const ver = await Promise.all(gens.map((gen) => gen.call('storm.verify', { last: tr.last })));

    const times = st.flatMap((s) => s.times as [number, number, number, number][]);
    const done = times.map(([, , , c]) => c - startAt).sort((a, b) => a - b);
    const per = times.map(([s, , , c]) => c - s).sort((a, b) => a - b);
    const toHello = times.map(([s, h]) => h - s).sort((a, b) => a - b);
    const helloToSync = times.map(([, h, d]) => d - h).sort((a, b) => a - b);
    const at = (arr: number[], q: number) => arr[Math.min(arr.length - 1, Math.ceil(q * arr.length) - 1)] ?? NaN;
    const caughtUp = done.length;
    const sum = (k: string) => ver.reduce((a, v) => a + (v[k] as number), 0);
    const cpu = cpuPerMsg(target.serverCpu(m.cpuMs), sum('expected'), m.wallMs);
    const r: StormRun = {
      transport, clients: P, doctors: Dn, rate: ctx.o.stormRate, downMs, spreadMs, caughtUp,
      t99: caughtUp >= Math.ceil(P * 0.99) ? at(done, Math.ceil(P * 0.99) / caughtUp) : NaN,
      t100: caughtUp === P ? done[done.length - 1]! : NaN,
      perClient: { n: per.length, p50: at(per, 0.5), p99: at(per, 0.99), p999: at(per, 0.999), max: per[per.length - 1] ?? NaN },
      toHello: { n: toHello.length, p50: at(toHello, 0.5), p99: at(toHello, 0.99), p999: at(toHello, 0.999), max: toHello[toHello.length - 1] ?? NaN },
      helloToSyncDone: { n: helloToSync.length, p50: at(helloToSync, 0.5), p99: at(helloToSync, 0.99), p999: at(helloToSync, 0.999), max: helloToSync[helloToSync.length - 1] ?? NaN },
      attempts: st.reduce((a, s) => a + s.attempts, 0), catchUpFrames: st.reduce((a, s) => a + s.catchUpFrames, 0),
      trafficSent: tr.sent, trafficAcked: tr.acked,
      checked: sum('checked'), notBack: sum('notBack'),
      expected: sum('expected'), missed: sum('missed'), duplicated: sum('duplicated'), unknown: sum('unknown'),
      serverCpu: cpu.nodeUtil.reduce((a, b) => a + b, 0), cpu, genCpu: m.util.slice(sources.length), foreignCores: m.foreignCores, listenDrops: drops, commit,
      errors: st.reduce((a, s) => a + s.errors, 0) + tr.errors, errorSamples: st.flatMap((s) => s.errorSamples).slice(0, 5),
      closedAfterCatchUp: st.reduce((a, s) => a + (s.closedAfterCatchUp ?? 0), 0),
    };
    ctx.log(`  storm ${kind}${transport === 'ws' ? '' : ` over ${transport}`}: ${caughtUp}/${P} caught up; 99% at ${(r.t99 / 1000).toFixed(2)} s, 100% at ${(r.t100 / 1000).toFixed(2)} s; missed ${r.missed}, duplicated ${r.duplicated} of ${r.expected}${r.notBack ? `; ${r.notBack} never got back` : ''}; ${r.listenDrops} listen-queue drops; server CPU ${(r.serverCpu * 100).toFixed(0)}%${cpuNote(cpu)}${commit ? `; ${commit.commits} commits of ${commit.meanBatch.toFixed(1)} msg, ${(commit.commitShare * 100).toFixed(0)}% of the time in commits` : ''}`);
    await Promise.all([...gens.map((gen) => gen.call('storm.close')), traffic.call('traffic.close')]);
    return r;
  } finally {
    await stopAll([...gens, traffic, target]);
  }
}
