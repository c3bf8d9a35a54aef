/**
 * Scenario 2 — group fan-out. One conversation with 100 and with 500 members, all online,
 * and 500 members with 10 % online. The sender is one of the members.
 *  - time to last member: messages sent one at a time (every 100 ms), time from send until
 *    the last online member has it;
 *  - throughput: the sender keeps 32 sends in flight for the scenario's share of time;
 *    deliveries/s from the first send to the last delivery, server CPU per delivery.
 * Every member checks it gets each seq once, in order.
 */
import { CpuMeter, type Proc } from '../lib/proc.ts';
import { generatorBound, lat, settle, startGens, startTarget, stopAll, type Ctx, type Lat } from '../lib/ctx.ts';
import { cpuPerMsg, type CpuPerMsg, type Target, type TargetKind } from '../lib/target.ts';
import { cpuNote } from './chat.ts';
import { sleep, split, waitFor } from '../lib/util.ts';

export interface FanoutVariant {
  label: string;
  members: number;
  online: number;
  timeToLast: Lat;
  messages: number;
  deliveries: number;
  expected: number;
  deliveriesPerSec: number;
  messagesPerSec: number;
  cpuUsPerDelivery: number;
  serverCpu: number;
  /** CPU-µs per delivery per node, PostgreSQL's and Redis's. */
  cpu: CpuPerMsg;
  /** The online members' connections on each node. */
  perNode: number[];
  genCpu: number[];
  foreignCores: number;
  generatorBound: boolean;
  missing: number;
  gaps: number;
  duplicates: number;
}

export async function fanoutScenario(ctx: Ctx): Promise<Partial<Record<TargetKind, FanoutVariant[]>>> {
  const out: Partial<Record<TargetKind, FanoutVariant[]>> = {};
  for (const kind of ctx.o.kinds) out[kind] = await runOne(ctx, kind);
  return out;
}

