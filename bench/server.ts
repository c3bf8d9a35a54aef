/**
 * The Careline server under test, in its own process. Started by the bench orchestrator and
 * the crash test (never imported by them). Loads the test profile with a real SQLite file
 * (WAL), listens on 127.0.0.1, creates a tenant and an API key through the admin API (or
 * reuses the ones saved in --tenant-file), and prints one JSON line:
 *
 *   {"ready":true,"url":"http://127.0.0.1:PORT","apiKey":"ck_…","tenantId":"…","pid":N,"db":"…",
 *    "storage":"sqlite","bus":"memory","presence":"memory"}
 *
 * The backends come from the environment the orchestrator gives it (CARELINE_STORAGE_*,
 * CARELINE_BUS_*, CARELINE_PRESENCE_*, CARELINE_CLUSTER_*: PostgreSQL, Redis, the node id);
 * without them, SQLite in one process. The ready line says which backends it runs on.
 *
 * IPC calls (from the orchestrator): `mem` (process.memoryUsage after a GC when run with
 * --expose-gc), `seed` (bulk-append history rows through the message store), `stats`,
 * `notificationRows {tenantId, ids}` (what the database file holds for those notifications,
 * read through a read-only connection of its own), `loop.start` / `loop.stop` (the event
 * loop's delay over an interval: how long the process did not get round to a timer),
 * `profile.start` / `profile.stop {path}` (a V8 CPU profile of just the measured phase).
 * SIGTERM closes gracefully (a --cpu-prof profile is written on that exit).
 *
 *   node bench/server.ts [--db FILE] [--sync NORMAL|FULL] [--writer worker|inline] [--port N] [--tenant-file FILE]
 *                        [--heartbeat-ms N] [--log warn] [--mqtt]
 *
 * --mqtt: the MQTT listener too (`mqtt.enabled`, a free port on 127.0.0.1; `mqttPort` in the ready line).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import Database from 'better-sqlite3';
import { loadConfig, startServer, type CarelineServer } from '@careline/server';

const { values: a } = parseArgs({
  options: {
    db: { type: 'string' },
    sync: { type: 'string', default: 'NORMAL' },
    writer: { type: 'string', default: 'worker' },
    port: { type: 'string', default: '0' },
    'tenant-file': { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    log: { type: 'string', default: 'warn' },
    mqtt: { type: 'boolean', default: false },
  },
});

const ADMIN = 'bench-admin-token';
const ownDir = a.db ? null : mkdtempSync(join(tmpdir(), 'careline-bench-'));
const dbPath = a.db ?? join(ownDir!, 'careline.db');
const sync = a.sync === 'FULL' ? 'FULL' : 'NORMAL';

/** The backend settings from our environment, and the caches' (for runs with one switched off); everything else comes from the test profile. */
const backendEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^CARELINE_(STORAGE|BUS|PRESENCE|CLUSTER|CACHE)_/.test(k)));

const { config } = loadConfig({
  env: { IM_PROFILE: 'test', ...backendEnv },
  overrides: {
    http: { host: '127.0.0.1', port: Number(a.port) },
    storage: { sqlitePath: dbPath, sqliteSynchronous: sync, sqliteWriter: a.writer === 'inline' ? 'inline' : 'worker' },
    auth: { adminToken: ADMIN },
    log: { level: a.log },
    ws: a['heartbeat-ms'] ? { heartbeatMs: Number(a['heartbeat-ms']) } : {},
    shutdownGraceMs: 3000,
    ...(a.mqtt ? { mqtt: { enabled: true, host: '127.0.0.1', port: 0 } } : {}),
  },
});

let server: CarelineServer;
try {
  server = await startServer({ config });
} catch (err) {
  process.stderr.write(`bench server: cannot start: ${(err as Error).stack}\n`);
  process.exit(1);
}

async function admin(path: string, body: unknown): Promise<any> {
  const r = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-admin-token': ADMIN },
    body: JSON.stringify(body),
  });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`${path} → ${r.status} ${JSON.stringify(j)}`);
  return j;
}

