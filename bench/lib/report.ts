/**
 * The summary table (terminal and Markdown) and the targets, from a run's results; with
 * several backends, a second table side by side per backend and the targets that compare them.
 */
import type { BroadcastRun, BroadcastSeries } from '../scenarios/broadcast.ts';
import type { ChatRun, ChatStep } from '../scenarios/chat.ts';
import type { ConnRun } from '../scenarios/connections.ts';
import type { FanoutVariant } from '../scenarios/fanout.ts';
import type { HistoryRun } from '../scenarios/history.ts';
import type { StormRun } from '../scenarios/storm.ts';
import type { TransportsRun } from '../scenarios/transports.ts';
import { transportTargets } from './report-transports.ts';
import type { Backend, CpuPerMsg, TargetKind } from './target.ts';
import { fmt } from './util.ts';

type ByKind<T> = Partial<Record<TargetKind, T>>;

export interface Results {
  chat?: ByKind<ChatRun>;
  fanout?: ByKind<FanoutVariant[]>;
  connections?: ByKind<ConnRun>;
  storm?: ByKind<StormRun>;
  history?: ByKind<HistoryRun>;
  broadcast?: ByKind<BroadcastRun>;
  /** Careline only: WebSocket, long-poll and MQTT side by side, and Mosquitto. */
  transports?: TransportsRun;
}

