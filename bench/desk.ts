/**
 * The front-desk benchmark (`npm run bench -- --only desk`, or alone: `node bench/desk.ts`):
 * simulated website visitors and front-desk staff against a real Careline server in its own
 * process (`bench/desk-server.ts`, SQLite).
 *
 * - Visitors (default 1,000) arrive evenly over `--arrival` seconds. Each is the widget's own
 *   client (`apps/web/src/desk/widget/visitor.ts`): state init with the widget key (a new
 *   visitor), visit tracking, Careline's WebSocket (a share on seed 002's long-poll `/pull`),
 *   the heartbeat. Most browse a few pages and leave; `--ask` of them ask a question
 *   (`request_chat` + text), reply once to the answer, and give up (close: abandoned) when
 *   nobody claimed the chat within their patience (20–60 s).
 * - Staff (default 20) poll the queue every second as the console does, claim one of the
 *   oldest chats (several staff racing for the same chat: the losers get `desk.already_claimed`),
 *   answer within 0.5–2 s, answer the visitor's reply, and close the chat (resolved) after
 *   3–8 s; each holds at most `--per-staff` chats at once.
 *
 * Reported: queue figures measured by the clients (waiting time request → claim p50/p90,
 * first response request → the visitor sees the first answer, chats per staff member,
 * abandoned, claim races lost) beside the server's own `GET /api/desk/stats`; the HTTP
 * latencies of the endpoints; delivery of a staff answer to the visitor; the server's CPU
 * and memory (from /proc). Bounded: at most `--max` seconds in all, then every client stops.
 *
 *   node bench/desk.ts [--visitors 1000] [--staff 20] [--arrival 40] [--ask 0.3] [--per-staff 3]
 *                      [--longpoll 0.1] [--max 150] [--seed 1] [--out FILE]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { VisitorClient, DeskError } from '../apps/web/src/desk/widget/visitor.ts';
import { Histogram } from './lib/hist.ts';
import { fmt, rng, sleep } from './lib/util.ts';
import type { Ctx } from './lib/ctx.ts';

export interface DeskBenchOptions {
  visitors: number;
  staff: number;
  /** Seconds over which the visitors arrive. */
  arrivalS: number;
  /** Share of visitors who ask a question. */
  ask: number;
  /** Chats one staff member holds at once. */
  perStaff: number;
  /** Share of visitors on long-polling instead of the WebSocket. */
  longpoll: number;
  /** Hard bound of the whole run, in seconds. */
  maxS: number;
  seed: number;
  log?: (line: string) => void;
}

export interface Quantiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface DeskBenchResult {
  options: Omit<DeskBenchOptions, 'log'>;
  wallS: number;
  visitors: { started: number; failed: number; websocket: number; longpoll: number; pageViews: number };
  chats: { requested: number; claimed: number; answered: number; closed: number; abandoned: number; unserved: number; claimRacesLost: number; staleClaims: number };
  /** Client-measured (ms): request → claim; request → the visitor sees the first answer; claim → first answer seen; a staff answer sent → seen by the visitor. */
  waiting: Quantiles;
  firstResponse: Quantiles;
  claimToAnswer: Quantiles;
  delivery: Quantiles;
  perStaff: { min: number; max: number; mean: number; counts: number[] };
  http: Record<string, Quantiles>;
  errors: Record<string, number>;
  /** The server's own figures (`GET /api/desk/stats`). */
  serverStats: unknown;
  resources: { serverCpuPct: number; serverRssPeakMiB: number; serverRssEndMiB: number; loadCpuPct: number; loadRssMiB: number; cpus: number; loadavgStart: number[]; loadavgEnd: number[] };
}

const q = (h: Histogram): Quantiles => ({ n: h.n, p50: h.quantile(0.5), p90: h.quantile(0.9), p99: h.quantile(0.99), max: h.n ? h.max : NaN });

interface Server {
  url: string;
  apiKey: string;
  tenantId: string;
  pid: number;
  child: ChildProcess;
}

async function startDeskServer(): Promise<Server> {
  const script = fileURLToPath(new URL('./desk-server.ts', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the desk bench server did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`the desk bench server exited (${code})`)));
    lines.on('line', (l) => {
      try {
        const j = JSON.parse(l) as Record<string, unknown>;
        if (j['ready']) {
          clearTimeout(timer);
          resolve(j);
        }
      } catch {
        // Not the ready line.
      }
    });
  });
  return { url: String(ready['url']), apiKey: String(ready['apiKey']), tenantId: String(ready['tenantId']), pid: Number(ready['pid']), child };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (s.child.exitCode === null) s.child.kill('SIGKILL');
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
function procStat(pid: number): { cpuS: number; rssMiB: number; hwmMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = 100;
  const cpuS = (Number(f[11]) + Number(f[12])) / ticks;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS, rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
}

