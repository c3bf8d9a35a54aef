/**
 * A server under test — Careline (`bench/server.ts`) or the bare `ws` baseline
 * (`bench/baseline.ts`) — and the fixtures a scenario needs on it: users with tokens and
 * conversations (through Careline's public REST API, with bounded concurrency; the
 * baseline needs none), and the URL each client connects to.
 *
 * Careline runs on one of three backends: `sqlite` (one node, an SQLite file: the default),
 * `postgres` (one node on a PostgreSQL started for the run) and `cluster` (N nodes on one
 * PostgreSQL and one Redis, both started for the run). PostgreSQL and Redis come from
 * `packages/server/test/support/services.ts`: loopback, a temp dir each, stopped by pid.
 * Clients of a cluster connect to the nodes directly, round-robin, so messages between
 * them cross nodes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres, startRedis, type Service } from '../../packages/server/test/support/services.ts';
import type { TransportName } from '../load/transport.ts';
import { pin, Proc, procCpuMs, procTreeCpuMs, type CpuSource } from './proc.ts';
import { mapLimit } from './util.ts';
import { NODE_FLAGS } from '../../packages/server/src/cli/node-flags.ts';

export type TargetKind = 'careline' | 'baseline';

export const BACKENDS = ['sqlite', 'postgres', 'cluster'] as const;
export type Backend = (typeof BACKENDS)[number];

/** What Careline's processes cost over an interval (ms of CPU): each node, PostgreSQL (postmaster and backends), Redis. */
export interface ServerCpu {
  nodes: number[];
  postgres: number | null;
  redis: number | null;
}

/** Server CPU-µs per delivered message (or delivery): each node, their sum, PostgreSQL, Redis, and all together. */
export interface CpuPerMsg {
  nodes: number[];
  total: number;
  postgres: number | null;
  redis: number | null;
  all: number;
  /** Each node's CPU share (cores) over the interval, and PostgreSQL's and Redis's. */
  nodeUtil: number[];
  postgresUtil: number | null;
  redisUtil: number | null;
}

export function cpuPerMsg(c: ServerCpu, delivered: number, wallMs: number): CpuPerMsg {
  const per = (ms: number) => (ms * 1000) / Math.max(1, delivered);
  const total = c.nodes.reduce((a, b) => a + b, 0);
  return {
    nodes: c.nodes.map(per), total: per(total),
    postgres: c.postgres === null ? null : per(c.postgres), redis: c.redis === null ? null : per(c.redis),
    all: per(total + (c.postgres ?? 0) + (c.redis ?? 0)),
    nodeUtil: c.nodes.map((ms) => ms / wallMs),
    postgresUtil: c.postgres === null ? null : c.postgres / wallMs, redisUtil: c.redis === null ? null : c.redis / wallMs,
  };
}

export interface TargetOptions {
  kind: TargetKind;
  name: string;
  cpus?: string;
  fdLimit?: number;
  sync: 'NORMAL' | 'FULL';
  /** Careline only: where SQLite writes run (default worker). */
  writer?: 'worker' | 'inline';
  /** Write V8 CPU profiles of the server's measured phases into this folder. */
  profileDir?: string;
  heartbeatMs?: number;
  /** Baseline only: keep an in-memory log for `sync`. */
  log?: boolean;
  /** Baseline only: keep the messages in SQLite before acking them (`baseline.ts --store`). */
  store?: boolean;
  /** Careline only: this database file (default: a fresh temp dir), and where the tenant and API key are kept across restarts. */
  db?: string;
  tenantFile?: string;
  /** Careline only: the backend (default sqlite), and the nodes of a cluster (default 3). */
  backend?: Backend;
  nodes?: number;
  /** Careline only: run the MQTT listener too (`mqtt.enabled`; each node's URL in `mqttUrls`). */
  mqtt?: boolean;
}

export interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  connections: number;
}

/** The server's event-loop delay over an interval (ms): how long it did not get round to a due timer. */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export interface CommitStats {
  commits: number;
  messages: number;
  seconds: number;
}

