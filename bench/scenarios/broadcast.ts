/**
 * Scenario 6 — tenant broadcast. A tenant of 100,000 users, 10,000 of them connected, and
 * patient/doctor pairs chatting at a fixed open-loop rate. The host system sends tenant
 * broadcasts (`POST /api/v2/management/notifications`, `{"target":{"tenant":true}}`), a few
 * in a row:
 *  - alone (no other traffic): the POST's latency (stored), how long after its POST each
 *    connected user had each broadcast (p50/p99 over users, and the max: the last user),
 *    deliveries/s, server CPU per delivery;
 *  - while the pairs chat: the same, and the chat's delivery latency for the sends scheduled
 *    during the fan-out (from the first POST until the last user had the last broadcast)
 *    against the same traffic without broadcasts, measured just before: "not blocked".
 * Every connected user must get each broadcast exactly once, in id order. Then a sample of
 * users who were not connected comes back with a notification catch-up (`sync` with
 * `notifications_after: ""`) and must get each broadcast once (of a `latest`-mode kind such
 * as the default S2C_SYSTEM_PUSH, the inbox holds only the newest: that one, once). Last, the
 * database file is read: one `notifications` row per broadcast, no per-user rows.
 */
import { BuiltinNotificationKinds, isBuiltinNotificationKind, type NotificationMode } from '@careline/protocol/constants';
import { CpuMeter, fdLimits, type Proc } from '../lib/proc.ts';
import { generatorBound, lat, settle, startGens, startTarget, stopAll, type Ctx, type Lat } from '../lib/ctx.ts';
import type { HistJSON } from '../lib/hist.ts';
import type { LoopDelay, Target, TargetKind } from '../lib/target.ts';
import { sleep, split, wallMs } from '../lib/util.ts';

export interface BroadcastSeries {
  label: string;
  broadcasts: number;
  ids: string[];
  /** Each POST, request to response (ms): the notification is stored when it answers. */
  post: { p50: number; max: number; each: number[] };
  /** Recipients the server reported (for a broadcast: the tenant's users). */
  recipients: number;
  /** POST sent → a connected user has it, over every (user, broadcast): later ones include waiting behind the earlier. */
  perUser: Lat;
  /** The same for the first broadcast of the series alone (nothing queued before it): comparable across servers. */
  first: Lat;
  /** POST sent → the last connected user has it, per broadcast. */
  toLast: number[];
  receivers: number;
  /** Frames the clients got: the receivers' and the chatting pairs' (they are users of the tenant too). */
  deliveries: number;
  expected: number;
  /** From the first POST to the last delivery. */
  spanMs: number;
  deliveriesPerSec: number;
  /** Server CPU from the first POST to the last delivery, per delivery (alone only: with chat the chat's CPU is in it). */
  cpuUsPerDelivery: number;
  serverCpu: number;
  genCpu: number[];
  foreignCores: number;
  generatorBound: boolean;
  /** Not every receiver had every broadcast within the time limit. */
  timedOut: boolean;
  /** The server's event-loop delay from the first POST to the last delivery: how long it kept other work waiting. */
  loop: LoopDelay;
}

export interface ChatWindow {
  n: number;
  ack: Lat;
  delivery: Lat;
  unacked: number;
  undelivered: number;
}

