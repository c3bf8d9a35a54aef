/**
 * Prints the hottest functions of a V8 CPU profile (`node --cpu-prof`, or `npm run bench --
 * --profile`): self time and total (inclusive) time, with file:line, and the same grouped
 * by package/folder.
 *
 *   node bench/profile.ts bench/results/profiles-…/chat-careline.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
if (!positionals[0]) {
  process.stderr.write('usage: node bench/profile.ts FILE.cpuprofile [--top N]\n');
  process.exit(2);
}
process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
const root = fileURLToPath(new URL('..', import.meta.url));
const p = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const where = (n: Node): string => {
  const u = n.callFrame.url;
  if (!u) return '(native)';
  const path = u.startsWith('file://') ? relative(root, fileURLToPath(u)) : u;
  return `${path}:${n.callFrame.lineNumber + 1}`;
};
const key = (n: Node) => `${n.callFrame.functionName || '(anonymous)'}  ${where(n)}`;
const area = (n: Node): string => {
  const u = n.callFrame.url;
  const name = n.callFrame.functionName;
  if (!u) return name.startsWith('(') ? name : '(native)';
  if (u.startsWith('node:')) return `node:${u.slice(5).split('/')[0]}`;
  const path = u.startsWith('file://') ? relative(root, fileURLToPath(u)) : u;
  const m = path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) return m[1]!;
  return path.split('/').slice(0, path.startsWith('packages/') ? 4 : 2).join('/');
};

const self = new Map<string, number>();
const total = new Map<string, number>();
const areas = new Map<string, number>();
let all = 0;
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i] ?? 0;
  const n = byId.get(p.samples[i]!);
  if (!n) continue;
  all += dt;
  self.set(key(n), (self.get(key(n)) ?? 0) + dt);
  areas.set(area(n), (areas.get(area(n)) ?? 0) + dt);
  const seen = new Set<string>();
  for (let cur: number | undefined = n.id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur)!);
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + dt);
  }
}
const top = Number(a.top);
const pct = (v: number) => `${((100 * v) / all).toFixed(1).padStart(5)}%`;
const ms = (v: number) => `${(v / 1000).toFixed(0).padStart(7)} ms`;
const print = (title: string, m: Map<string, number>, n: number) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...m].sort((x, y) => y[1] - x[1]).slice(0, n)) process.stdout.write(`${pct(v)} ${ms(v)}  ${k}\n`);
};
process.stdout.write(`${positionals[0]}: ${(all / 1e6).toFixed(1)} s sampled\n`);
print('Self time by function', self, top);
print('Self time by package / folder', areas, 20);
print('Total (inclusive) time by function', total, top);