/** What happened between two `commits()` readings, over `wallMs`. */
export function commitDelta(a: CommitStats, b: CommitStats, wallMs: number): { commits: number; meanBatch: number; commitShare: number; meanCommitMs: number } {
  const commits = b.commits - a.commits;
  return {
    commits,
    meanBatch: (b.messages - a.messages) / Math.max(1, commits),
    commitShare: ((b.seconds - a.seconds) * 1000) / wallMs,
    meanCommitMs: ((b.seconds - a.seconds) * 1000) / Math.max(1, commits),
  };
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** The environment of a Careline node (`bench/server.ts`) on PostgreSQL, and on Redis for its bus and presence when given. */
export function nodeEnv(o: { postgresUrl: string; redisUrl?: string; nodeId: string }): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CARELINE_STORAGE_DRIVER: 'postgres',
    CARELINE_STORAGE_POSTGRES_URL: o.postgresUrl,
    CARELINE_CLUSTER_NODE_ID: o.nodeId,
    ...(o.redisUrl ? { CARELINE_BUS_DRIVER: 'redis', CARELINE_BUS_REDIS_URL: o.redisUrl, CARELINE_PRESENCE_DRIVER: 'redis' } : {}),
  };
}

/**
 * The environment of a Careline node on SQLite: ours without backend settings, so a
 * CARELINE_STORAGE_DRIVER (or bus, presence, cluster setting) left in the shell cannot turn
 * the SQLite run into something else.
 */
export function sqliteEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^CARELINE_(STORAGE|BUS|PRESENCE|CLUSTER)_/.test(k)));
}

/** The ready line of `bench/server.ts`. */
export interface NodeReady {
  url: string;
  apiKey: string;
  tenantId: string;
  pid: number;
  mqttPort?: number;
  storage?: string;
  bus?: string;
  presence?: string;
}

/**
 * Throws unless a node runs on PostgreSQL (and Redis, for a cluster): a server that fell back
 * to SQLite or to the in-process bus would measure, or test, the wrong thing.
 */
export function checkBackends(r: NodeReady, redis: boolean, name: string): void {
  const want = { storage: 'postgres', bus: redis ? 'redis' : 'memory', presence: redis ? 'redis' : 'memory' };
  const got = { storage: r.storage ?? '?', bus: r.bus ?? '?', presence: r.presence ?? '?' };
  if (got.storage !== want.storage || got.bus !== want.bus || got.presence !== want.presence) {
    throw new Error(`${name} runs storage ${got.storage}, bus ${got.bus}, presence ${got.presence}; wanted ${want.storage}, ${want.bus}, ${want.presence}`);
  }
}

export class Target {
  readonly kind: TargetKind;
  readonly backend: Backend;
  /** The first (or only) node: setup calls, memory and event-loop readings go to it. */
  readonly proc: Proc;
  /** Every node, in order; one for sqlite and postgres. */
  readonly procs: Proc[];
  url = '';
  wsUrl = '';
  /** Each node's HTTP and WebSocket URL. */
  urls: string[] = [];
  wsUrls: string[] = [];
  /** Each node's MQTT listener (`mqtt://127.0.0.1:PORT`), when started with `mqtt`. */
  mqttUrls: string[] = [];
  apiKey = '';
  tenantId = '';
  /** The database file (Careline on SQLite). */
  db = '';
  /** PostgreSQL and Redis, when the backend uses them. */
  postgres: Service | null = null;
  redis: Service | null = null;
  #profileDir: string | undefined;
  #name = '';
  #next = 0;
  #tmp: string | null = null;

  private constructor(kind: TargetKind, backend: Backend, procs: Proc[]) {
    this.kind = kind;
    this.backend = backend;
    this.procs = procs;
    this.proc = procs[0]!;
  }