export interface Row {
  scenario: string;
  metric: string;
  careline: string;
  baseline: string;
  ratio: string;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

const ratio = (c: number | undefined, b: number | undefined) => (c !== undefined && b !== undefined && b !== 0 ? fmt.ratio(c / b) : '–');

export function rows(r: Results): Row[] {
  const out: Row[] = [];
  const add = (scenario: string, metric: string, c: number | undefined, b: number | undefined, f: (n: number) => string, withRatio = true) =>
    out.push({ scenario, metric, careline: c === undefined ? '–' : f(c), baseline: b === undefined ? '–' : f(b), ratio: withRatio ? ratio(c, b) : '' });
  const text = (scenario: string, metric: string, c: string, b: string) => out.push({ scenario, metric, careline: c, baseline: b, ratio: '' });

  if (r.chat) {
    const c = r.chat.careline;
    const b = r.chat.baseline;
    const s = 'chat 1:1';
    add(s, 'max throughput, closed loop (msg/s delivered)', c?.max, b?.max, fmt.int);
    add(s, 'max sustained rate with delivery p99 < 100 ms (msg/s)', c?.maxSustained?.rate, b?.maxSustained?.rate, fmt.int);
    const steps = (x: ChatRun | undefined) => x?.steps.filter((st) => st.mode === 'open') ?? [];
    const cs = steps(c);
    const bs = steps(b);
    for (let i = 0; i < Math.max(cs.length, bs.length); i++) {
      const ci = cs[i];
      const bi = bs[i];
      const label = (ci ?? bi)!.label.replace(/ = .*/, '');
      text(s, `step ${label}: offered rate (msg/s)`, ci ? fmt.int(ci.offered) : '–', bi ? fmt.int(bi.offered) : '–');
      add(s, `step ${label}: ack p50 / p99 (ms)`, ci?.ack.p99, bi?.ack.p99, (n) => n.toFixed(1), true);
      out[out.length - 1]!.careline = ci ? `${ci.ack.p50.toFixed(1)} / ${ci.ack.p99.toFixed(1)}` : '–';
      out[out.length - 1]!.baseline = bi ? `${bi.ack.p50.toFixed(1)} / ${bi.ack.p99.toFixed(1)}` : '–';
      add(s, `step ${label}: delivery p50 / p99 / p99.9 (ms)`, ci?.delivery.p99, bi?.delivery.p99, (n) => n.toFixed(1));
      out[out.length - 1]!.careline = ci ? `${ci.delivery.p50.toFixed(1)} / ${ci.delivery.p99.toFixed(1)} / ${ci.delivery.p999.toFixed(1)}` : '–';
      out[out.length - 1]!.baseline = bi ? `${bi.delivery.p50.toFixed(1)} / ${bi.delivery.p99.toFixed(1)} / ${bi.delivery.p999.toFixed(1)}` : '–';
      add(s, `step ${label}: server CPU-µs per delivered message`, ci?.cpuUsPerMsg, bi?.cpuUsPerMsg, (n) => n.toFixed(1));
      if (ci?.commit) text(s, `step ${label}: messages per group commit; time inside commits`, `${ci.commit.meanBatch.toFixed(1)}; ${(ci.commit.commitShare * 100).toFixed(0)}%`, '');
      // (Runs written before the RSS readings have none.)
      if (ci?.rss || bi?.rss) {
        add(s, `step ${label}: server RSS first → last (peak), MiB`, ci?.rss?.peak, bi?.rss?.peak, (n) => n.toFixed(0));
        const r = (x: ChatStep | undefined) => (x?.rss ? `${(x.rss.first / 1048576).toFixed(0)} → ${(x.rss.last / 1048576).toFixed(0)} (${(x.rss.peak / 1048576).toFixed(0)})` : '–');
        out[out.length - 1]!.careline = r(ci);
        out[out.length - 1]!.baseline = r(bi);
      }
    }
    text(s, 'check: unacked / undelivered / duplicated / gaps', c ? chatCheck(c) : '–', b ? chatCheck(b) : '–');
    text(s, 'load generator was the bottleneck (steps)', c ? genBoundSteps(c) : '–', b ? genBoundSteps(b) : '–');
    text(s, 'disturbed by other work on the machine (steps)', c ? disturbed(c) : '–', b ? disturbed(b) : '–');
  }
  if (r.fanout) {
    const cv = r.fanout.careline ?? [];
    const bv = r.fanout.baseline ?? [];
    for (let i = 0; i < Math.max(cv.length, bv.length); i++) {
      const c = cv[i];
      const b = bv[i];
      const s = `group: ${(c ?? b)!.label}`;
      add(s, 'deliveries/s', c?.deliveriesPerSec, b?.deliveriesPerSec, fmt.int);
      add(s, 'time to last member p50 / p99 (ms)', c?.timeToLast.p50, b?.timeToLast.p50, (n) => n.toFixed(1));
      out[out.length - 1]!.careline = c ? `${c.timeToLast.p50.toFixed(1)} / ${c.timeToLast.p99.toFixed(1)}` : '–';
      out[out.length - 1]!.baseline = b ? `${b.timeToLast.p50.toFixed(1)} / ${b.timeToLast.p99.toFixed(1)}` : '–';
      add(s, 'server CPU-µs per delivery', c?.cpuUsPerDelivery, b?.cpuUsPerDelivery, (n) => n.toFixed(2));
      const flags = (x: FanoutVariant) => `${x.missing} / ${x.duplicates} / ${x.gaps}; ${x.generatorBound ? 'yes' : 'no'}${x.foreignCores > 0.25 ? `; disturbed (${x.foreignCores.toFixed(1)})` : ''}`;
      text(s, 'missing / duplicated / gaps; generator-bound', c ? flags(c) : '–', b ? flags(b) : '–');
    }
  }
  if (r.connections) {
    const c = r.connections.careline;
    const b = r.connections.baseline;
    const s = 'connections';
    text(s, 'opened / still open after the idle hold', c ? `${fmt.int(c.opened)} / ${fmt.int(c.stillOpen)}` : '–', b ? `${fmt.int(b.opened)} / ${fmt.int(b.stillOpen)}` : '–');
    add(s, 'process RSS per connection', c?.rssPerConn, b?.rssPerConn, fmt.bytes);
    add(s, 'V8 heap per connection', c?.heapPerConn, b?.heapPerConn, fmt.bytes);
    add(s, 'connect rate (conn/s)', c?.connectRate, b?.connectRate, fmt.int);
    add(s, 'server CPU per connection opened (ms)', c?.serverCpuPerConnMs, b?.serverCpuPerConnMs, (n) => n.toFixed(2));
    add(s, 'connect latency p50 / p99 (ms)', c?.connect.p99, b?.connect.p99, (n) => n.toFixed(1));
    out[out.length - 1]!.careline = c ? `${c.connect.p50.toFixed(1)} / ${c.connect.p99.toFixed(1)}` : '–';
    out[out.length - 1]!.baseline = b ? `${b.connect.p50.toFixed(1)} / ${b.connect.p99.toFixed(1)}` : '–';
  }
  if (r.storm) {
    const c = r.storm.careline;
    const b = r.storm.baseline;
    const s = `reconnect storm (${fmt.int((c ?? b)?.clients ?? 0)} clients)`;
    add(s, '99% caught up (s from the start of the reconnect window)', c ? c.t99 / 1000 : undefined, b ? b.t99 / 1000 : undefined, (n) => n.toFixed(2));
    add(s, '100% caught up (s)', c ? c.t100 / 1000 : undefined, b ? b.t100 / 1000 : undefined, (n) => n.toFixed(2));
    add(s, 'per client, reconnect → caught up p50 / p99 (ms)', c?.perClient.p99, b?.perClient.p99, (n) => n.toFixed(0));
    out[out.length - 1]!.careline = c ? `${c.perClient.p50.toFixed(0)} / ${c.perClient.p99.toFixed(0)}` : '–';
    out[out.length - 1]!.baseline = b ? `${b.perClient.p50.toFixed(0)} / ${b.perClient.p99.toFixed(0)}` : '–';
    add(s, 'per client, reconnect → hello p50 / p99 (ms)', c?.toHello.p99, b?.toHello.p99, (n) => n.toFixed(0));
    out[out.length - 1]!.careline = c ? `${c.toHello.p50.toFixed(0)} / ${c.toHello.p99.toFixed(0)}` : '–';
    out[out.length - 1]!.baseline = b ? `${b.toHello.p50.toFixed(0)} / ${b.toHello.p99.toFixed(0)}` : '–';
    add(s, 'per client, hello → sync_done p50 / p99 (ms)', c?.helloToSyncDone.p99, b?.helloToSyncDone.p99, (n) => n.toFixed(0));
    out[out.length - 1]!.careline = c ? `${c.helloToSyncDone.p50.toFixed(0)} / ${c.helloToSyncDone.p99.toFixed(0)}` : '–';
    out[out.length - 1]!.baseline = b ? `${b.helloToSyncDone.p50.toFixed(0)} / ${b.helloToSyncDone.p99.toFixed(0)}` : '–';
    text(s, 'missed / duplicated (of messages expected)', c ? `${c.missed} / ${c.duplicated} (of ${fmt.int(c.expected)})` : '–', b ? `${b.missed} / ${b.duplicated} (of ${fmt.int(b.expected)})` : '–');
    if (c?.commit) text(s, 'traffic commits during the storm: messages per commit; time inside commits', `${c.commit.meanBatch.toFixed(1)}; ${(c.commit.commitShare * 100).toFixed(0)}%`, '');
    text(s, 'clients not back after 60 s', c ? fmt.int(c.notBack) : '–', b ? fmt.int(b.notBack) : '–');
    add(s, 'connect attempts (incl. retries)', c?.attempts, b?.attempts, fmt.int);
    text(s, 'listen-queue drops (kernel, machine-wide)', c ? fmt.int(c.listenDrops) : '–', b ? fmt.int(b.listenDrops) : '–');
  }
  if (r.history) {
    const c = r.history.careline;
    const b = r.history.baseline;
    const s = `history (${fmt.int((c ?? b)?.messages ?? 0)} messages)`;
    // Each page and concurrency that ran (`--history-pages`, `--history-concurrency`; by default
    // latest, deep and since, one at a time and 8 in flight): one at a time its latency, else its rate.
    const ran = [...(c?.reads ?? []), ...(b?.reads ?? [])];
    const kinds = (['latest', 'deep', 'since'] as const).filter((k) => ran.some((x) => x.kind === k));
    const concs = [...new Set(ran.map((x) => x.concurrency))].sort((x, y) => x - y);
    for (const k of kinds) {
      for (const n of concs) {
        const cr = c?.reads.find((x) => x.kind === k && x.concurrency === n);
        const br = b?.reads.find((x) => x.kind === k && x.concurrency === n);
        if (n === 1) {
          add(s, `${k} page, one at a time: p50 / p99 (ms)`, cr?.latency.p99, br?.latency.p99, (v) => v.toFixed(2));
          out[out.length - 1]!.careline = cr ? `${cr.latency.p50.toFixed(2)} / ${cr.latency.p99.toFixed(2)}` : '–';
          out[out.length - 1]!.baseline = br ? `${br.latency.p50.toFixed(2)} / ${br.latency.p99.toFixed(2)}` : '–';
        } else add(s, `${k} page, ${n} in flight: reads/s`, cr?.perSec, br?.perSec, fmt.int);
      }
    }
    const dist = (x: HistoryRun | undefined) => {
      const d = x?.reads.filter((r) => r.foreignCores > 0.25).map((r) => `${r.kind}×${r.concurrency} (${r.foreignCores.toFixed(1)})`) ?? [];
      return x ? (d.length ? d.join(', ') : 'none') : '–';
    };
    text(s, 'disturbed by other work on the machine', dist(c), dist(b));
  }
  if (r.broadcast) {
    const c = r.broadcast.careline;
    const b = r.broadcast.baseline;
    const x = (c ?? b)!;
    const s = `broadcast (${fmt.int(x.users)} users, ${fmt.int(x.connected)} online)`;
    const pair = (v: BroadcastRun | undefined, f: (v: BroadcastRun) => string) => (v ? f(v) : '–');
    const ms = (n: number) => n.toFixed(1);
    for (const key of ['alone', 'withChat'] as const) {
      const cs = c?.[key];
      const bs = b?.[key];
      const k = key === 'alone' ? `${x.alone.broadcasts} in a row, alone` : `${x.withChat.broadcasts} in a row, during chat`;
      add(s, `${k}: POST (stored) p50 / max (ms)`, cs?.post.max, bs?.post.max, ms);
      out[out.length - 1]!.careline = cs ? `${ms(cs.post.p50)} / ${ms(cs.post.max)}` : '–';
      out[out.length - 1]!.baseline = bs ? `${ms(bs.post.p50)} / ${ms(bs.post.max)}` : '–';
      add(s, `${k}: first one, POST → a user has it p50 / p99 / last (ms)`, cs?.first.p99, bs?.first.p99, ms);
      out[out.length - 1]!.careline = cs ? `${ms(cs.first.p50)} / ${ms(cs.first.p99)} / ${ms(cs.first.max)}` : '–';
      out[out.length - 1]!.baseline = bs ? `${ms(bs.first.p50)} / ${ms(bs.first.p99)} / ${ms(bs.first.max)}` : '–';
      add(s, `${k}: all, first POST → the last user has the last (ms)`, cs?.spanMs, bs?.spanMs, (n) => n.toFixed(0));
      add(s, `${k}: deliveries/s`, cs?.deliveriesPerSec, bs?.deliveriesPerSec, fmt.int);
      if (key === 'alone') add(s, `${k}: server CPU-µs per delivery`, cs?.cpuUsPerDelivery, bs?.cpuUsPerDelivery, (n) => n.toFixed(2));
      add(s, `${k}: server event-loop delay p99 / max (ms)`, cs?.loop.max, bs?.loop.max, ms);
      out[out.length - 1]!.careline = cs ? `${ms(cs.loop.p99)} / ${ms(cs.loop.max)}` : '–';
      out[out.length - 1]!.baseline = bs ? `${ms(bs.loop.p99)} / ${ms(bs.loop.max)}` : '–';
      const flags = (v: BroadcastSeries) => `${v.generatorBound ? 'yes' : 'no'}${v.foreignCores > 0.25 ? `; disturbed (${v.foreignCores.toFixed(1)})` : ''}${v.timedOut ? '; NOT ALL DELIVERED' : ''}`;
      text(s, `${k}: generator-bound`, cs ? flags(cs) : '–', bs ? flags(bs) : '–');
    }
    const cw = (v: BroadcastRun, w: 'without' | 'during') => `${ms(v.chat[w].delivery.p50)} / ${ms(v.chat[w].delivery.p99)} / ${ms(v.chat[w].delivery.max)}`;
    text(s, `chat ${fmt.int(x.chatRate)} msg/s, no broadcast: delivery p50 / p99 / max (ms)`, pair(c, (v) => cw(v, 'without')), pair(b, (v) => cw(v, 'without')));
    add(s, 'chat, no broadcast: server event-loop delay p99 / max (ms)', c?.chat.loopWithout.max, b?.chat.loopWithout.max, ms);
    out[out.length - 1]!.careline = c ? `${ms(c.chat.loopWithout.p99)} / ${ms(c.chat.loopWithout.max)}` : '–';
    out[out.length - 1]!.baseline = b ? `${ms(b.chat.loopWithout.p99)} / ${ms(b.chat.loopWithout.max)}` : '–';
    text(s, 'chat, sends during the fan-out: delivery p50 / p99 / max (ms)', pair(c, (v) => `${cw(v, 'during')} (${fmt.int(v.chat.during.n)} in ${fmt.int(v.chat.windowMs)} ms)`), pair(b, (v) => `${cw(v, 'during')} (${fmt.int(v.chat.during.n)} in ${fmt.int(v.chat.windowMs)} ms)`));
    add(s, 'chat delivery p99 during ÷ without', c?.chat.p99Ratio, b?.chat.p99Ratio, fmt.ratio);
    text(s, 'chat check: unacked / undelivered / duplicated / gaps', pair(c, (v) => bcChat(v)), pair(b, (v) => bcChat(v)));
    text(s, 'online users with every broadcast once, in id order', pair(c, bcCheck), pair(b, bcCheck));
    text(s, 'offline users back with catch-up: each broadcast once', pair(c, bcCatchUp), pair(b, bcCatchUp));
    add(s, 'catch-up: connect → sync_done p50 / p99 (ms)', c?.catchUp.syncDone.p99, b?.catchUp.syncDone.p99, ms);
    out[out.length - 1]!.careline = c ? `${ms(c.catchUp.syncDone.p50)} / ${ms(c.catchUp.syncDone.p99)}` : '–';
    out[out.length - 1]!.baseline = b ? `${ms(b.catchUp.syncDone.p50)} / ${ms(b.catchUp.syncDone.p99)}` : '–';
    text(s, 'stored: notification rows / per-user rows', pair(c, (v) => (v.stored ? `${v.stored.notifications} for ${v.alone.broadcasts + v.withChat.broadcasts} broadcasts / ${v.stored.recipientRows + v.stored.readRows}` : '–')), b ? 'nothing stored' : '–');
    const dist = (v: BroadcastRun) => {
      const d = [['chat without', v.chat.foreignCoresWithout], ['alone', v.alone.foreignCores], ['with chat', v.chat.foreignCoresDuring], ['catch-up', v.catchUp.foreignCores]]
        .filter(([, f]) => (f as number) > 0.25).map(([n, f]) => `${n} (${(f as number).toFixed(1)})`);
      return d.length ? d.join(', ') : 'none';
    };
    text(s, 'disturbed by other work on the machine', pair(c, dist), pair(b, dist));
  }
  return out;
}

function bcChat(v: BroadcastRun): string {
  const k = v.chat.check;
  return `${k.unacked} / ${k.undelivered} / ${k.duplicated} / ${k.gaps}`;
}

function bcCheck(v: BroadcastRun): string {
  const k = v.check;
  return `${fmt.int(k.complete)} / ${fmt.int(k.clients)}${k.missing || k.duplicated || k.outOfOrder || k.unknown ? ` (missing ${k.missing}, doubled ${k.duplicated}, out of order ${k.outOfOrder}, unknown ${k.unknown})` : ''}`;
}

function bcCatchUp(v: BroadcastRun): string {
  const k = v.catchUp;
  return `${fmt.int(k.complete)} / ${fmt.int(k.clients)} (${k.expectedEach} each${v.mode === 'latest' ? ', latest mode' : ''})${k.missing || k.duplicated || k.outOfOrder || k.unknown || k.failed ? ` (missing ${k.missing}, doubled ${k.duplicated}, out of order ${k.outOfOrder}, unknown ${k.unknown}, failed ${k.failed})` : ''}`;
}

/** The broadcast checks: everyone got each broadcast once and in order, live and by catch-up, the chat too, and it was stored once. */
export function broadcastOk(v: BroadcastRun): boolean {
  const k = v.check;
  const u = v.catchUp;
  const n = v.alone.broadcasts + v.withChat.broadcasts;
  return k.complete === k.clients && k.missing === 0 && k.duplicated === 0 && k.outOfOrder === 0 && k.unknown === 0
    && u.complete === u.clients && u.missing === 0 && u.duplicated === 0 && u.outOfOrder === 0 && u.unknown === 0 && u.failed === 0
    && v.chat.check.ok
    && (v.stored === null || (v.stored.notifications === n && v.stored.recipientRows === 0));
}

function chatCheck(c: ChatRun): string {
  const k = c.check as Record<string, number>;
  return `${k.unacked} / ${k.undelivered} / ${(k.duplicateAcks ?? 0) + (k.duplicateDeliveries ?? 0)} / ${(k.gaps ?? 0) + (k.reordered ?? 0)}`;
}

function disturbed(c: ChatRun): string {
  const b = c.steps.filter((s) => s.foreignCores > 0.25).map((s) => `${s.label.replace(/ = .*/, '').replace(' (closed loop)', '')} (${s.foreignCores.toFixed(1)})`);
  return b.length ? b.join(', ') : 'none';
}

function genBoundSteps(c: ChatRun): string {
  const b = c.steps.filter((s) => s.generatorBound).map((s) => s.label.replace(/ = .*/, '').replace(' (closed loop)', ''));
  return b.length ? b.join(', ') : 'none';
}

/** The targets of issue #3, checked against Careline's figures. */
export function targets(r: Results): TargetCheck[] {
  const out: TargetCheck[] = [];
  const c = r.chat?.careline;
  if (c) {
    out.push({ target: '1:1 chat: ≥ 30,000 msg/s sent → committed → acked → delivered', measured: `${fmt.int(c.max)} msg/s (closed loop); ${fmt.int(c.maxSustained?.rate ?? NaN)} msg/s sustained with p99 < 100 ms`, met: c.max >= 30_000 && c.check.ok });
    const half = c.steps.find((s) => s.label.startsWith('50%'));
    if (half) out.push({ target: '1:1 chat: delivery p99 < 50 ms at half that rate', measured: `p99 ${half.delivery.p99.toFixed(1)} ms at ${fmt.int(half.offered)} msg/s (50% of the measured maximum)`, met: half.delivery.p99 < 50 && c.max >= 30_000 });
  }
  const fc = r.fanout?.careline?.find((v) => v.online === v.members && v.members >= 500);
  const fb = r.fanout?.baseline?.find((v) => v.online === v.members && v.members >= 500);
  if (fc) out.push({ target: '500-member group: deliveries/s ≥ ½ of the bare ws baseline', measured: fb ? `${fmt.int(fc.deliveriesPerSec)} vs ${fmt.int(fb.deliveriesPerSec)} = ${fmt.ratio(fc.deliveriesPerSec / fb.deliveriesPerSec)}` : `${fmt.int(fc.deliveriesPerSec)} (no baseline)`, met: fb ? fc.deliveriesPerSec >= fb.deliveriesPerSec / 2 && fc.missing === 0 : null });
  const cc = r.connections?.careline;
  if (cc) out.push({ target: 'idle connections: < 10 KiB of process memory each', measured: `${fmt.bytes(cc.rssPerConn)} RSS (${fmt.bytes(cc.heapPerConn)} heap) per connection, ${fmt.int(cc.opened)} connections`, met: cc.rssPerConn < 10 * 1024 && cc.stillOpen === cc.opened });
  const sc = r.storm?.careline;
  if (sc) out.push({ target: `reconnect storm of 10,000 clients: all caught up < 10 s, nothing missed or doubled`, measured: `${fmt.int(sc.clients)} clients over a ${sc.spreadMs / 1000} s window: ${sc.notBack ? `${fmt.int(sc.clients - sc.notBack)} back within 60 s` : `100% in ${(sc.t100 / 1000).toFixed(2)} s (99% in ${(sc.t99 / 1000).toFixed(2)} s)`}; missed ${sc.missed}, duplicated ${sc.duplicated}${sc.clients < 10_000 ? ' (fewer clients than the target: time not judged)' : ''}`, met: sc.missed > 0 || sc.duplicated > 0 || sc.notBack > 0 ? false : sc.clients < 10_000 ? null : sc.t100 < 10_000 });
  const hc = r.history?.careline;
  if (hc) {
    const l = hc.reads.find((x) => x.kind === 'latest' && x.concurrency === 1);
    if (l) out.push({ target: 'latest-page history read: p99 < 5 ms with 1M messages stored', measured: `p99 ${l.latency.p99.toFixed(2)} ms with ${fmt.int(hc.messages)} messages${hc.messages < 1_000_000 ? ' (fewer than the target: not judged)' : ''}`, met: hc.messages < 1_000_000 ? null : l.latency.p99 < 5 });
  }
  if (r.transports) out.push(...transportTargets(r.transports));
  return out;
}

export function terminalTable(rs: Row[], baselineName = 'ws baseline'): string {
  const head = ['scenario', 'metric', 'Careline', baselineName, 'Careline ÷ baseline'];
  const body = rs.map((r) => [r.scenario, r.metric, r.careline, r.baseline, r.ratio]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ');
  let last = '';
  const lines = [line(head), w.map((n) => '─'.repeat(n)).join('  ')];
  for (const b of body) {
    const cells = [...b];
    if (cells[0] === last) cells[0] = '';
    else last = cells[0]!;
    lines.push(line(cells));
  }
  return lines.join('\n');
}

export function markdownTable(rs: Row[], baselineName = 'ws baseline'): string {
  const lines = [`| scenario | metric | Careline | ${baselineName} | Careline ÷ baseline |`, '| --- | --- | ---: | ---: | ---: |'];
  let last = '';
  for (const r of rs) {
    lines.push(`| ${r.scenario === last ? '' : r.scenario} | ${r.metric} | ${r.careline} | ${r.baseline} | ${r.ratio} |`);
    last = r.scenario;
  }
  return lines.join('\n');
}

export function targetsTable(ts: TargetCheck[], md: boolean): string {
  const mark = (m: boolean | null) => (m === null ? 'n/a' : m ? 'met' : 'MISSED');
  if (md) return ['| target | measured | |', '| --- | --- | --- |', ...ts.map((t) => `| ${t.target} | ${t.measured} | ${mark(t.met)} |`)].join('\n');
  return ts.map((t) => `  [${mark(t.met).padEnd(6)}] ${t.target}\n           ${t.measured}`).join('\n');
}

// ── Backends side by side ────────────────────────────────────────────────────────────────

export interface BackendRow {
  scenario: string;
  metric: string;
  /** One cell per backend, in the order of the run. */
  values: string[];
}

const BACKEND_NAMES: Record<Backend, string> = { sqlite: 'SQLite, 1 node', postgres: 'PostgreSQL, 1 node', cluster: 'cluster' };

function backendName(b: Backend, nodes: number): string {
  return b === 'cluster' ? `${nodes} nodes, PostgreSQL + Redis` : BACKEND_NAMES[b];
}

/** "45.2 (15.1 + 15.0 + 15.1)": the nodes' CPU-µs together, and each when there are several. */
function nodesCpu(c: CpuPerMsg | undefined, digits = 1): string {
  if (!c) return '–';
  return `${c.total.toFixed(digits)}${c.nodes.length > 1 ? ` (${c.nodes.map((x) => x.toFixed(digits)).join(' + ')})` : ''}`;
}

function serviceCpu(c: CpuPerMsg | undefined, digits = 1): string {
  if (!c) return '–';
  const f = (x: number | null) => (x === null ? '–' : x.toFixed(digits));
  return `${f(c.postgres)} / ${f(c.redis)}`;
}

function cores(c: CpuPerMsg | undefined): string {
  if (!c) return '–';
  const f = (x: number) => x.toFixed(2);
  const nodes = c.nodeUtil.length > 1 ? `${f(c.nodeUtil.reduce((a, b) => a + b, 0))} (${c.nodeUtil.map(f).join(' + ')})` : f(c.nodeUtil[0] ?? NaN);
  return `${nodes}; ${c.postgresUtil === null ? '–' : f(c.postgresUtil)}; ${c.redisUtil === null ? '–' : f(c.redisUtil)}`;
}

/** The closed-loop step of a chat run: where the maximum is measured, and the CPU per message compared across backends. */
export function maxStep(c: ChatRun | undefined) {
  return c?.steps.find((s) => s.mode === 'closed');
}

/** The figures of each backend's Careline run, side by side, with the ratios the targets use. */
export function backendRows(by: Partial<Record<Backend, Results>>, backends: Backend[]): BackendRow[] {
  const out: BackendRow[] = [];
  const row = (scenario: string, metric: string, f: (r: Results, b: Backend) => string | undefined) =>
    out.push({ scenario, metric, values: backends.map((b) => { const r = by[b]; return (r && f(r, b)) ?? '–'; }) });
  const sqliteMax = by.sqlite?.chat?.careline?.max;

  if (backends.some((b) => by[b]?.chat?.careline)) {
    const s = 'chat 1:1';
    row(s, 'max throughput, closed loop (msg/s delivered)', (r) => (r.chat?.careline ? fmt.int(r.chat.careline.max) : undefined));
    row(s, 'max ÷ the SQLite node\'s', (r) => (r.chat?.careline && sqliteMax ? fmt.ratio(r.chat.careline.max / sqliteMax) : undefined));
    row(s, 'max sustained rate with delivery p99 < 100 ms (msg/s)', (r) => (r.chat?.careline?.maxSustained ? fmt.int(r.chat.careline.maxSustained.rate) : undefined));
    const n = Math.max(0, ...backends.map((b) => by[b]?.chat?.careline?.steps.filter((x) => x.mode === 'open').length ?? 0));
    for (let i = 0; i < n; i++) {
      const label = backends.map((b) => by[b]?.chat?.careline?.steps.filter((x) => x.mode === 'open')[i]?.label.replace(/ = .*/, '')).find(Boolean) ?? `${i + 1}`;
      row(s, `step ${label}: rate; ack p99; delivery p50 / p99 (ms)`, (r) => {
        const st = r.chat?.careline?.steps.filter((x) => x.mode === 'open')[i];
        return st ? `${fmt.int(st.offered)}/s; ${st.ack.p99.toFixed(1)}; ${st.delivery.p50.toFixed(1)} / ${st.delivery.p99.toFixed(1)}` : undefined;
      });
      row(s, `step ${label}: CPU-µs per delivered message, nodes (each)`, (r) => nodesCpu(r.chat?.careline?.steps.filter((x) => x.mode === 'open')[i]?.cpu));
    }
    row(s, 'at the maximum: CPU-µs per delivered message, nodes (each)', (r) => nodesCpu(maxStep(r.chat?.careline)?.cpu));
    row(s, 'at the maximum: CPU-µs per delivered message, PostgreSQL / Redis', (r) => serviceCpu(maxStep(r.chat?.careline)?.cpu));
    row(s, 'at the maximum: CPU-µs per delivered message, all processes', (r) => maxStep(r.chat?.careline)?.cpu.all.toFixed(1));
    row(s, 'at the maximum: CPU (cores) nodes (each); PostgreSQL; Redis', (r) => cores(maxStep(r.chat?.careline)?.cpu));
    row(s, 'check: unacked / undelivered / duplicated / gaps', (r) => (r.chat?.careline ? chatCheck(r.chat.careline) : undefined));
    row(s, 'disturbed by other work on the machine (steps)', (r) => (r.chat?.careline ? disturbed(r.chat.careline) : undefined));
  }
  const variants = Math.max(0, ...backends.map((b) => by[b]?.fanout?.careline?.length ?? 0));
  for (let i = 0; i < variants; i++) {
    const label = backends.map((b) => by[b]?.fanout?.careline?.[i]?.label).find(Boolean)!;
    const s = `group: ${label}`;
    const v = (r: Results) => r.fanout?.careline?.[i];
    row(s, 'online members\' connections per node', (r) => v(r)?.perNode.join(' / '));
    row(s, 'deliveries/s', (r) => (v(r) ? fmt.int(v(r)!.deliveriesPerSec) : undefined));
    row(s, 'time to last member p50 / p99 (ms)', (r) => (v(r) ? `${v(r)!.timeToLast.p50.toFixed(1)} / ${v(r)!.timeToLast.p99.toFixed(1)}` : undefined));
    row(s, 'CPU-µs per delivery, nodes (each)', (r) => nodesCpu(v(r)?.cpu, 2));
    row(s, 'CPU-µs per delivery, PostgreSQL / Redis', (r) => serviceCpu(v(r)?.cpu, 2));
    row(s, 'CPU (cores) nodes (each); PostgreSQL; Redis', (r) => cores(v(r)?.cpu));
    row(s, 'missing / duplicated / gaps', (r) => (v(r) ? `${v(r)!.missing} / ${v(r)!.duplicates} / ${v(r)!.gaps}` : undefined));
  }
  if (backends.some((b) => by[b]?.storm?.careline)) {
    const clients = backends.map((b) => by[b]?.storm?.careline?.clients).find((x) => x !== undefined) ?? 0;
    const s = `reconnect storm (${fmt.int(clients)} clients)`;
    const v = (r: Results) => r.storm?.careline;
    row(s, '99% / 100% caught up (s)', (r) => (v(r) ? `${(v(r)!.t99 / 1000).toFixed(2)} / ${(v(r)!.t100 / 1000).toFixed(2)}` : undefined));
    row(s, 'per client, reconnect → caught up p50 / p99 (ms)', (r) => (v(r) ? `${v(r)!.perClient.p50.toFixed(0)} / ${v(r)!.perClient.p99.toFixed(0)}` : undefined));
    row(s, 'missed / duplicated (of messages expected); not back', (r) => (v(r) ? `${v(r)!.missed} / ${v(r)!.duplicated} (of ${fmt.int(v(r)!.expected)}); ${v(r)!.notBack}` : undefined));
    row(s, 'CPU (cores) nodes (each); PostgreSQL; Redis', (r) => cores(v(r)?.cpu));
  }
  return out;
}

export function backendsTerminal(rs: BackendRow[], backends: Backend[], nodes: number): string {
  const head = ['scenario', 'metric', ...backends.map((b) => backendName(b, nodes))];
  const body = rs.map((r) => [r.scenario, r.metric, ...r.values]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ');
  let last = '';
  const lines = [line(head), w.map((n) => '─'.repeat(n)).join('  ')];
  for (const b of body) {
    const cells = [...b];
    if (cells[0] === last) cells[0] = '';
    else last = cells[0]!;
    lines.push(line(cells));
  }
  return lines.join('\n');
}

export function backendsMarkdown(rs: BackendRow[], backends: Backend[], nodes: number): string {
  const lines = [`| scenario | metric | ${backends.map((b) => backendName(b, nodes)).join(' | ')} |`, `| --- | --- |${backends.map(() => ' ---: |').join('')}`];
  let last = '';
  for (const r of rs) {
    lines.push(`| ${r.scenario === last ? '' : r.scenario} | ${r.metric} | ${r.values.join(' | ')} |`);
    last = r.scenario;
  }
  return lines.join('\n');
}

/** Delivery checks of one backend's Careline runs: nothing lost, doubled or out of order. */
function deliveryOk(r: Results): boolean {
  return (!r.chat?.careline || r.chat.careline.check.ok)
    && !(r.fanout?.careline ?? []).some((v) => v.missing > 0 || v.duplicates > 0 || v.gaps > 0)
    && (!r.storm?.careline || (r.storm.careline.missed === 0 && r.storm.careline.duplicated === 0));
}

/**
 * The targets that compare backends: PostgreSQL's single node at ≥ 0.7 × the SQLite node's
 * chat maximum; a cluster's CPU per delivered message (its nodes together, at the chat
 * maximum; and per fan-out delivery) ≤ 1.5 × one node's (PostgreSQL's when it ran, else
 * SQLite's); nothing lost or doubled on any backend.
 */
export function backendTargets(by: Partial<Record<Backend, Results>>): TargetCheck[] {
  const out: TargetCheck[] = [];
  const sq = by.sqlite?.chat?.careline;
  const pg = by.postgres?.chat?.careline;
  const cl = by.cluster?.chat?.careline;
  const missing = (what: string) => `no ${what} result (the scenario failed or did not run)`;
  if (by.sqlite?.chat && by.postgres) {
    out.push({
      target: 'PostgreSQL single node: chat maximum ≥ 0.7 × the SQLite node\'s',
      measured: sq && pg ? `${fmt.int(pg.max)} vs ${fmt.int(sq.max)} msg/s = ${fmt.ratio(pg.max / sq.max)}` : missing(pg ? 'SQLite chat' : 'PostgreSQL chat'),
      met: sq && pg ? pg.max >= 0.7 * sq.max && pg.check.ok && sq.check.ok : false,
    });
  }
  const refName = by.postgres ? 'PostgreSQL' : 'SQLite';
  const ref = by.postgres ? pg : sq;
  if (by.cluster && (by.postgres || by.sqlite?.chat)) {
    const a = maxStep(cl)?.cpu;
    const b = maxStep(ref)?.cpu;
    out.push({
      target: `cluster${cl ? ` of ${cl.nodes}` : ''}: CPU per delivered chat message ≤ 1.5 × one node's (${refName})`,
      measured: a && b
        ? `nodes ${a.total.toFixed(1)} vs ${b.total.toFixed(1)} µs = ${fmt.ratio(a.total / b.total)} (with PostgreSQL and Redis: ${a.all.toFixed(1)} vs ${b.all.toFixed(1)} µs = ${fmt.ratio(a.all / b.all)}), at the closed-loop maximum`
        : missing(a ? `${refName} chat` : 'cluster chat'),
      met: a && b ? a.total <= 1.5 * b.total : false,
    });
  }
  const big = (r: Results | undefined) => r?.fanout?.careline?.find((v) => v.online === v.members && v.members >= 500);
  const fc = big(by.cluster);
  const fr = big(by.postgres ?? by.sqlite);
  if (fc && fr) {
    out.push({
      target: `500-member group across the cluster's nodes: CPU per delivery ≤ 1.5 × one node's (${by.postgres ? 'PostgreSQL' : 'SQLite'})`,
      measured: `nodes ${fc.cpu.total.toFixed(2)} vs ${fr.cpu.total.toFixed(2)} µs = ${fmt.ratio(fc.cpu.total / fr.cpu.total)} (with PostgreSQL and Redis: ${fc.cpu.all.toFixed(2)} vs ${fr.cpu.all.toFixed(2)} µs); ${fmt.int(fc.deliveriesPerSec)} vs ${fmt.int(fr.deliveriesPerSec)} deliveries/s`,
      met: fc.cpu.total <= 1.5 * fr.cpu.total && fc.missing === 0 && fc.duplicates === 0,
    });
  }
  const requested = Object.entries(by) as [Backend, Results][];
  if (requested.length > 1 || requested.some(([b]) => b !== 'sqlite')) {
    const ran = requested.filter(([, r]) => r.chat?.careline || r.fanout?.careline || r.storm?.careline);
    const bad = ran.filter(([, r]) => !deliveryOk(r)).map(([b]) => b);
    const none = requested.filter(([, r]) => !ran.some(([, x]) => x === r)).map(([b]) => b);
    out.push({
      target: '0 lost / 0 duplicated on every backend (chat, fan-out, reconnect storm)',
      measured: [bad.length ? `failed on ${bad.join(', ')}` : `none lost or doubled on ${ran.map(([b]) => b).join(', ') || 'no backend'}`, none.length ? `no result on ${none.join(', ')}` : ''].filter(Boolean).join('; '),
      met: bad.length === 0 && none.length === 0,
    });
  }
  return out;
}