let tenant: { tenantId: string; apiKey: string };
const tf = a['tenant-file'];
if (tf && existsSync(tf)) {
  tenant = JSON.parse(readFileSync(tf, 'utf8')) as typeof tenant;
} else {
  const tenantId = `bench${Date.now().toString(36)}`;
  await admin('/api/v2/admin/tenants', { id: tenantId, name: 'Bench clinic' });
  const { api_key } = (await admin(`/api/v2/admin/tenants/${tenantId}/apps`, { name: 'bench' })) as { api_key: string };
  tenant = { tenantId, apiKey: api_key };
  if (tf) writeFileSync(tf, JSON.stringify(tenant));
}

/**
 * Where the resident memory is, as it stands (no GC first): the main isolate's heap spaces,
 * the SQLite writer thread's isolate, and the process's mappings by kind (/proc/self/smaps):
 * V8's 256 KiB heap pages, malloc's arenas (SQLite's page caches live there), the rest of the
 * anonymous memory, and the files mapped (the node binary, libraries).
 */
async function memDetail() {
  const MiB = (n: number) => Math.round((n / 1048576) * 10) / 10;
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { physical: MiB(s.physical_space_size), used: MiB(s.space_used_size) }]));
  const thread = (server.core.storage as { writerThread?: { getHeapStatistics?: () => Promise<v8.HeapInfo> } | null }).writerThread;
  const w = thread?.getHeapStatistics ? await thread.getHeapStatistics() : null;
  const kinds: Record<string, number> = { v8Pages: 0, arenas: 0, brkHeap: 0, otherAnon: 0, files: 0 };
  let size = 0;
  let name = '';
  const big: string[] = [];
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      const [from, to] = line.split(' ')[0]!.split('-').map((x) => parseInt(x, 16));
      size = to! - from!;
      name = head[1]!;
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (!rss) continue;
    const kb = Number(rss[1]) * 1024;
    const kind = name === '[heap]' ? 'brkHeap' : name !== '' && !name.startsWith('[') ? 'files' : size === 262144 ? 'v8Pages' : size >= 32 * 1048576 ? 'arenas' : 'otherAnon';
    kinds[kind]! += kb;
    if (kind === 'otherAnon' && kb >= 1048576) big.push(`${MiB(kb)} of ${MiB(size)}`);
  }
  return {
    rss: MiB(process.memoryUsage().rss),
    mappings: Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, MiB(v)])),
    otherAnonLargest: big.slice(0, 12),
    main: { heapPhysical: MiB(v8.getHeapStatistics().total_physical_size), spaces },
    writer: w ? { heapPhysical: MiB(w.total_physical_size), used: MiB(w.used_heap_size), limit: MiB(w.heap_size_limit) } : null,
  };
}

type AppendBatch = Parameters<CarelineServer['core']['storage']['messages']['append']>[0];
const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', (m: any) => {
  if (!m || typeof m.id !== 'number') return;
  const reply = (result: unknown) => process.send?.({ id: m.id, result });
  const fail = (err: unknown) => process.send?.({ id: m.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  try {
    switch (m.method) {
      case 'mem': {
        if (gc) {
          gc();
          gc();
        }
        return reply({ ...process.memoryUsage(), gc: !!gc, connections: server.ws.hub.size });
      }
      case 'memDetail':
        return void memDetail().then(reply, fail);
      case 'stats':
        return reply({ connections: server.ws.hub.size, pending: server.core.messages.committer.pending });
      case 'seed':
        return void seed(m.params).then(reply, fail);
      case 'notificationRows':
        return reply(notificationRows(m.params));
      case 'loop.start':
        return reply(loopStart());
      case 'loop.stop':
        return reply(loopStop());
      case 'profile.start':
        return void profileStart().then(reply, fail);
      case 'profile.stop':
        return void profileStop(m.params.path as string).then(reply, fail);
      default:
        return fail(new Error(`unknown method ${m.method}`));
    }
  } catch (err) {
    fail(err);
  }
});
process.on('disconnect', () => void stop());

/**
 * Appends history rows straight through the message store (the same transaction the group
 * committer runs), in batches, for the history scenario: far faster than sending 1M
 * messages over the network, and the rows are the same.
 */