export interface BroadcastRun {
  users: number;
  connected: number;
  offline: number;
  pairs: number;
  chatRate: number;
  kind: string;
  mode: NotificationMode;
  setup: { usersMs: number; usersPerSec: number; loginsMs: number; connectMs: number; connectFailed: number; failSamples: string[] };
  alone: BroadcastSeries;
  withChat: BroadcastSeries;
  chat: {
    /** The same traffic without broadcasts (a step of its own, just before). */
    without: ChatWindow;
    /** The sends scheduled during the fan-out (first POST → last user had the last broadcast). */
    during: ChatWindow;
    /** The whole chat step the broadcasts ran in. */
    step: ChatWindow;
    windowMs: number;
    /** The server's event-loop delay during the chat step without broadcasts. */
    loopWithout: LoopDelay;
    /** The fan-out lasted beyond the chat step: the window was cut at its end. */
    outlasted: boolean;
    p50Ratio: number;
    p99Ratio: number;
    foreignCoresWithout: number;
    foreignCoresDuring: number;
    check: { ok: boolean; unacked: number; undelivered: number; duplicated: number; gaps: number; notifications: number; expectedNotifications: number };
  };
  /** Every connected receiver against every broadcast sent. */
  check: { clients: number; complete: number; missing: number; duplicated: number; outOfOrder: number; unknown: number; closes: number; errors: number };
  catchUp: {
    clients: number;
    opened: number;
    failed: number;
    /** Broadcasts each should get: all of them, or the newest for a `latest`-mode kind. */
    expectedEach: number;
    complete: number;
    missing: number;
    duplicated: number;
    outOfOrder: number;
    unknown: number;
    /** sync_done's `notifications.sent` differed from what the client counted. */
    sentMismatch: number;
    unreadMin: number;
    unreadMax: number;
    /** Connect → sync_done, per client; all of them from first connect to last sync_done. */
    syncDone: Lat;
    totalMs: number;
    serverCpuPerClientMs: number;
    foreignCores: number;
  };
  /** What the database file holds for the broadcasts (Careline only). */
  stored: { notifications: number; broadcasts: number; recipientRows: number; readRows: number; users: number } | null;
}

export async function broadcastScenario(ctx: Ctx): Promise<Partial<Record<TargetKind, BroadcastRun>>> {
  const out: Partial<Record<TargetKind, BroadcastRun>> = {};
  for (const kind of ctx.o.kinds) out[kind] = await runOne(ctx, kind);
  return out;
}

const PER_GEN = 2500;
const FANOUT_TIMEOUT_MS = 60_000;

/** The sizes after the file limit: connections on the server = connected + offline + 2 × pairs. */
export function broadcastSizes(ctx: Ctx): { users: number; connected: number; offline: number; pairs: number } {
  const { hard } = fdLimits();
  const pairs = ctx.o.broadcastPairs;
  const offline = ctx.o.broadcastOffline;
  const connected = Math.max(1, Math.min(ctx.o.broadcastConnected, hard - 300 - 2 * pairs - offline));
  const users = ctx.o.broadcastUsers;
  if (users < connected + offline + 2 * pairs) throw new Error(`--broadcast-users ${users} is fewer than the connected (${connected}), offline (${offline}) and chatting (${2 * pairs}) users together`);
  return { users, connected, offline, pairs };
}