export async function runDeskBench(o: DeskBenchOptions): Promise<DeskBenchResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const rand = rng(o.seed);
  const between = (a: number, b: number) => a + (b - a) * rand();
  const http: Record<string, Histogram> = {};
  const errors: Record<string, number> = {};
  const err = (k: string) => (errors[k] = (errors[k] ?? 0) + 1);
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      (http[name] ??= new Histogram()).record(performance.now() - t0);
    }
  };
  /** A fetch that times each desk endpoint by its path. */
  const timedFetch: typeof fetch = async (input, init) => {
    const u = new URL(String(input instanceof Request ? input.url : input));
    const body = typeof init?.body === 'string' ? init.body : '';
    const type = /"type":"(request_chat|text)"/.exec(body)?.[1];
    const parts = u.pathname.split('/');
    const name = u.pathname === '/api/message' ? `message ${type ?? '?'}`
      : u.pathname.startsWith('/api/desk/chats/') ? `chat ${parts.length > 5 ? parts[5] : 'get'}`
      : u.pathname.startsWith('/api/v2/') || u.pathname === '/pull' || u.pathname.startsWith('/api/desk/widget-keys') ? ''
      : u.pathname;
    if (!name) return fetch(input, init);
    return timed(name, () => fetch(input, init));
  };

  const server = await startDeskServer();
  log(`desk bench: server ${server.url} (pid ${server.pid}); ${o.visitors} visitors over ${o.arrivalS} s (${Math.round(o.ask * 100)}% ask), ${o.staff} staff × ${o.perStaff} chats, ≤ ${o.maxS} s`);
  const api = async (method: string, path: string, body?: unknown, token?: string): Promise<any> => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : { 'x-api-key': server.apiKey };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await timedFetch(server.url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    const j = text ? JSON.parse(text) : {};
    if (!r.ok) throw new DeskError(String(j.code ?? r.status), String(j.message ?? ''), r.status, j.details);
    return j;
  };

  const t0 = performance.now();
  const deadline = t0 + o.maxS * 1000;
  const left = () => deadline - performance.now();
  const cpu0 = procStat(server.pid);
  const loadavgStart = os.loadavg().map((x) => +x.toFixed(2));
  const load0 = process.cpuUsage();
  let rssPeak = cpu0.hwmMiB;

  try {
    const { key } = await api('POST', '/api/desk/widget-keys', { name: 'bench' });
    // Staff: Careline users of the clinic, signed in by the integrator.
    const staff: { id: string; name: string; token: string; cid: string; active: number; claimed: number }[] = [];
    for (let i = 0; i < o.staff; i++) {
      const id = `staff-${i}`;
      await api('PUT', `/api/v2/management/users/${id}`, { role: 'staff', name: `Staff ${i}` });
      const { token } = await api('POST', '/api/v2/users/login', { user_id: id });
      const init = await api('GET', '/api/state/init', undefined, token);
      staff.push({ id, name: `Staff ${i}`, token, cid: String(init.cid), active: 0, claimed: 0 });
    }

    interface ChatTrack {
      visitor: VisitorClient;
      requestedAt: number;
      claimedAt?: number;
      firstSeenAt?: number;
      sentAt: Map<string, number>;
      replied?: () => void;
      done: boolean;
      abandoned: boolean;
    }
    const chats = new Map<string, ChatTrack>();
    const claims = new Map<string, number>();
    const waiting = new Histogram();
    const firstResponse = new Histogram();
    const claimToAnswer = new Histogram();
    const delivery = new Histogram();
    let requested = 0;
    let claimed = 0;
    let answered = 0;
    let closed = 0;
    let abandoned = 0;
    let racesLost = 0;
    let staleClaims = 0;
    let pageViews = 0;
    let failed = 0;
    let started = 0;
    let onLongpoll = 0;
    let running = true;
    const visitors: VisitorClient[] = [];
    const tasks: Promise<unknown>[] = [];

    const visit = async (i: number) => {
      const asks = rand() < o.ask;
      const patience = between(20_000, 60_000);
      const pages = 1 + Math.floor(rand() * 3);
      const longpoll = rand() < o.longpoll;
      let track: ChatTrack | undefined;
      const v: VisitorClient = new VisitorClient({
        baseUrl: server.url, key, page: { url: `https://clinic.example/page/${i % 20}`, title: `Page ${i % 20}`, referer: 'https://search.example/' },
        env: { os: 'Linux', browser: 'bench' }, transport: longpoll ? 'longpoll' : 'websocket', fetch: timedFetch,
        on: {
          message: (m) => {
            if (!track || m.type !== 'text') return;
            const now = performance.now();
            const sent = m.text ? track.sentAt.get(m.text) : undefined;
            if (sent !== undefined) delivery.record(now - sent);
            if (track.firstSeenAt === undefined) {
              track.firstSeenAt = now;
              firstResponse.record(now - track.requestedAt);
              if (track.claimedAt !== undefined) claimToAnswer.record(now - track.claimedAt);
              answered++;
              // The visitor thanks once, a moment later.
              setTimeout(() => {
                if (running && !track!.done) void timed('visitor reply', () => v.say('Thank you!')).then(() => track!.replied?.(), () => err('visitor reply'));
              }, between(500, 2000));
            }
          },
          closed: () => {
            if (track) track.done = true;
          },
          error: () => err('visitor connection'),
        },
      });
      visitors.push(v);
      try {
        await v.start();
        started++;
        if (longpoll) onLongpoll++;
        pageViews++;
      } catch (e) {
        failed++;
        err(`visitor start: ${e instanceof DeskError ? e.code : (e as Error).message}`);
        return;
      }
      if (asks) {
        await sleep(between(1000, 5000));
        if (!running) return;
        const at = performance.now();
        try {
          await v.say('Hello, can I book a check-up this week?');
        } catch (e) {
          err(`request: ${e instanceof DeskError ? e.code : (e as Error).message}`);
          return;
        }
        requested++;
        track = { visitor: v, requestedAt: at, sentAt: new Map(), done: false, abandoned: false };
        chats.set(v.chat!.id, track);
        // Claimed already, while the question was on its way.
        const early = claims.get(v.chat!.id);
        if (early !== undefined) {
          track.claimedAt = early;
          waiting.record(early - at);
        }
        const end = performance.now() + patience;
        while (running && performance.now() < end && track.claimedAt === undefined) await sleep(250);
        if (running && track.claimedAt === undefined && !track.done) {
          try {
            await timed('visitor abandons', () => v.leave());
            track.abandoned = true;
            track.done = true;
            abandoned++;
          } catch (e) {
            // A staff member claimed it meanwhile: the chat goes on.
            if (!(e instanceof DeskError)) err('abandon');
          }
        }
        while (running && !track.done) await sleep(250);
      } else {
        for (let p = 1; p < pages && running; p++) {
          await sleep(between(3000, 10_000));
          if (!running) break;
          try {
            await v.track({ url: `https://clinic.example/page/${(i + p) % 20}`, title: `Page ${(i + p) % 20}`, referer: '' });
            pageViews++;
          } catch {
            err('track');
          }
        }
        await sleep(between(2000, 8000));
      }
      v.stop();
    };

    const work = async (s: (typeof staff)[number]) => {
      const handle = async (chatId: string) => {
        const track = chats.get(chatId);
        try {
          await sleep(between(500, 2000));
          const text = `Hello from ${s.name}: yes, we have slots on Thursday. (${chatId.slice(0, 6)})`;
          track?.sentAt.set(text, performance.now());
          await api('POST', '/api/message', { cid: s.cid, type: 'text', from: { id: s.id, name: s.name, role: 'staff' }, chat: { id: chatId }, text }, s.token);
          const replied = new Promise<void>((r) => {
            if (track) track.replied = r;
          });
          await Promise.race([replied, sleep(between(3000, 8000))]);
          if (!running) return;
          const bye = `Booked. See you on Thursday! (${chatId.slice(0, 6)})`;
          track?.sentAt.set(bye, performance.now());
          await api('POST', '/api/message', { cid: s.cid, type: 'text', from: { id: s.id, name: s.name, role: 'staff' }, chat: { id: chatId }, text: bye }, s.token);
          await api('POST', `/api/desk/chats/${chatId}/close`, { outcome: 'resolved' }, s.token);
          closed++;
          if (track) track.done = true;
        } catch (e) {
          err(`staff handle: ${e instanceof DeskError ? e.code : (e as Error).message}`);
          if (track) track.done = true;
        } finally {
          s.active--;
        }
      };
      while (running) {
        await sleep(between(800, 1200));
        if (!running || s.active >= o.perStaff) continue;
        let queue: { chat_id: string }[];
        try {
          queue = (await api('GET', `/api/desk/queue?cid=${encodeURIComponent(s.cid)}`, undefined, s.token)).data;
        } catch {
          err('queue');
          continue;
        }
        if (queue.length === 0) continue;
        // One of the oldest few: staff looking at the same screen race for the same chats.
        const pick = queue[Math.floor(rand() * Math.min(3, queue.length))]!;
        try {
          await api('POST', `/api/desk/chats/${pick.chat_id}/claim`, undefined, s.token);
        } catch (e) {
          if (e instanceof DeskError && e.code === 'desk.already_claimed') racesLost++;
          // The visitor gave up between the queue read and the claim.
          else if (e instanceof DeskError && e.code === 'desk.chat_closed') staleClaims++;
          else err(`claim: ${e instanceof DeskError ? e.code : (e as Error).message}`);
          continue;
        }
        const track = chats.get(pick.chat_id);
        claims.set(pick.chat_id, performance.now());
        if (track) {
          track.claimedAt = performance.now();
          waiting.record(track.claimedAt - track.requestedAt);
        }
        claimed++;
        s.claimed++;
        s.active++;
        void handle(pick.chat_id);
      }
    };

    const staffLoops = staff.map((s) => work(s));
    const sampler = setInterval(() => {
      try {
        rssPeak = Math.max(rssPeak, procStat(server.pid).rssMiB);
      } catch {
        // The server is gone: reported below.
      }
    }, 1000);
    const progress = setInterval(() => log(`  ${Math.round((performance.now() - t0) / 1000)} s: ${started} visitors started, ${requested} chats requested, ${claimed} claimed, ${closed} closed, ${abandoned} abandoned`), 10_000);

    // Arrivals, evenly spread; the whole run bounded by --max.
    const gap = (o.arrivalS * 1000) / Math.max(1, o.visitors);
    for (let i = 0; i < o.visitors && left() > 0; i++) {
      tasks.push(visit(i).catch((e: unknown) => err(`visitor: ${(e as Error).message}`)));
      await sleep(gap);
    }
    await Promise.race([Promise.all(tasks), sleep(Math.max(0, left()))]);
    running = false;
    clearInterval(progress);
    clearInterval(sampler);
    for (const v of visitors) v.stop();
    await Promise.race([Promise.all(staffLoops), sleep(5000)]);
    const wallS = (performance.now() - t0) / 1000;
    const cpu1 = procStat(server.pid);
    const load1 = process.cpuUsage(load0);
    const serverStats = await api('GET', `/api/desk/stats?cid=${encodeURIComponent(server.tenantId)}`).then((r) => r.stats, (e: unknown) => ({ error: String(e) }));
    const counts = staff.map((s) => s.claimed);
    const unserved = [...chats.values()].filter((c) => c.claimedAt === undefined && !c.abandoned).length;
    return {
      options: { visitors: o.visitors, staff: o.staff, arrivalS: o.arrivalS, ask: o.ask, perStaff: o.perStaff, longpoll: o.longpoll, maxS: o.maxS, seed: o.seed },
      wallS,
      visitors: { started, failed, websocket: started - onLongpoll, longpoll: onLongpoll, pageViews },
      chats: { requested, claimed, answered, closed, abandoned, unserved, claimRacesLost: racesLost, staleClaims },
      waiting: q(waiting), firstResponse: q(firstResponse), claimToAnswer: q(claimToAnswer), delivery: q(delivery),
      perStaff: { min: Math.min(...counts), max: Math.max(...counts), mean: counts.reduce((a, b) => a + b, 0) / Math.max(1, counts.length), counts },
      http: Object.fromEntries(Object.entries(http).map(([k, h]) => [k, q(h)])),
      errors,
      serverStats,
      resources: {
        serverCpuPct: (100 * (cpu1.cpuS - cpu0.cpuS)) / wallS,
        serverRssPeakMiB: Math.max(rssPeak, cpu1.hwmMiB),
        serverRssEndMiB: cpu1.rssMiB,
        loadCpuPct: (100 * (load1.user + load1.system)) / 1e6 / wallS,
        loadRssMiB: process.memoryUsage().rss / (1 << 20),
        cpus: os.cpus().length,
        loadavgStart,
        loadavgEnd: os.loadavg().map((x) => +x.toFixed(2)),
      },
    };
  } finally {
    await stopServer(server);
  }
}