  static async start(o: TargetOptions): Promise<Target> {
    const backend = o.kind === 'careline' ? (o.backend ?? 'sqlite') : 'sqlite';
    if (backend !== 'sqlite') return Target.#startNetworked(o, backend);
    // The Node flags the server ships with (`npm start`, the `careline` command), given to the
    // baseline too: the same runtime for both.
    const execArgv = ['--expose-gc', ...NODE_FLAGS];
    const proc = o.kind === 'careline'
      ? new Proc(here('../server.ts'), {
        name: o.name, cpus: o.cpus, fdLimit: o.fdLimit, execArgv, env: sqliteEnv(),
        args: [
          '--sync', o.sync, ...(o.writer ? ['--writer', o.writer] : []), ...(o.heartbeatMs ? ['--heartbeat-ms', String(o.heartbeatMs)] : []),
          ...(o.db ? ['--db', o.db] : []), ...(o.tenantFile ? ['--tenant-file', o.tenantFile] : []), ...(o.mqtt ? ['--mqtt'] : []),
        ],
      })
      : new Proc(here('../baseline.ts'), { name: o.name, cpus: o.cpus, fdLimit: o.fdLimit, execArgv, args: [...(o.log ? ['--log'] : []), ...(o.store ? ['--store'] : [])] });
    const t = new Target(o.kind, 'sqlite', [proc]);
    t.#profileDir = o.kind === 'careline' ? o.profileDir : undefined;
    t.#name = o.name;
    const ready = (await proc.ready) as { url: string; apiKey?: string; tenantId?: string; db?: string; mqttPort?: number };
    t.db = ready.db ?? '';
    t.url = ready.url;
    t.wsUrl = ready.url.replace(/^http/, 'ws') + '/ws';
    t.urls = [t.url];
    t.wsUrls = [t.wsUrl];
    t.mqttUrls = ready.mqttPort ? [`mqtt://127.0.0.1:${ready.mqttPort}`] : [];
    t.apiKey = ready.apiKey ?? '';
    t.tenantId = ready.tenantId ?? '';
    return t;
  }

