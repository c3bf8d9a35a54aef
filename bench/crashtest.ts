/**
 * `npm run crashtest`: kill -9 the server at random moments during a send storm, restart
 * it on the same database, and check that nothing acked was lost or stored twice, that no
 * conversation has a seq gap, and that every client received each message once.
 *
 *   npm run crashtest -- [--cycles 20] [--clients 40] [--window 4] [--sync FULL|NORMAL]
 *                        [--min-up 100] [--max-up 1500] [--seed N] [--keep]
 *                        [--backend sqlite|postgres] [--nodes N]
 *
 * `--backend postgres --nodes 3`: three nodes on one PostgreSQL and one Redis (started for
 * the test on loopback); each cycle kills one node at random; clients move to the next node.
 */
import { parseArgs } from 'node:util';
import { crashDefaults, runCrashTest } from './crash/crash.ts';
import { Progress } from './lib/progress.ts';

const { values: a } = parseArgs({
  options: {
    cycles: { type: 'string' },
    clients: { type: 'string' },
    window: { type: 'string' },
    sync: { type: 'string' },
    'min-up': { type: 'string' },
    'max-up': { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'sqlite' },
    nodes: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (a.help) {
  process.stdout.write([
    'npm run crashtest -- [--cycles 20] [--clients 40] [--window 4] [--sync FULL|NORMAL] [--min-up 100] [--max-up 1500] [--seed N] [--keep]',
    '                     [--backend sqlite|postgres] [--nodes N]',
    '',
    '  --backend sqlite     one node on an SQLite file, killed and restarted (the default)',
    '  --backend postgres   --nodes nodes (default 3) on PostgreSQL, with Redis when more than one, both',
    '                       started for the test; each cycle kills one node picked at random',
    '',
  ].join('\n'));
  process.exit(0);
}
if (a.backend !== 'sqlite' && a.backend !== 'postgres') {
  process.stderr.write(`--backend ${a.backend}: use sqlite or postgres\n`);
  process.exit(2);
}
const backend: 'sqlite' | 'postgres' = a.backend;
const n = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
const cycles = n(a.cycles, crashDefaults.cycles);
const nodes = n(a.nodes, backend === 'postgres' ? 3 : 1);
const progress = new Progress(cycles);
const seed = n(a.seed, crashDefaults.seed);
process.stderr.write(`Careline crash test: ${cycles} kill -9 cycles, seed ${seed}, ${backend === 'postgres' ? `${nodes} node${nodes > 1 ? 's' : ''} on PostgreSQL${nodes > 1 ? ' + Redis (one node killed per cycle)' : ''}` : 'one node on SQLite'}\n`);
progress.phase('crash test: cycle 0', 0, 0);
const r = await runCrashTest({
  cycles,
  clients: n(a.clients, crashDefaults.clients),
  window: n(a.window, crashDefaults.window),
  sync: a.sync === 'NORMAL' ? 'NORMAL' : a.sync === 'FULL' ? 'FULL' : crashDefaults.sync,
  minUpMs: n(a['min-up'], crashDefaults.minUpMs),
  maxUpMs: n(a['max-up'], crashDefaults.maxUpMs),
  seed,
  keep: a.keep,
  backend,
  nodes,
  log: (l) => progress.log(l),
  onCycle: (c) => progress.phase(`crash test: killed ${c}/${cycles}, restarting`, 0, 1),
});
progress.done();
const line = (k: string, v: number | string) => `  ${k.padEnd(34)} ${v}`;
process.stdout.write([
  `Crash test: ${r.cycles} kill -9 cycles in ${r.seconds} s (seed ${seed}), ${r.backend}${r.nodes > 1 ? `, ${r.nodes} nodes killed ${r.kills.join(' / ')} times` : ''}`,
  line('sends (first attempts)', r.sent),
  line('acked', r.acked),
  line('stored', r.stored),
  line('lost (acked, not stored)', r.lost),
  line('duplicated (stored twice)', r.duplicated),
  line('seq gaps', r.gaps),
  line('ack ≠ stored row', r.ackMismatch),
  line('stored, never acked', r.storedNotAcked),
  line('deliveries missed', r.deliveryMissed),
  line('deliveries duplicated', r.deliveryDuplicated),
  line('gaps filled by a sync', r.gapSyncs),
  line('asked for again (sync past a gap)', r.refetched),
  line('resends after reconnect', r.resends),
  line('acks marked duplicate', r.duplicateAcks),
  line('reconnects', r.reconnects),
  ...r.doubleSamples.map((d) => `  doubled: ${d}`),
  line('search index after catch-up', `${r.search.searchable} searchable, ${r.search.missing} missing, ${r.search.extra} extra`),
  line('error frames', `${r.errorFrames}${r.errorSamples.length ? ` (${r.errorSamples.join('; ')})` : ''}`),
  r.ok ? 'PASS: nothing lost, nothing doubled.' : 'FAIL',
  '',
].join('\n'));
process.exit(r.ok ? 0 : 1);