export function deskTable(r: DeskBenchResult): string {
  const row = (k: string, v: string) => `  ${k.padEnd(44)} ${v}`;
  const qs = (x: Quantiles) => `p50 ${fmt.ms(x.p50)}, p90 ${fmt.ms(x.p90)}, p99 ${fmt.ms(x.p99)}, max ${fmt.ms(x.max)} (n ${x.n})`;
  const s = r.serverStats as { waiting?: { p50_ms: number; p90_ms: number; count: number }; first_response?: { p50_ms: number; p90_ms: number; count: number }; abandoned?: number; per_staff?: unknown[] } | undefined;
  return [
    `Front desk: ${r.options.visitors} visitors (${r.visitors.websocket} WebSocket, ${r.visitors.longpoll} long-poll), ${r.options.staff} staff × ${r.options.perStaff} chats, ${fmt.num(r.wallS, 0)} s`,
    row('visitors started / failed', `${r.visitors.started} / ${r.visitors.failed}; page views ${r.visitors.pageViews}`),
    row('chats requested / claimed / answered / closed', `${r.chats.requested} / ${r.chats.claimed} / ${r.chats.answered} / ${r.chats.closed}`),
    row('abandoned (gave up waiting) / still queued at end', `${r.chats.abandoned} / ${r.chats.unserved}`),
    row('claim races lost (desk.already_claimed)', `${r.chats.claimRacesLost}; claims of chats closed meanwhile ${r.chats.staleClaims}`),
    row('waiting, request → claim', qs(r.waiting)),
    row('first response, request → seen by visitor', qs(r.firstResponse)),
    row('claim → first answer seen', qs(r.claimToAnswer)),
    row('delivery, staff answer → visitor', qs(r.delivery)),
    row('chats per staff member', `min ${r.perStaff.min}, mean ${fmt.num(r.perStaff.mean)}, max ${r.perStaff.max}`),
    ...(s?.waiting ? [row('server stats: waiting', `p50 ${fmt.ms(s.waiting.p50_ms)}, p90 ${fmt.ms(s.waiting.p90_ms)} (n ${s.waiting.count})`)] : []),
    ...(s?.first_response ? [row('server stats: first response', `p50 ${fmt.ms(s.first_response.p50_ms)}, p90 ${fmt.ms(s.first_response.p90_ms)} (n ${s.first_response.count})`)] : []),
    ...(s && s.abandoned !== undefined ? [row('server stats: abandoned', String(s.abandoned))] : []),
    ...Object.entries(r.http).sort().map(([k, v]) => row(`HTTP ${k}`, qs(v))),
    row('server CPU (of one core) / RSS peak / RSS end', `${fmt.num(r.resources.serverCpuPct)}% / ${fmt.num(r.resources.serverRssPeakMiB)} MiB / ${fmt.num(r.resources.serverRssEndMiB)} MiB`),
    row('load generator CPU / RSS', `${fmt.num(r.resources.loadCpuPct)}% / ${fmt.num(r.resources.loadRssMiB)} MiB (${r.resources.cpus} CPUs shared)`),
    row('machine load average, start / end', `${r.resources.loadavgStart.join(' ')} / ${r.resources.loadavgEnd.join(' ')}`),
    ...(Object.keys(r.errors).length ? [row('errors', JSON.stringify(r.errors))] : []),
  ].join('\n');
}