async function seed(p: { tenantId: string; sender: string; conversations: [string, number][]; batch?: number; start?: number }): Promise<{ rows: number; ms: number }> {
  const t0 = performance.now();
  const store = server.core.storage.messages;
  const batchSize = p.batch ?? 5000;
  let rows = 0;
  let time = p.start ?? Date.now() - 90 * 86_400_000;
  let counter = 0;
  const texts = ['Good morning doctor, my blood pressure today is 135/85.', 'Thank you. Please keep measuring twice a day and send me the readings on Friday.', 'ok', 'I took the medicine after breakfast as you said, no side effects so far, but I feel a bit tired in the afternoon.', 'See you at the follow-up visit next week.'];
  for (const [conv, count] of p.conversations) {
    for (let done = 0; done < count; ) {
      const n = Math.min(batchSize, count - done);
      const batch = [];
      for (let i = 0; i < n; i++) {
        time += 3;
        const content = { text: texts[(counter + i) % texts.length]! };
        batch.push({
          tenant_id: p.tenantId, conversation_id: conv, id: `S${time.toString(36).padStart(10, '0')}${(counter++).toString(36).padStart(8, '0')}`.toUpperCase(),
          sender_id: p.sender, type: 1, content, content_json: JSON.stringify(content), client_id: null, created_at: time, forward: null,
        });
      }
      const res = await store.append(batch as unknown as AppendBatch);
      const bad = res.find((r) => !r.ok);
      if (bad) throw new Error(`seed: append failed: ${JSON.stringify(bad)}`);
      done += n;
      rows += n;
      await new Promise((r) => setImmediate(r));
    }
  }
  // The search index follows the appends (storage/*/search-indexer.ts): a bulk seed leaves it
  // a million messages behind, which a server under its usual load never is. Reads are
  // measured once it has caught up, not while the writer indexes the backlog.
  await server.core.storage.search.catchUp();
  return { rows, ms: performance.now() - t0 };
}

/**
 * What the database file holds for the given notifications: their rows in `notifications`,
 * the per-user rows pointing at them (`notification_recipients`, `notification_reads`), the
 * tenant's broadcasts in all, and its users. A tenant broadcast is stored once: one row, none per user.
 */
function notificationRows(p: { tenantId: string; ids: string[] }): Record<string, number> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const ids = JSON.stringify(p.ids);
    const one = (sql: string, ...args: unknown[]) => db.prepare(sql).pluck().get(...args) as number;
    return {
      notifications: one('SELECT COUNT(*) FROM notifications WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))', p.tenantId, ids),
      broadcasts: one("SELECT COUNT(*) FROM notifications WHERE tenant_id = ? AND audience = 'tenant'", p.tenantId),
      recipientRows: one('SELECT COUNT(*) FROM notification_recipients WHERE tenant_id = ? AND notification_id IN (SELECT value FROM json_each(?))', p.tenantId, ids),
      readRows: one('SELECT COUNT(*) FROM notification_reads WHERE tenant_id = ? AND notification_id IN (SELECT value FROM json_each(?))', p.tenantId, ids),
      users: one('SELECT COUNT(*) FROM users WHERE tenant_id = ?', p.tenantId),
    };
  } finally {
    db.close();
  }
}

let loop: ELDHistogram | null = null;
/** Starts measuring the event loop's delay (1 ms resolution). */
function loopStart(): null {
  loop?.disable();
  loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  return null;
}
/** The delay since `loop.start`, in ms: p50, p99, max. */
function loopStop(): { p50: number; p99: number; max: number } | null {
  if (!loop) return null;
  loop.disable();
  const r = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
  loop = null;
  return r;
}

let profiler: Session | null = null;
async function profileStart(): Promise<null> {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
  return null;
}
async function profileStop(path: string): Promise<{ path: string } | null> {
  if (!profiler) return null;
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync(path, JSON.stringify(profile));
  profiler.disconnect();
  profiler = null;
  return { path };
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await server.close();
  } finally {
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    process.exit(0);
  }
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

const chosen = config as unknown as { storage: { driver: string }; bus: { driver: string }; presence?: { driver?: string } };
process.stdout.write(JSON.stringify({
  ready: true, url: server.url, ...tenant, pid: process.pid, db: dbPath, sync, ...(server.mqttPort ? { mqttPort: server.mqttPort } : {}),
  storage: chosen.storage.driver, bus: chosen.bus.driver, presence: chosen.presence?.driver ?? 'memory',
}) + '\n');
