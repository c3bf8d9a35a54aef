/**
 * `npm run bench`: the Careline benchmark suite. Starts the server (SQLite, WAL) in its own
 * process, drives it from load-generator processes over real WebSockets on loopback, then
 * runs the same workload against a bare `ws` relay (the baseline) and reports Careline's
 * figures with their ratio to it. Prints a table and writes bench/results/<time>.json (and
 * .md) with the machine, the commit and the Node version.
 *
 *   npm run bench -- [--duration 30] [--only chat,fanout,connections,storm,history,broadcast,transports] [--quick]
 *                    [--backends sqlite,postgres,cluster] [--nodes 3]
 *                    [--pin] [--sync FULL|NORMAL] [--profile] [--no-baseline] [...]
 *
 * With several backends the scenarios run once per backend in the same run (PostgreSQL and
 * Redis started for it on loopback and stopped by pid), and a second table compares them.
 *
 * Run `node bench/run.ts --help` for every flag.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startTarget, stopAll, type BenchOptions, type Ctx } from './lib/ctx.ts';
import { fdLimits } from './lib/proc.ts';
import { Progress } from './lib/progress.ts';
import { backendRows, backendTargets, backendsMarkdown, backendsTerminal, broadcastOk, markdownTable, rows, targets, targetsTable, terminalTable, type Results } from './lib/report.ts';
import { BACKENDS, type Backend } from './lib/target.ts';
import { transportRows, transportsFailed, transportsMarkdown, transportsTerminal } from './lib/report-transports.ts';
import { broadcastScenario, broadcastSizes } from './scenarios/broadcast.ts';
import { chatScenario } from './scenarios/chat.ts';
import { connectionsScenario, connectionTarget } from './scenarios/connections.ts';
import { fanoutScenario } from './scenarios/fanout.ts';
import { historyScenario } from './scenarios/history.ts';
import { HISTORY_PAGES, type HistoryKind } from './load/history.ts';
import { stormScenario } from './scenarios/storm.ts';
import { pushTable, runPushBench, type PushBenchResult } from './push.ts';
import { transportsScenario } from './scenarios/transports.ts';
import { TRANSPORTS, type TransportName } from './load/transport.ts';
import { searchScenario } from './search.ts';
import { uploadScenario } from './upload.ts';
import { deskScenario } from './desk.ts';
import { callsScenario } from './calls.ts';

const SCENARIOS = ['chat', 'fanout', 'connections', 'storm', 'history', 'broadcast', 'push', 'transports', 'search', 'upload', 'desk', 'calls'] as const;
type Scenario = (typeof SCENARIOS)[number];
/** What runs on PostgreSQL and on a cluster (the rest is SQLite's: one node's limits). */
const NETWORKED: readonly Scenario[] = ['chat', 'fanout', 'storm', 'search'];