async function runOne(ctx: Ctx, kind: TargetKind): Promise<FanoutVariant[]> {
  const sizes = ctx.o.groupSizes;
  const big = Math.max(...sizes);
  const variants = [
    ...sizes.map((n) => ({ label: `${n} members, all online`, members: n, online: n, team: `grp-${n}` })),
    { label: `${big} members, 10% online`, members: big, online: Math.max(2, Math.round(big / 10)), team: `grp-${big}-10pct` },
  ];
  const budget = (ctx.o.duration * 1000) / variants.length;
  ctx.progress.phase(`fanout ${kind}: setup`);
  let target: Target | undefined;
  let gens: Proc[] = [];
  try {
    target = await startTarget(ctx, kind, 'fanout');
    const online = Array.from({ length: big }, (_, i) => `g${i}`);
    const offline = Array.from({ length: big }, (_, i) => `o${i}`);
    const tokens = new Map([...(await target.users(online, 'staff')), ...(await target.users(offline, 'staff'))]);
    const g = await startGens(ctx, ctx.o.gens);
    gens = g.procs;
    const results: FanoutVariant[] = [];
    for (const [vi, v] of variants.entries()) {
      const pa = `v${vi}a`;
      const pb = `v${vi}b`;
      const members = [...online.slice(0, v.online), ...offline.slice(0, v.members - v.online)];
      const [conv] = await target.conversations([{ kind: 'team', team: v.team, participants: members }]);
      const t = target;
      // Round-robin over a cluster's nodes: most deliveries cross from the sender's node to another.
      const urls = online.slice(0, v.online).map((u, i) => ({ user: u, url: t.connectUrl(u, tokens.get(u)!, [conv!], false, i) }));
      const perNode = t.urls.map((_, n) => urls.filter((_, i) => i % t.urls.length === n).length);
      const shares = split(urls, gens.length);
      await Promise.all(gens.map((gen, i) => gen.call('fanout.connect', { members: shares[i], localAddress: g.addrs[i] })));
      const perMsg = v.online - 1;

      // Time to the last member, one message at a time.
      const singles = Math.max(5, Math.min(20, Math.round(budget / 1000 / 3 / 0.1)));
      await settle(ctx, `fanout ${kind} ${v.label}`);
      ctx.progress.phase(`fanout ${kind}: ${v.label}: time to last member`, singles * 100, singles * 0.1);
      const a = await gens[0]!.call('fanout.send', { conv, prefix: pa, count: singles, mode: 'paced', intervalMs: 100, window: 1, durationMs: 0 });
      const statusA = async () => Promise.all(gens.map((gen) => gen.call('fanout.status', { prefix: pa, detail: true })));
      await waitFor(async () => (await statusA()).reduce((s, x) => s + x.deliveries, 0) >= a.sent * perMsg, 10_000, 50);
      const sa = await statusA();
      if (a.errors.length) ctx.log(`  fanout ${kind}: send errors: ${a.errors.join('; ')}`);
      const lastAt = new Map<string, number>();
      for (const s of sa) for (const [cid, , last] of s.per as [string, number, number][]) lastAt.set(cid, Math.max(lastAt.get(cid) ?? 0, last));
      const ttl = (a.sendTimes as [string, number][]).filter(([cid]) => lastAt.has(cid)).map(([cid, at]) => lastAt.get(cid)! - at);

      // Throughput: 32 in flight for the rest of the budget.
      const ms = Math.max(1000, budget - singles * 100 - 1000);
      const maxMsgs = 4000;
      ctx.progress.phase(`fanout ${kind}: ${v.label}: throughput`, ms, ms / 1000);
      await target.profileStart();
      const sources = target.cpuSources();
      const meter = new CpuMeter([...sources, ...gens]).start();
      const b = await gens[0]!.call('fanout.send', { conv, prefix: pb, count: maxMsgs, mode: 'window', intervalMs: 0, window: 32, durationMs: ms }, ms + 60_000);
      const statusB = async (detail = false) => Promise.all(gens.map((gen) => gen.call('fanout.status', { prefix: pb, detail })));
      await waitFor(async () => (await statusB()).reduce((s, x) => s + x.deliveries, 0) >= b.sent * perMsg, 30_000, 50);
      const m = meter.stop();
      await target.profileStop(`${v.members}-${v.online}`);
      const sb = await statusB(true);
      const deliveries = sb.reduce((s, x) => s + x.deliveries, 0);
      let last = 0;
      for (const s of sb) for (const [, , at] of s.per as [string, number, number][]) last = Math.max(last, at);
      const first = Math.min(...(b.sendTimes as [string, number][]).map(([, at]) => at));
      const spanS = (last - first) / 1000;
      const genCpu = m.util.slice(sources.length);
      const cpu = cpuPerMsg(target.serverCpu(m.cpuMs), deliveries, m.wallMs);
      const r: FanoutVariant = {
        label: v.label, members: v.members, online: v.online,
        timeToLast: lat([]),
        messages: b.sent, deliveries, expected: b.sent * perMsg,
        deliveriesPerSec: deliveries / spanS, messagesPerSec: b.sent / spanS,
        cpuUsPerDelivery: cpu.total, serverCpu: cpu.nodeUtil.reduce((x, y) => x + y, 0), cpu, perNode,
        genCpu, foreignCores: m.foreignCores, generatorBound: generatorBound(ctx, genCpu, m.machineBusy, m.foreignCores),
        missing: Math.max(0, b.sent * perMsg - deliveries) + Math.max(0, a.sent * perMsg - sa.reduce((s, x) => s + x.deliveries, 0)),
        gaps: sb.reduce((s, x) => s + x.gaps, 0), duplicates: sb.reduce((s, x) => s + x.dups, 0),
      };
      const h = ttl.sort((x, y) => x - y);
      const q = (p: number) => h[Math.min(h.length - 1, Math.max(0, Math.ceil(p * h.length) - 1))] ?? NaN;
      r.timeToLast = { n: h.length, p50: q(0.5), p99: q(0.99), p999: q(0.999), max: h[h.length - 1] ?? NaN };
      results.push(r);
      ctx.log(`  fanout ${kind} ${v.label}: time to last member p50 ${r.timeToLast.p50.toFixed(1)} ms; ${Math.round(r.deliveriesPerSec)} deliveries/s, ${r.cpuUsPerDelivery.toFixed(2)} CPU-µs/delivery${cpuNote(cpu)}${r.generatorBound ? ' (generator-bound)' : ''}${r.foreignCores > 0.25 ? ` (disturbed: ${r.foreignCores.toFixed(1)} cores of other work)` : ''}${r.missing ? `, ${r.missing} MISSING` : ''}`);
      await Promise.all(gens.map((gen) => gen.call('fanout.close')));
      await sleep(300);
    }
    return results;
  } finally {
    await stopAll([...gens, target]);
  }
}