/** `npm run bench -- --only desk`. */
export async function deskScenario(ctx: Ctx): Promise<DeskBenchResult> {
  ctx.progress.phase('desk');
  const quick = ctx.o.duration <= 5;
  const r = await runDeskBench({
    visitors: quick ? 200 : 1000, staff: quick ? 5 : 20, arrivalS: quick ? 10 : 40, ask: 0.3, perStaff: 3, longpoll: 0.1,
    maxS: quick ? 60 : 150, seed: 1, log: ctx.log,
  });
  ctx.log(deskTable(r));
  return r;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: a } = parseArgs({
    options: {
      visitors: { type: 'string' }, staff: { type: 'string' }, arrival: { type: 'string' }, ask: { type: 'string' }, 'per-staff': { type: 'string' },
      longpoll: { type: 'string' }, max: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
    },
  });
  const r = await runDeskBench({
    visitors: Number(a.visitors ?? 1000), staff: Number(a.staff ?? 20), arrivalS: Number(a.arrival ?? 40), ask: Number(a.ask ?? 0.3),
    perStaff: Number(a['per-staff'] ?? 3), longpoll: Number(a.longpoll ?? 0.1), maxS: Number(a.max ?? 150), seed: Number(a.seed ?? 1),
  });
  process.stdout.write(deskTable(r) + '\n');
  if (a.out) writeFileSync(a.out, JSON.stringify({ at: new Date().toISOString(), ...r }, null, 2) + '\n');
  process.exit(0);
}