const HELP = `Careline benchmark suite

  node bench/run.ts [flags]        (npm run bench -- [flags])

  --duration S              load time of each scenario, per server (default 30)
  --only LIST               scenarios to run, comma-separated: ${SCENARIOS.join(',')}
  --backends LIST           Careline's backends, each a pass of the scenarios in this run (default sqlite):
                              sqlite    one node on an SQLite file
                              postgres  one node on PostgreSQL (started for the run)
                              cluster   --nodes nodes on PostgreSQL + Redis, clients spread over them
                            postgres and cluster run ${NETWORKED.join(', ')}; the baseline runs once
  --nodes N                 nodes of the cluster backend (default 3)
  --quick                   small sizes and 5 s scenarios (a smoke run, about 2 minutes)
  --sync FULL|NORMAL        SQLite synchronous mode (default FULL: each group commit fsynced)
                            (PostgreSQL backends: FULL = fsync and synchronous_commit on, NORMAL = off)
  --writer worker|inline    where Careline's SQLite writes run (storage.sqliteWriter, default worker)
  --pin                     taskset: server on CPU 0, load generators on CPU 1
  --gens N                  load generator processes for chat and fan-out (default 2)
  --pairs N                 1:1 chat: patient/doctor pairs (default 200)
  --chat-rates R1,R2        1:1 chat: offered rates instead of 25/50/75/100% of the maximum
  --groups N1,N2            group sizes (default 100,500; a 10%-online variant of the largest)
  --connections N           connections scenario: how many (default: ulimit -n hard limit - 300)
  --storm-clients N         reconnect storm: clients (default 10000)
  --storm-rate R            reconnect storm: messages/s sent throughout (default 2000)
  --storm-spread S          reconnect storm: clients reconnect within S seconds (default 3)
  --history-messages N      history and search: messages stored (default 1000000)
  --history-conversations N history: conversations (default 1000)
  --history-pages LIST      history: the pages read, comma-separated: latest,deep,since (default all)
  --history-concurrency LIST  history: reads in flight, each a phase (default 1,8)
  --broadcast-users N       broadcast: users of the tenant (default 100000)
  --broadcast-connected N   broadcast: of them connected (default 10000; bounded by ulimit -n)
  --broadcast-offline N     broadcast: offline users who come back with a catch-up (default 1000)
  --broadcasts N            broadcast: tenant broadcasts in a row, per series (default 5)
  --broadcast-pairs N       broadcast: patient/doctor pairs chatting meanwhile (default 100)
  --broadcast-chat-rate R   broadcast: their open-loop rate, msg/s (default 1000)
  --broadcast-kind KIND     broadcast: the notification kind (default S2C_SYSTEM_PUSH, mode latest;
                            another name is registered with mode each)
  --transports LIST         transports: compared over ${TRANSPORTS.join(',')} (default all; chat with --pairs,
                            the storm, and with mqtt Mosquitto's QoS 1 relay rate and idle connections)
  --transport-storm-clients N  transports: reconnect storm clients per transport (default 2000; 0: no storm)
  --mqtt-idle N             transports: idle MQTT connections on Careline and on Mosquitto (default 2000; 0: none)
  --quiet-wait S            before each measured phase wait up to S s for the (shared) machine
                            to be quiet (default 20; 0: do not wait)
  --push-users N            push: offline users, one message and one install each (default 10000)
  --push-rate R             push: messages sent per second (default 1000)
  --push-workers N          push: Careline's push.workers, and the baseline loop's concurrency (default 16)
  --profile                 write V8 CPU profiles of the Careline server (bench/results/profiles-*)
  --no-baseline             run Careline only
  --baseline-store          the baseline keeps each message in SQLite (WAL, synchronous=FULL, one
                            transaction per turn) before its ack and delivery, and answers sync
                            and history from that file: the floor for Careline with storage
  --out FILE                results file (default bench/results/<time>.json)
`;