  /**
   * Careline on PostgreSQL (one node) or a cluster (N nodes on PostgreSQL + Redis): starts
   * the services, then the first node (it creates the tenant and writes the tenant file), then
   * the others (they read it). Each node must report the backends it was asked for — a
   * server that silently fell back to SQLite would measure the wrong thing.
   */
  static async #startNetworked(o: TargetOptions, backend: 'postgres' | 'cluster'): Promise<Target> {
    const nodes = backend === 'cluster' ? Math.max(1, o.nodes ?? 3) : 1;
    const tmp = mkdtempSync(join(tmpdir(), 'careline-bench-target-'));
    const started: { pg: Service | null; redis: Service | null; procs: Proc[] } = { pg: null, redis: null, procs: [] };
    try {
      // synchronous=FULL: every commit is flushed to disk, as SQLite's FULL does; NORMAL: PostgreSQL's
      // asynchronous commit (a crash may lose the last moments, the database stays consistent).
      const durable = o.sync === 'FULL';
      started.pg = await startPostgres({
        settings: {
          fsync: durable ? 'on' : 'off', synchronous_commit: durable ? 'on' : 'off', full_page_writes: durable ? 'on' : 'off',
          max_connections: 50 + 20 * nodes,
        },
      });
      if (o.cpus) pin(started.pg.pid, o.cpus);
      if (backend === 'cluster') {
        started.redis = await startRedis();
        if (o.cpus) pin(started.redis.pid, o.cpus);
      }
      const tenantFile = o.tenantFile ?? join(tmp, 'tenant.json');
      const startNode = (i: number) => {
        const env = nodeEnv({ postgresUrl: started.pg!.url, redisUrl: started.redis?.url, nodeId: `${o.name}-node${i}` });
        const proc = new Proc(here('../server.ts'), {
          name: nodes > 1 ? `${o.name}-node${i}` : o.name, cpus: o.cpus, fdLimit: o.fdLimit, execArgv: ['--expose-gc', ...NODE_FLAGS], env,
          args: [
            '--sync', o.sync, ...(o.heartbeatMs ? ['--heartbeat-ms', String(o.heartbeatMs)] : []), '--tenant-file', tenantFile,
            '--db', join(tmp, `unused-${i}.db`), // never opened on PostgreSQL
            ...(o.mqtt ? ['--mqtt'] : []),
          ],
        });
        started.procs.push(proc);
        return proc;
      };
      const readies: NodeReady[] = [(await startNode(0).ready) as NodeReady];
      readies.push(...((await Promise.all(Array.from({ length: nodes - 1 }, (_, i) => startNode(i + 1).ready))) as NodeReady[]));
      for (const [i, r] of readies.entries()) checkBackends(r, !!started.redis, `${o.name} node ${i}`);
      const t = new Target('careline', backend, started.procs);
      t.postgres = started.pg;
      t.redis = started.redis;
      t.#tmp = tmp;
      t.#profileDir = o.profileDir;
      t.#name = o.name;
      t.urls = readies.map((r) => r.url);
      t.wsUrls = t.urls.map((u) => u.replace(/^http/, 'ws') + '/ws');
      t.mqttUrls = readies.flatMap((r) => (r.mqttPort ? [`mqtt://127.0.0.1:${r.mqttPort}`] : []));
      t.url = t.urls[0]!;
      t.wsUrl = t.wsUrls[0]!;
      t.apiKey = readies[0]!.apiKey;
      t.tenantId = readies[0]!.tenantId;
      return t;
    } catch (err) {
      await Promise.all(started.procs.map((p) => p.stop(5000)));
      await started.redis?.stop();
      await started.pg?.stop();
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  async #call(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await fetch(this.url + path, {
          method,
          headers: { 'content-type': 'application/json', 'x-api-key': this.apiKey, ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await r.text();
        if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${text.slice(0, 300)}`);
        return JSON.parse(text);
      } catch (err) {
        // Setup runs thousands of calls: retry a transient socket error a few times.
        if (attempt >= 3 || /→ \d{3}/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }

  /** Creates (or updates) users and logs each in: user id → token. The baseline: no tokens. */
  async users(ids: string[], role: 'patient' | 'doctor' | 'staff', onProgress?: (done: number) => void, concurrency = 24): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (this.kind === 'baseline') {
      for (const id of ids) out.set(id, '');
      return out;
    }
    let done = 0;
    await mapLimit(ids, concurrency, async (id) => {
      await this.#call('PUT', `/api/v2/management/users/${encodeURIComponent(id)}`, { role, name: id });
      const { token } = await this.#call('POST', '/api/v2/users/login', { user_id: id });
      out.set(id, token as string);
      if (++done % 500 === 0) onProgress?.(done);
    });
    return out;
  }

  /**
   * Creates (or updates) users without logging them in — the users of a tenant who do not
   * connect. `onProgress` every 1,000. The baseline: nothing to create.
   */
  async createUsers(ids: string[], role: 'patient' | 'doctor' | 'staff', onProgress?: (done: number) => void, concurrency = 24): Promise<void> {
    if (this.kind === 'baseline') return;
    let done = 0;
    await mapLimit(ids, concurrency, async (id) => {
      await this.#call('PUT', `/api/v2/management/users/${encodeURIComponent(id)}`, { role, name: id });
      if (++done % 1000 === 0) onProgress?.(done);
    });
  }

  /** One call of the public REST API with the tenant's API key (the baseline answers the few it knows). */
  api(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<any> {
    return this.#call(method, path, body);
  }

  /**
   * Creates conversations; returns their ids. `p2p` (type 2, id derived from the two
   * participants) or `team` (type 3, id = the given team id). The baseline just names them.
   */
  async conversations(specs: { kind: 'p2p' | 'team'; participants: string[]; team?: string }[], concurrency = 24): Promise<string[]> {
    if (this.kind === 'baseline') return specs.map((s) => (s.kind === 'team' ? s.team! : `p2p-${s.participants.join('-')}`));
    return mapLimit(specs, concurrency, async (s) => {
      const body = s.kind === 'p2p'
        ? { session_type: 2, participants: s.participants }
        : { session_type: 3, parts: { team: s.team }, session_name: s.team, participants: s.participants };
      const r = await this.#call('POST', '/api/v2/sessions', body);
      return r.session.id as string;
    });
  }

  /**
   * The URL a client connects to. A cluster's nodes take turns (round-robin over the calls),
   * unless `node` picks one; the two sides of a pair land on different nodes.
   */
  connectUrl(user: string, token: string, convs: string[], sync = false, node?: number, transport: TransportName = 'ws'): string {
    if (this.kind === 'careline') {
      const i = (node ?? this.#next++) % this.wsUrls.length;
      // Long-polling: the node's HTTP base; MQTT: its listener (load/transport.ts reads these).
      if (transport === 'longpoll') return `${this.urls[i] ?? this.url}/?token=${token}`;
      if (transport === 'mqtt') {
        const m = this.mqttUrls[i];
        if (!m) throw new Error('MQTT asked of a server started without its MQTT listener');
        return `${m}/?token=${token}&user=${encodeURIComponent(user)}`;
      }
      const ws = this.wsUrls[i] ?? this.wsUrl;
      return `${ws}?token=${token}${sync ? '&sync=1' : ''}`;
    }
    return `${this.wsUrl}?user=${encodeURIComponent(user)}&c=${convs.map(encodeURIComponent).join(',')}${sync ? '&sync=1' : ''}`;
  }

  /** Where the server process's resident memory is, as it stands (Careline on one node; null otherwise). */
  async memDetail(): Promise<Record<string, unknown> | null> {
    if (this.kind !== 'careline' || this.backend === 'cluster') return null;
    return this.proc.call<Record<string, unknown>>('memDetail', {}, 60_000).catch(() => null);
  }

  /** Memory of the server process, after a full GC. */
  mem(): Promise<Mem> {
    return this.proc.call<Mem>('mem', {}, 60_000);
  }

  /** Careline's group-commit counters from /metrics, summed over the nodes: commits, messages, seconds spent committing (zeros for the baseline). */
  async commits(): Promise<CommitStats> {
    if (this.kind !== 'careline') return { commits: 0, messages: 0, seconds: 0 };
    const one = async (url: string): Promise<CommitStats> => {
      try {
        const text = await (await fetch(`${url}/metrics`)).text();
        const val = (name: string) => Number(text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm'))?.[1] ?? NaN);
        return { commits: val('careline_commit_batch_size_count'), messages: val('careline_commit_batch_size_sum'), seconds: val('careline_commit_duration_seconds_sum') };
      } catch {
        return { commits: NaN, messages: NaN, seconds: NaN };
      }
    };
    const all = await Promise.all(this.urls.map(one));
    return all.reduce((a, b) => ({ commits: a.commits + b.commits, messages: a.messages + b.messages, seconds: a.seconds + b.seconds }));
  }

  /**
   * What a CpuMeter reads for this server: each node, then PostgreSQL's process tree and
   * redis-server when they run. `serverCpu` takes the meter's `cpuMs` back apart.
   */
  cpuSources(): CpuSource[] {
    const out: CpuSource[] = [...this.procs];
    const pg = this.postgres;
    const redis = this.redis;
    if (pg) out.push({ cpuMs: () => procTreeCpuMs(pg.pid) });
    if (redis) out.push({ cpuMs: () => procCpuMs(redis.pid) });
    return out;
  }

  /** The server's share of a CpuMeter reading over `[...cpuSources(), ...others]`. */
  serverCpu(cpuMs: number[]): ServerCpu {
    const n = this.procs.length;
    return {
      nodes: cpuMs.slice(0, n),
      postgres: this.postgres ? cpuMs[n]! : null,
      redis: this.redis ? cpuMs[n + (this.postgres ? 1 : 0)]! : null,
    };
  }

  /** Starts measuring the server's event-loop delay (how late a 1 ms timer fires). */
  loopStart(): Promise<void> {
    return this.proc.call('loop.start');
  }

  /** The event-loop delay since `loopStart`, in ms. */
  loopStop(): Promise<LoopDelay> {
    return this.proc.call<LoopDelay>('loop.stop');
  }

  /** Starts a CPU profile of the server, of every node of a cluster (with --profile, Careline only). */
  async profileStart(): Promise<void> {
    if (this.#profileDir) await Promise.all(this.procs.map((p) => p.call('profile.start')));
  }

  /** Stops it and writes `<profile dir>/<scenario>-careline[-phase][-node<i>].cpuprofile`. */
  async profileStop(phase = ''): Promise<void> {
    const dir = this.#profileDir;
    if (!dir) return;
    const base = `${this.#name}${phase ? `-${phase}` : ''}`;
    await Promise.all(this.procs.map((p, i) => p.call('profile.stop', { path: join(dir, `${base}${this.procs.length > 1 ? `-node${i}` : ''}.cpuprofile`) }, 120_000)));
  }

  /** Stops the nodes, then Redis and PostgreSQL (each by its pid). */
  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(10_000)));
    await this.redis?.stop();
    await this.postgres?.stop();
    if (this.#tmp) rmSync(this.#tmp, { recursive: true, force: true });
  }
}