async function runOne(ctx: Ctx, kind: TargetKind): Promise<BroadcastRun> {
  const { users: U, connected: C, offline: S, pairs: P } = broadcastSizes(ctx);
  const K = ctx.o.broadcastCount;
  const R = ctx.o.broadcastChatRate;
  const D = ctx.o.duration * 1000;
  const chatMs = Math.max(5000, Math.round(D * 0.4));
  const leadMs = 1000;
  const bKind = ctx.o.broadcastKind;
  const { hard } = fdLimits();
  const label = `broadcast ${kind}`;
  ctx.progress.phase(`${label}: setup ${U.toLocaleString('en-US')} users`);
  let target: Target | undefined;
  let recv: Proc[] = [];
  let chat: Proc | undefined;
  let host: Proc | undefined;
  try {
    // The server's heartbeat (a ping to every connection every heartbeatMs / 2) is pushed
    // beyond the scenario so that it does not land in a measured window; the baseline has none.
    target = await startTarget(ctx, kind, 'broadcast', { fdLimit: hard, heartbeatMs: 3_600_000 });
    const t = target;
    const receivers = Array.from({ length: C }, (_, i) => `b${i}`);
    const offline = Array.from({ length: S }, (_, i) => `bo${i}`);
    const patients = Array.from({ length: P }, (_, i) => `bp${i}`);
    const doctors = Array.from({ length: P }, (_, i) => `bd${i}`);
    const others = Array.from({ length: U - C - S - 2 * P }, (_, i) => `bx${i}`);

    // Users: those who connect are created and logged in (a token each); the rest only created.
    let t0 = performance.now();
    const withToken = [...receivers, ...offline, ...patients];
    const tokens = new Map([
      ...(await t.users(doctors, 'doctor')),
      ...(await t.users(withToken, 'patient', (n) => ctx.progress.phase(`${label}: setup ${n}/${withToken.length} users with a login`))),
    ]);
    const loginsMs = performance.now() - t0;
    const t1 = performance.now();
    await t.createUsers(others, 'patient', (n) => ctx.progress.phase(`${label}: setup ${(withToken.length + P + n).toLocaleString('en-US')}/${U.toLocaleString('en-US')} users`), 32);
    const usersMs = performance.now() - t0;
    if (kind === 'careline') ctx.log(`  ${label}: ${U.toLocaleString('en-US')} users in ${(usersMs / 1000).toFixed(1)} s (${withToken.length + P} with a login in ${(loginsMs / 1000).toFixed(1)} s, ${others.length} more created in ${((performance.now() - t1) / 1000).toFixed(1)} s)`);

    let mode: NotificationMode;
    if (isBuiltinNotificationKind(bKind)) mode = BuiltinNotificationKinds[bKind];
    else {
      await t.api('PUT', `/api/v2/management/notification-kinds/${encodeURIComponent(bKind)}`, { mode: 'each' });
      mode = 'each';
    }
    const convs = await t.conversations(patients.map((p, i) => ({ kind: 'p2p' as const, participants: [p, doctors[i]!] })));
    const pairs = patients.map((p, i) => {
      const d = doctors[i]!;
      const conv = convs[i]!;
      return { conv, a: { user: p, url: t.connectUrl(p, tokens.get(p)!, [conv]) }, b: { user: d, url: t.connectUrl(d, tokens.get(d)!, [conv]) } };
    });

    const g = await startGens(ctx, Math.ceil(C / PER_GEN), { fdLimit: hard, name: 'bcast' });
    recv = g.procs;
    const cg = await startGens(ctx, 1, { name: 'chat' });
    chat = cg.procs[0]!;
    const hg = await startGens(ctx, 1, { fdLimit: hard, name: 'host' });
    host = hg.procs[0]!;

    ctx.progress.phase(`${label}: connecting ${C.toLocaleString('en-US')} users`);
    t0 = performance.now();
    const shares = split(receivers.map((u) => t.connectUrl(u, tokens.get(u)!, [])), recv.length);
    const opened = await Promise.all(recv.map((gen, i) => gen.call('broadcast.connect', { urls: shares[i], concurrency: 32, localAddress: g.addrs[i] }, 600_000)));
    await chat.call('chat.connect', { pairs, localAddress: cg.addrs[0] });
    const connectMs = performance.now() - t0;
    const live = opened.reduce((a, r) => a + r.opened, 0);
    const connectFailed = opened.reduce((a, r) => a + r.failed, 0);
    if (connectFailed) ctx.log(`  ${label}: ${connectFailed} of ${C} connections failed: ${opened.flatMap((r) => r.samples).slice(0, 2).join('; ')}`);

    const sendSeries = (labelS: string, startAt?: number) =>
      host!.call<{ sent: { id: string; sentAt: number; ms: number; recipients: number }[] }>('broadcast.send', { base: t.url, apiKey: t.apiKey, kind: bKind, count: K, label: labelS, startAt }, 120_000);
    const chatNotifications = async () => ((await chat!.call('chat.verify')).notifications as number);
    /** Waits until every live receiver had every broadcast of the series (bounded), then gathers the figures. */
    const collect = async (sent: { id: string; sentAt: number }[], deadline: number) => {
      const ids = sent.map((s) => s.id);
      const status = () => Promise.all(recv.map((gen) => gen.call('broadcast.status', { ids })));
      let done = false;
      while (!done && Date.now() < deadline) {
        const st = await status();
        done = ids.every((_, k) => st.reduce((a, s) => a + s.per[k].count, 0) >= live);
        if (!done) await sleep(20);
      }
      const sentAt = Object.fromEntries(sent.map((s) => [s.id, s.sentAt]));
      const st = await Promise.all(recv.map((gen) => gen.call('broadcast.status', { ids, sentAt })));
      const hists: HistJSON[] = st.flatMap((s) => s.per.map((x: { hist: HistJSON }) => x.hist));
      const firstHists: HistJSON[] = st.map((s) => s.per[0].hist as HistJSON);
      const toLast = ids.map((_, k) => Math.max(...st.map((s) => s.per[k].last)) - sent[k]!.sentAt);
      const lastAt = Math.max(...st.flatMap((s) => s.per.map((x: { last: number }) => x.last)));
      const deliveries = st.reduce((a, s) => a + s.per.reduce((b: number, x: { count: number }) => b + x.count, 0), 0);
      return { ids, perUser: lat(hists), first: lat(firstHists), toLast, lastAt, deliveries, timedOut: !done };
    };
    const series = (labelS: string, sent: { id: string; sentAt: number; ms: number; recipients: number }[], c: Awaited<ReturnType<typeof collect>>, chatDeliveries: number, m: ReturnType<CpuMeter['stop']>, cpu: boolean, loop: LoopDelay): BroadcastSeries => {
      const posts = sent.map((s) => s.ms);
      const sorted = [...posts].sort((a, b) => a - b);
      const spanMs = c.lastAt - sent[0]!.sentAt;
      const deliveries = c.deliveries + chatDeliveries;
      const genCpu = m.util.slice(1);
      return {
        label: labelS, broadcasts: sent.length, ids: c.ids,
        post: { p50: sorted[Math.ceil(sorted.length / 2) - 1] ?? NaN, max: sorted[sorted.length - 1] ?? NaN, each: posts },
        recipients: sent[0]?.recipients ?? 0,
        perUser: c.perUser, first: c.first, toLast: c.toLast, receivers: live, deliveries, expected: sent.length * (live + 2 * P),
        spanMs, deliveriesPerSec: deliveries / (spanMs / 1000),
        cpuUsPerDelivery: cpu ? (m.cpuMs[0]! * 1000) / Math.max(1, deliveries) : NaN, serverCpu: m.util[0]!,
        genCpu, foreignCores: m.foreignCores, generatorBound: generatorBound(ctx, genCpu, m.machineBusy, m.foreignCores), timedOut: c.timedOut, loop,
      };
    };
    const describe = (s: BroadcastSeries) =>
      `POST p50 ${s.post.p50.toFixed(1)} ms (max ${s.post.max.toFixed(1)}); server event-loop delay p99 ${s.loop.p99.toFixed(1)} ms, max ${s.loop.max.toFixed(1)} ms; the first broadcast: a user has it p50 ${s.first.p50.toFixed(0)} ms, p99 ${s.first.p99.toFixed(0)} ms, the last ${s.first.max.toFixed(0)} ms; all ${s.broadcasts} by the last user ${s.spanMs.toFixed(0)} ms after the first POST; ${Math.round(s.deliveriesPerSec).toLocaleString('en-US')} deliveries/s${Number.isFinite(s.cpuUsPerDelivery) ? `, ${s.cpuUsPerDelivery.toFixed(2)} CPU-µs/delivery` : ''}${s.timedOut ? ' (NOT ALL DELIVERED in time)' : ''}${s.generatorBound ? ' (generator-bound)' : ''}${s.foreignCores > 0.25 ? ` (disturbed: ${s.foreignCores.toFixed(1)} cores of other work)` : ''}`;
    const windowOf = (r: { n: number; unacked: number; undelivered: number; ack: HistJSON; del: HistJSON }): ChatWindow => ({ n: r.n, ack: lat([r.ack]), delivery: lat([r.del]), unacked: r.unacked, undelivered: r.undelivered });

    // 1. The chat traffic alone: the reference.
    await settle(ctx, `${label} chat without broadcasts`);
    ctx.progress.phase(`${label}: chat ${R}/s without broadcasts`, chatMs, chatMs / 1000);
    let meter = new CpuMeter([target.proc, chat]).start();
    let startAt = wallMs() + 100;
    await target.loopStart();
    const c0 = await chat.call('chat.step', { step: 0, mode: 'open', rate: R, window: 4, durationMs: chatMs, drainMs: 5000, startAt, keepTimes: true }, chatMs + 60_000);
    const loopWithout = await target.loopStop();
    const mWithout = meter.stop();
    const without = windowOf(await chat.call('chat.window', { step: 0, from: 0, to: Number.MAX_SAFE_INTEGER }));
    ctx.log(`  ${label}: chat ${R}/s without broadcasts: delivery p50 ${without.delivery.p50.toFixed(1)} ms, p99 ${without.delivery.p99.toFixed(1)} ms (${c0.delivered}/${c0.sent}); server event-loop delay p99 ${loopWithout.p99.toFixed(1)} ms, max ${loopWithout.max.toFixed(1)} ms${mWithout.foreignCores > 0.25 ? ` (disturbed: ${mWithout.foreignCores.toFixed(1)} cores of other work)` : ''}`);
    await sleep(300);

    // 2. The broadcasts alone.
    await settle(ctx, `${label} broadcasts`);
    ctx.progress.phase(`${label}: ${K} broadcasts to ${live.toLocaleString('en-US')} connected`, 3000, 3);
    await target.profileStart();
    let n0 = await chatNotifications();
    meter = new CpuMeter([target.proc, ...recv, host]).start();
    await target.loopStart();
    const sentA = (await sendSeries('A')).sent;
    const cA = await collect(sentA, Date.now() + FANOUT_TIMEOUT_MS);
    const loopA = await target.loopStop();
    const mA = meter.stop();
    await target.profileStop('alone');
    const alone = series('alone', sentA, cA, (await chatNotifications()) - n0, mA, true, loopA);
    ctx.log(`  ${label} alone: ${describe(alone)}`);
    await sleep(300);

    // 3. The broadcasts while the pairs chat.
    await settle(ctx, `${label} broadcasts with chat`);
    ctx.progress.phase(`${label}: chat ${R}/s with ${K} broadcasts`, chatMs, chatMs / 1000);
    await target.profileStart();
    n0 = await chatNotifications();
    meter = new CpuMeter([target.proc, ...recv, host, chat]).start();
    startAt = wallMs() + 100;
    const chatStep = chat.call('chat.step', { step: 1, mode: 'open', rate: R, window: 4, durationMs: chatMs, drainMs: 5000, startAt, keepTimes: true }, chatMs + 60_000);
    const loopB = sleep(Math.max(0, startAt + leadMs - wallMs())).then(() => target!.loopStart());
    const sentB = (await sendSeries('B', startAt + leadMs)).sent;
    const cB = await collect(sentB, Date.now() + Math.max(FANOUT_TIMEOUT_MS, chatMs));
    await loopB;
    const loopDuring = await target.loopStop();
    const c1 = await chatStep;
    const mB = meter.stop();
    await target.profileStop('chat');
    const withChat = series('with chat', sentB, cB, (await chatNotifications()) - n0, mB, false, loopDuring);
    const from = sentB[0]!.sentAt;
    const stepEnd = startAt + chatMs;
    const to = Math.min(cB.lastAt, stepEnd);
    const during = windowOf(await chat.call('chat.window', { step: 1, from, to }));
    const step = windowOf(await chat.call('chat.window', { step: 1, from: 0, to: Number.MAX_SAFE_INTEGER }));
    ctx.log(`  ${label} with chat: ${describe(withChat)}`);
    ctx.log(`  ${label}: chat during the fan-out (${(to - from).toFixed(0)} ms, ${during.n} sends): delivery p50 ${during.delivery.p50.toFixed(1)} ms, p99 ${during.delivery.p99.toFixed(1)} ms, max ${during.delivery.max.toFixed(1)} ms — ${(during.delivery.p99 / without.delivery.p99).toFixed(2)}× the p99 without (${c1.delivered}/${c1.sent} in the step)`);

    // 4. Every connected user: each broadcast once, in id order.
    const all = [...sentA, ...sentB].map((s) => s.id).sort();
    const ver = await Promise.all(recv.map((gen) => gen.call('broadcast.verify', { expected: all })));
    const vsum = (k: string) => ver.reduce((a, v) => a + (v[k] as number), 0);
    const check = {
      clients: vsum('clients'), complete: vsum('complete'), missing: vsum('missing'), duplicated: vsum('duplicated'),
      outOfOrder: vsum('outOfOrder'), unknown: vsum('unknown'), closes: vsum('closes'), errors: vsum('errors'),
    };
    const cv = await chat.call('chat.verify');
    const chatCheck = {
      unacked: cv.unacked as number, undelivered: cv.undelivered as number, duplicated: (cv.dupAck as number) + (cv.dupDel as number),
      gaps: (cv.gaps as number) + (cv.reordered as number), notifications: cv.notifications as number, expectedNotifications: 2 * P * all.length, ok: false,
    };
    chatCheck.ok = chatCheck.unacked === 0 && chatCheck.undelivered === 0 && chatCheck.duplicated === 0 && chatCheck.gaps === 0 && chatCheck.notifications === chatCheck.expectedNotifications;

    // 5. Users who were offline come back with a notification catch-up.
    const expectedCatchUp = mode === 'latest' ? all.slice(-1) : all;
    await settle(ctx, `${label} catch-up`);
    ctx.progress.phase(`${label}: ${S} offline users catch up`, 3000, 2);
    await target.profileStart();
    meter = new CpuMeter([target.proc, host]).start();
    const cu = await host.call('broadcast.catchup', { urls: offline.map((u) => t.connectUrl(u, tokens.get(u)!, [], true)), concurrency: 32, localAddress: hg.addrs[0], timeoutMs: 30_000 }, 600_000);
    const mC = meter.stop();
    await target.profileStop('catchup');
    const cuv = await host.call('broadcast.verify', { expected: expectedCatchUp });
    const catchUp = {
      clients: S, opened: cu.opened as number, failed: cu.failed as number, expectedEach: expectedCatchUp.length,
      complete: cuv.complete as number, missing: cuv.missing as number, duplicated: cuv.duplicated as number, outOfOrder: cuv.outOfOrder as number,
      unknown: cuv.unknown as number, sentMismatch: cuv.sentMismatch as number, unreadMin: cu.unreadMin as number, unreadMax: cu.unreadMax as number,
      syncDone: lat([cu.latency]), totalMs: cu.ms as number, serverCpuPerClientMs: mC.cpuMs[0]! / Math.max(1, S), foreignCores: mC.foreignCores,
    };
    ctx.log(`  ${label}: ${catchUp.complete}/${S} offline users got ${mode === 'latest' ? `the newest broadcast (kind ${bKind} is "latest")` : `all ${all.length} broadcasts`} once on catch-up; connect → sync_done p50 ${catchUp.syncDone.p50.toFixed(0)} ms, p99 ${catchUp.syncDone.p99.toFixed(0)} ms${catchUp.failed ? `; ${catchUp.failed} FAILED: ${(cu.samples as string[]).join('; ')}` : ''}`);

    // 6. Stored once: what the database file holds.
    let stored: BroadcastRun['stored'] = null;
    if (kind === 'careline') {
      stored = await target.proc.call('notificationRows', { tenantId: t.tenantId, ids: all });
      ctx.log(`  ${label}: stored: ${stored!.notifications} notification rows for ${all.length} broadcasts to ${stored!.users.toLocaleString('en-US')} users, ${stored!.recipientRows} per-user rows`);
    }

    await Promise.all([...recv.map((gen) => gen.call('broadcast.close')), host.call('broadcast.close'), chat.call('chat.close')]);
    return {
      users: U, connected: live, offline: S, pairs: P, chatRate: R, kind: bKind, mode,
      setup: { usersMs, usersPerSec: kind === 'careline' ? U / (usersMs / 1000) : NaN, loginsMs, connectMs, connectFailed, failSamples: opened.flatMap((r) => r.samples).slice(0, 3) },
      alone, withChat,
      chat: {
        without, during, step, windowMs: to - from, loopWithout, outlasted: cB.lastAt > stepEnd,
        p50Ratio: during.delivery.p50 / without.delivery.p50, p99Ratio: during.delivery.p99 / without.delivery.p99,
        foreignCoresWithout: mWithout.foreignCores, foreignCoresDuring: mB.foreignCores, check: chatCheck,
      },
      check, catchUp, stored,
    };
  } finally {
    await stopAll([...recv, chat, host, target]);
  }
}
