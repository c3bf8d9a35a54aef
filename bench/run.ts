/**
 * `npm run bench`: the Careline benchmark suite. Starts the server (SQLite, WAL) in its own
 * process, drives it from load-generator processes over real WebSockets on loopback, then
 * runs the same workload against a bare `ws` relay (the baseline) and reports Careline's
 * figures with their ratio to it. Prints a table and writes bench/results/<time>.json (and
 * .md) with the machine, the commit and the Node version.
 *
 *   npm run bench -- [--duration 30] [--only chat,fanout,connections,storm,history,broadcast] [--quick]
 *                    [--pin] [--sync FULL|NORMAL] [--profile] [--no-baseline] [...]
 *
 * Run `node bench/run.ts --help` for every flag.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchOptions, Ctx } from './lib/ctx.ts';
import { fdLimits } from './lib/proc.ts';
import { Progress } from './lib/progress.ts';
import { broadcastOk, markdownTable, rows, targets, targetsTable, terminalTable, type Results } from './lib/report.ts';
import { broadcastScenario, broadcastSizes } from './scenarios/broadcast.ts';
import { chatScenario } from './scenarios/chat.ts';
import { connectionsScenario, connectionTarget } from './scenarios/connections.ts';
import { fanoutScenario } from './scenarios/fanout.ts';
import { historyScenario } from './scenarios/history.ts';
import { stormScenario } from './scenarios/storm.ts';

const SCENARIOS = ['chat', 'fanout', 'connections', 'storm', 'history', 'broadcast'] as const;
type Scenario = (typeof SCENARIOS)[number];

const HELP = `Careline benchmark suite

  node bench/run.ts [flags]        (npm run bench -- [flags])

  --duration S              load time of each scenario, per server (default 30)
  --only LIST               scenarios to run, comma-separated: ${SCENARIOS.join(',')}
  --quick                   small sizes and 5 s scenarios (a smoke run, about 2 minutes)
  --sync FULL|NORMAL        SQLite synchronous mode (default FULL: each group commit fsynced)
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
  --history-messages N      history: messages stored (default 1000000)
  --history-conversations N history: conversations (default 1000)
  --broadcast-users N       broadcast: users of the tenant (default 100000)
  --broadcast-connected N   broadcast: of them connected (default 10000; bounded by ulimit -n)
  --broadcast-offline N     broadcast: offline users who come back with a catch-up (default 1000)
  --broadcasts N            broadcast: tenant broadcasts in a row, per series (default 5)
  --broadcast-pairs N       broadcast: patient/doctor pairs chatting meanwhile (default 100)
  --broadcast-chat-rate R   broadcast: their open-loop rate, msg/s (default 1000)
  --broadcast-kind KIND     broadcast: the notification kind (default S2C_SYSTEM_PUSH, mode latest;
                            another name is registered with mode each)
  --quiet-wait S            before each measured phase wait up to S s for the (shared) machine
                            to be quiet (default 20; 0: do not wait)
  --profile                 write V8 CPU profiles of the Careline server (bench/results/profiles-*)
  --no-baseline             run Careline only
  --out FILE                results file (default bench/results/<time>.json)
`;

const { values: a } = parseArgs({
  options: {
    duration: { type: 'string' },
    only: { type: 'string' },
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
    'broadcast-users': { type: 'string' },
    'broadcast-connected': { type: 'string' },
    'broadcast-offline': { type: 'string' },
    broadcasts: { type: 'string' },
    'broadcast-pairs': { type: 'string' },
    'broadcast-chat-rate': { type: 'string' },
    'broadcast-kind': { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-baseline': { type: 'boolean', default: false },
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
  kinds: a['no-baseline'] ? ['careline'] : ['careline', 'baseline'],
  stormSpreadMs: num(a['storm-spread'], 3) * 1000,
  quietWait: num(a['quiet-wait'], q ? 0 : 20),
  broadcastUsers: num(a['broadcast-users'], q ? 10_000 : 100_000),
  broadcastConnected: num(a['broadcast-connected'], q ? 2000 : 10_000),
  broadcastOffline: num(a['broadcast-offline'], q ? 200 : 1000),
  broadcastCount: num(a.broadcasts, 5),
  broadcastPairs: num(a['broadcast-pairs'], q ? 50 : 100),
  broadcastChatRate: num(a['broadcast-chat-rate'], q ? 500 : 1000),
  broadcastKind: a['broadcast-kind'] ?? 'S2C_SYSTEM_PUSH',
};
if (o.profile) mkdirSync(o.profile, { recursive: true });

const progress = new Progress(only.length * o.kinds.length * o.duration + (only.includes('storm') ? o.kinds.length * 10 : 0));
const ctx: Ctx = { o, progress, log: (l) => progress.log(l) };

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
  options: {
    ...o, connections: only.includes('connections') ? connectionTarget(ctx).n : o.connections,
    broadcastConnected: only.includes('broadcast') ? broadcastSizes(ctx).connected : o.broadcastConnected,
  },
};

const results: Results = {};
const errors: Record<string, string> = {};
const runners: Record<Scenario, (c: Ctx) => Promise<unknown>> = {
  chat: chatScenario, fanout: fanoutScenario, connections: connectionsScenario, storm: stormScenario, history: historyScenario, broadcast: broadcastScenario,
};

process.stderr.write(`Careline bench — ${machine.cpus} × ${machine.cpuModel}, Node ${process.version}, commit ${info.commit.slice(0, 10)}${info.dirty ? ' (dirty)' : ''}, SQLite synchronous=${o.sync}, writer=${o.writer}${o.pin ? ', pinned' : ''}\n`);
process.stderr.write(`scenarios: ${only.join(', ')}; ${o.duration} s of load each, per server (${o.kinds.join(' and ')})\n`);
const t0 = Date.now();
for (const s of only) {
  try {
    (results as Record<string, unknown>)[s] = await runners[s](ctx);
  } catch (err) {
    errors[s] = (err as Error).stack ?? String(err);
    progress.log(`scenario ${s} failed: ${(err as Error).message}`);
  }
}
progress.done();

const table = rows(results);
const checks = targets(results);
const out = { ...info, finishedAt: new Date().toISOString(), wallSeconds: Math.round((Date.now() - t0) / 1000), loadavgEnd: os.loadavg().map((x) => +x.toFixed(2)), results, targets: checks, errors };
const file = a.out ?? join(resultsDir, `${stamp}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
const md = [
  `Run of ${info.startedAt} — commit ${info.commit.slice(0, 10)}${info.dirty ? ' (uncommitted changes)' : ''}, Node ${process.version}, ${machine.cpus} × ${machine.cpuModel}, ${machine.memGiB} GiB, ${machine.kernel}, SQLite synchronous=${o.sync} (writes in ${o.writer === 'worker' ? 'the writer thread' : 'the event loop'})${o.pin ? ', server pinned to CPU 0 and generators to CPU 1' : ', not pinned'}, ${o.duration} s per scenario and server. Load average at start ${machine.loadavgStart.join(' ')}, at end ${out.loadavgEnd.join(' ')}.`,
  '',
  markdownTable(table),
  '',
  ...(checks.length ? [targetsTable(checks, true), ''] : []),
].join('\n');
writeFileSync(file.replace(/\.json$/, '') + '.md', md);

process.stdout.write('\n' + terminalTable(table) + '\n' + (checks.length ? '\nTargets (issue #3):\n' + targetsTable(checks, false) + '\n' : ''));
process.stdout.write(`\nResults: ${relative(process.cwd(), file)} (and .md)${o.profile ? `; CPU profiles: ${relative(process.cwd(), o.profile)}` : ''}; ${out.wallSeconds} s\n`);
const failedChecks = [
  results.chat?.careline && !results.chat.careline.check.ok,
  results.storm?.careline && (results.storm.careline.missed > 0 || results.storm.careline.duplicated > 0),
  results.fanout?.careline?.some((v) => v.missing > 0 || v.duplicates > 0 || v.gaps > 0),
  results.broadcast?.careline && !broadcastOk(results.broadcast.careline),
].some(Boolean);
const leftBehind = results.storm?.careline?.notBack ?? 0;
if (Object.keys(errors).length) process.stdout.write(`\nFailed scenarios: ${Object.keys(errors).join(', ')} (stack traces in the results file)\n`);
if (failedChecks) process.stdout.write('\nA delivery check failed (loss, duplicate or gap; for a broadcast also order, catch-up or rows stored): see the table.\n');
if (leftBehind) process.stdout.write(`\nReconnect storm: ${leftBehind} clients had not got back after 60 s (not a loss: they never synced).\n`);
// Missed targets are findings, not failures; a lost or doubled message, or a broken scenario, is.
process.exit(Object.keys(errors).length || failedChecks ? 1 : 0);