const { values: a } = parseArgs({
  options: {
    duration: { type: 'string' },
    only: { type: 'string' },
    backends: { type: 'string' },
    nodes: { type: 'string' },
    quick: { type: 'boolean', default: false },
    sync: { type: 'string', default: 'FULL' },
    writer: { type: 'string', default: 'worker' },
    pin: { type: 'boolean', default: false },
    gens: { type: 'string' },
    pairs: { type: 'string' },
    'chat-rates': { type: 'string' },
    groups: { type: 'string' },
    connections: { type: 'string' },
    'storm-clients': { type: 'string' },
    'storm-rate': { type: 'string' },
    'storm-spread': { type: 'string' },
    'quiet-wait': { type: 'string' },
    'history-messages': { type: 'string' },
    'history-conversations': { type: 'string' },
    'history-pages': { type: 'string' },
    'history-concurrency': { type: 'string' },
    'broadcast-users': { type: 'string' },
    'broadcast-connected': { type: 'string' },
    'broadcast-offline': { type: 'string' },
    broadcasts: { type: 'string' },
    'broadcast-pairs': { type: 'string' },
    'broadcast-chat-rate': { type: 'string' },
    'broadcast-kind': { type: 'string' },
    'push-users': { type: 'string' },
    'push-rate': { type: 'string' },
    'push-workers': { type: 'string' },
    transports: { type: 'string' },
    'transport-storm-clients': { type: 'string' },
    'mqtt-idle': { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-baseline': { type: 'boolean', default: false },
    'baseline-store': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (a.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
const resultsDir = join(root, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
const list = (v: string | undefined) => (v ? v.split(',').map((x) => Number(x.trim())).filter((x) => x > 0) : null);
const q = a.quick;
const only = (a.only ? a.only.split(',').map((s) => s.trim()) : [...SCENARIOS]) as Scenario[];
for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}"; use ${SCENARIOS.join(', ')}`);
const backends = (a.backends ? [...new Set(a.backends.split(',').map((s) => s.trim()).filter(Boolean))] : ['sqlite']) as Backend[];
for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`unknown backend "${b}"; use ${BACKENDS.join(', ')}`);
if (!backends.length) throw new Error('--backends: name at least one');
const historyPages = (a['history-pages'] ? [...new Set(a['history-pages'].split(',').map((s) => s.trim()).filter(Boolean))] : [...HISTORY_PAGES]) as HistoryKind[];
for (const k of historyPages) if (!HISTORY_PAGES.includes(k)) throw new Error(`--history-pages: unknown page "${k}"; use ${HISTORY_PAGES.join(', ')}`);
if (!historyPages.length) throw new Error('--history-pages: name at least one');
const historyConcurrency = list(a['history-concurrency']) ?? [1, 8];
if (!historyConcurrency.length || historyConcurrency.some((c) => !Number.isInteger(c))) throw new Error(`--history-concurrency ${a['history-concurrency']}: whole numbers ≥ 1`);
const nodes = num(a.nodes, 3);
if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`--nodes ${a.nodes}: a whole number ≥ 1`);
/** Each backend's pass: its scenarios and the servers they run against (the baseline only in the first pass). */
const passes = backends.map((b, i) => ({
  backend: b,
  scenarios: b === 'sqlite' ? only : only.filter((s) => NETWORKED.includes(s)),
  kinds: i === 0 ? (a['no-baseline'] ? ['careline'] : ['careline', 'baseline']) as BenchOptions['kinds'] : ['careline'] as BenchOptions['kinds'],
}));

const o: BenchOptions = {
  duration: num(a.duration, q ? 5 : 30),
  pin: a.pin,
  sync: a.sync === 'NORMAL' ? 'NORMAL' : 'FULL',
  writer: a.writer === 'inline' ? 'inline' : 'worker',
  gens: num(a.gens, 2),
  profile: a.profile ? join(resultsDir, `profiles-${stamp}`) : null,
  pairs: num(a.pairs, q ? 50 : 200),
  chatRates: list(a['chat-rates']),
  groupSizes: list(a.groups) ?? (q ? [100] : [100, 500]),
  connections: num(a.connections, q ? 2000 : 0),
  stormClients: num(a['storm-clients'], q ? 1000 : 10_000),
  stormRate: num(a['storm-rate'], q ? 500 : 2000),
  historyMessages: num(a['history-messages'], q ? 100_000 : 1_000_000),
  historyConversations: num(a['history-conversations'], q ? 100 : 1000),
  historyPages,
  historyConcurrency,
  kinds: a['no-baseline'] ? ['careline'] : ['careline', 'baseline'],
  baselineStore: a['baseline-store'],
  stormSpreadMs: num(a['storm-spread'], 3) * 1000,
  quietWait: num(a['quiet-wait'], q ? 0 : 20),
  broadcastUsers: num(a['broadcast-users'], q ? 10_000 : 100_000),
  broadcastConnected: num(a['broadcast-connected'], q ? 2000 : 10_000),
  broadcastOffline: num(a['broadcast-offline'], q ? 200 : 1000),
  broadcastCount: num(a.broadcasts, 5),
  broadcastPairs: num(a['broadcast-pairs'], q ? 50 : 100),
  broadcastChatRate: num(a['broadcast-chat-rate'], q ? 500 : 1000),
  broadcastKind: a['broadcast-kind'] ?? 'S2C_SYSTEM_PUSH',
  backend: backends[0]!,
  nodes,
  transports: (a.transports ? a.transports.split(',').map((x) => x.trim()).filter(Boolean) : [...TRANSPORTS]) as TransportName[],
  transportStormClients: num(a['transport-storm-clients'], q ? 300 : 2000),
  mqttIdle: num(a['mqtt-idle'], q ? 300 : 2000),
};
for (const t of o.transports) if (!TRANSPORTS.includes(t)) throw new Error(`--transports: unknown "${t}"; use ${TRANSPORTS.join(', ')}`);
if (o.profile) mkdirSync(o.profile, { recursive: true });

const progress = new Progress(passes.reduce((t, p) => t + p.scenarios.length * p.kinds.length * o.duration + (p.scenarios.includes('storm') ? p.kinds.length * 10 : 0), 0));
const ctx: Ctx = { o, progress, log: (l) => progress.log(l) };

/*
 * Every process the bench starts (Careline's nodes, the baseline, the load generators) runs
 * with Node's compile cache, as `npm start` and the `careline` command do
 * (packages/server/bin/careline.mjs): a thread that strips no TypeScript does not load Node's
 * type stripper (15-17 MiB of resident memory). The cache is filled before the first measured
 * start: one SQLite node and the baseline are started and stopped, and the modules only a
 * PostgreSQL or Redis node loads are imported in a process of their own.
 */
module.enableCompileCache();
process.env.NODE_COMPILE_CACHE ??= module.getCompileCacheDir();

async function warmCompileCache(): Promise<void> {
  const wctx: Ctx = { ...ctx, o: { ...o, backend: 'sqlite', profile: null } };
  for (const kind of o.kinds) await stopAll([await startTarget(wctx, kind, 'warm-up')]);
  const modules = ['storage/postgres/index.ts', 'bus/bus-redis.ts', 'presence/redis.ts', 'presence/registry-redis.ts']
    .map((m) => JSON.stringify(join(root, 'packages/server/src', m)));
  execFileSync(process.execPath, ['--input-type=module', '-e', `for (const m of [${modules.join(',')}]) await import(m);`], { stdio: 'ignore' });
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

const limits = fdLimits();
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? '?',
  memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  kernel: `${os.type()} ${os.release()}`,
  loadavgStart: os.loadavg().map((x) => +x.toFixed(2)),
  fdLimit: limits,
  taskset: !!sh('sh', ['-c', 'command -v taskset']),
};
const info = {
  startedAt: new Date().toISOString(),
  commit: sh('git', ['rev-parse', 'HEAD']) || 'unknown',
  dirty: sh('git', ['status', '--porcelain']).length > 0,
  node: process.version,
  machine,
  backends,
  options: {
    ...o, connections: only.includes('connections') ? connectionTarget(ctx).n : o.connections,
    broadcastConnected: only.includes('broadcast') ? broadcastSizes(ctx).connected : o.broadcastConnected,
  },
};

const byBackend: Partial<Record<Backend, Results>> = {};
const errors: Record<string, string> = {};
const runners: Record<Scenario, (c: Ctx) => Promise<unknown>> = {
  chat: chatScenario, fanout: fanoutScenario, connections: connectionsScenario, storm: stormScenario, history: historyScenario, broadcast: broadcastScenario,
  push: (c) => runPushBench({
    users: num(a['push-users'], q ? 1000 : 10_000), sendRate: num(a['push-rate'], 1000), workers: num(a['push-workers'], 16), log: c.log,
  }),
  transports: transportsScenario,
  search: searchScenario,
  upload: uploadScenario,
  desk: deskScenario,
  calls: callsScenario,
};

process.stderr.write(`Careline bench — ${machine.cpus} × ${machine.cpuModel}, Node ${process.version}, commit ${info.commit.slice(0, 10)}${info.dirty ? ' (dirty)' : ''}, SQLite synchronous=${o.sync}, writer=${o.writer}${o.pin ? ', pinned' : ''}\n`);
process.stderr.write(`scenarios: ${only.join(', ')}; ${o.duration} s of load each, per server (${o.kinds.join(' and ')})\n`);
if (backends.length > 1 || backends[0] !== 'sqlite') process.stderr.write(`backends: ${passes.map((p) => `${p.backend}${p.backend === 'cluster' ? ` (${nodes} nodes)` : ''}: ${p.scenarios.join(', ') || 'nothing'}`).join('; ')}\n`);
const t0 = Date.now();
await warmCompileCache();
for (const pass of passes) {
  const res: Results = (byBackend[pass.backend] = {});
  const pctx: Ctx = { ...ctx, o: { ...o, backend: pass.backend, kinds: pass.kinds } };
  if (passes.length > 1) progress.log(`backend ${pass.backend}${pass.backend === 'cluster' ? ` (${nodes} nodes)` : ''}`);
  for (const s of pass.scenarios) {
    const key = passes.length > 1 ? `${pass.backend}/${s}` : s;
    try {
      (res as Record<string, unknown>)[s] = await runners[s](pctx);
    } catch (err) {
      errors[key] = (err as Error).stack ?? String(err);
      progress.log(`scenario ${key} failed: ${(err as Error).message}`);
    }
  }
}
progress.done();

// The first backend's results are the main table (against the baseline), as with one backend.
const results = byBackend[backends[0]!]!;
const table = rows(results);
const baselineName = o.baselineStore ? 'ws baseline + SQLite' : 'ws baseline';
const multi = backends.length > 1;
const bTable = multi ? backendRows(byBackend, backends) : [];
const checks = [...targets(results), ...backendTargets(byBackend)];
const tTable = results.transports ? transportRows(results.transports) : [];
if (results.transports) for (const [k, v] of Object.entries(results.transports.errors)) errors[`transports/${k}`] = v;
const out = {
  ...info, finishedAt: new Date().toISOString(), wallSeconds: Math.round((Date.now() - t0) / 1000), loadavgEnd: os.loadavg().map((x) => +x.toFixed(2)),
  results, ...(multi || backends[0] !== 'sqlite' ? { byBackend } : {}), targets: checks, errors,
};
const pushResult = (results as { push?: PushBenchResult }).push;
const file = a.out ?? join(resultsDir, `${stamp}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
const md = [
  `Run of ${info.startedAt} — commit ${info.commit.slice(0, 10)}${info.dirty ? ' (uncommitted changes)' : ''}, Node ${process.version}, ${machine.cpus} × ${machine.cpuModel}, ${machine.memGiB} GiB, ${machine.kernel}, SQLite synchronous=${o.sync} (writes in ${o.writer === 'worker' ? 'the writer thread' : 'the event loop'})${o.pin ? ', server pinned to CPU 0 and generators to CPU 1' : ', not pinned'}, ${o.duration} s per scenario and server. Load average at start ${machine.loadavgStart.join(' ')}, at end ${out.loadavgEnd.join(' ')}.`,
  '',
  ...(table.length ? [markdownTable(table, baselineName), ''] : []),
  ...(tTable.length ? ['Transports (Careline on SQLite; Mosquitto beside it in the same run):', '', transportsMarkdown(tTable), ''] : []),
  ...(multi ? [`Backends (${backends.join(', ')}${backends.includes('cluster') ? `; cluster: ${nodes} nodes on PostgreSQL + Redis, clients spread over the nodes round-robin` : ''}):`, '', backendsMarkdown(bTable, backends, nodes), ''] : []),
  ...(checks.length ? [targetsTable(checks, true), ''] : []),
  ...(pushResult ? [pushTable(pushResult), ''] : []),
].join('\n');
writeFileSync(file.replace(/\.json$/, '') + '.md', md);

process.stdout.write((table.length ? '\n' + terminalTable(table, baselineName) + '\n' : '') + (tTable.length ? '\nTransports:\n' + transportsTerminal(tTable) + '\n' : '') + (multi ? '\nBackends:\n' + backendsTerminal(bTable, backends, nodes) + '\n' : '') + (checks.length ? '\nTargets:\n' + targetsTable(checks, false) + '\n' : '') + (pushResult ? '\n' + pushTable(pushResult) + '\n' : ''));
process.stdout.write(`\nResults: ${relative(process.cwd(), file)} (and .md)${o.profile ? `; CPU profiles: ${relative(process.cwd(), o.profile)}` : ''}; ${out.wallSeconds} s\n`);
const failedChecks = Object.values(byBackend).some((r) => [
  r.chat?.careline && !r.chat.careline.check.ok,
  r.storm?.careline && (r.storm.careline.missed > 0 || r.storm.careline.duplicated > 0),
  r.fanout?.careline?.some((v) => v.missing > 0 || v.duplicates > 0 || v.gaps > 0),
  r.broadcast?.careline && !broadcastOk(r.broadcast.careline),
  (r as { push?: PushBenchResult }).push && ((r as { push: PushBenchResult }).push.careline.lost > 0 || (r as { push: PushBenchResult }).push.careline.doubled > 0),
  r.transports && transportsFailed(r.transports),
].some(Boolean));
const leftBehind = Object.values(byBackend).reduce((n, r) => n + (r.storm?.careline?.notBack ?? 0), 0);
if (Object.keys(errors).length) process.stdout.write(`\nFailed scenarios: ${Object.keys(errors).join(', ')} (stack traces in the results file)\n`);
if (failedChecks) process.stdout.write('\nA delivery check failed (loss, duplicate or gap; for a broadcast also order, catch-up or rows stored): see the table.\n');
if (leftBehind) process.stdout.write(`\nReconnect storm: ${leftBehind} clients had not got back after 60 s (not a loss: they never synced).\n`);
// Missed targets are findings, not failures; a lost or doubled message, or a broken scenario, is.
process.exit(Object.keys(errors).length || failedChecks ? 1 : 0);
