/**
 * `npm run cluster`: Careline as several nodes on this machine — PostgreSQL, Redis, N
 * Careline nodes (`careline start`, each on its own loopback port, the dev profile with its
 * demo tenant) and HAProxy in front of them — in one temp dir. Prints where to connect and
 * runs until Ctrl-C or SIGTERM, then stops everything by process id and removes the dir.
 *
 *   npm run cluster -- [--nodes 3] [--port 8080]
 *
 * Needs PostgreSQL, Redis and HAProxy from Debian's packages: `scripts/install-services`.
 */
import { parseArgs } from 'node:util';
import { startLocalCluster, type LocalCluster } from './lib/cluster.ts';

const USAGE = `Usage: npm run cluster -- [--nodes N] [--port P]

Starts PostgreSQL, Redis, N Careline nodes (default 3) and HAProxy in front of them, all on
127.0.0.1 in a temp dir, and prints where to connect (the balancer). Ctrl-C stops it all.

Options:
  --nodes N   Careline nodes, 1 to 16 (default 3)
  --port P    The balancer's port (default: a free one)
  -h, --help  This help
`;

let args;
try {
  args = parseArgs({ options: { nodes: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values;
} catch (err) {
  process.stderr.write(`cluster: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(64);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const whole = (raw: string | undefined, name: string, min: number, max: number, fallback: number | undefined) => {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    process.stderr.write(`cluster: --${name} must be a whole number from ${min} to ${max}, not "${raw}"\n`);
    process.exit(64);
  }
  return Number(raw);
};
const nodes = whole(args.nodes, 'nodes', 1, 16, 3)!;
const port = whole(args.port, 'port', 1, 65535, undefined);

let cluster: LocalCluster | undefined;
let stopping = false;
const stop = async (why: string, code: number) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\ncluster: ${why}: stopping the nodes, HAProxy, Redis and PostgreSQL\n`);
  await cluster?.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop('SIGINT', 0));
process.on('SIGTERM', () => void stop('SIGTERM', 0));

try {
  cluster = await startLocalCluster({ nodes, port, profile: 'dev', onProgress: (what) => process.stderr.write(`cluster: starting ${what}\n`) });
} catch (err) {
  process.stderr.write(`cluster: failed to start: ${(err as Error).message}\n`);
  process.exit(1);
}
if (stopping) await new Promise(() => {}); // a signal came during the start: stop() exits

const c = cluster;
const lines = [
  '',
  `  Careline cluster: ${c.nodes.length} node${c.nodes.length === 1 ? '' : 's'} behind HAProxy, on PostgreSQL and Redis`,
  '',
  `  Balancer      ${c.url}   (connect here; HAProxy config: ${c.balancer.dir}/haproxy.cfg)`,
  ...c.nodes.map((n) => `  ${n.name.padEnd(14)}${n.url}   pid ${n.pid}   log ${n.logFile}`),
  `  PostgreSQL    ${c.pg!.url}   pid ${c.pg!.pid}`,
  `  Redis         ${c.redis!.url}   pid ${c.redis!.pid}`,
  `  Admin token   ${c.adminToken}   (header X-Admin-Token)`,
  '',
];
process.stdout.write(lines.join('\n') + (c.banner ?? '') + '\n  Ctrl-C stops the cluster and removes its data.\n\n');

// A node that dies is reported once (the balancer takes it out; the others go on). The
// interval also keeps this process running until a signal.
const reported = new Set<string>();
setInterval(() => {
  if (stopping) return;
  for (const n of c.nodes) {
    if (!n.running() && !reported.has(n.name)) {
      reported.add(n.name);
      process.stderr.write(`cluster: ${n.name} (pid ${n.pid}) exited; its log: ${n.logFile}\n`);
    }
  }
  if (c.nodes.every((n) => !n.running())) void stop('every node exited', 1);
}, 2000);
