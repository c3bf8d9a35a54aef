/**
 * A Careline cluster on one machine, for `npm run cluster` and the cluster tests: PostgreSQL
 * and Redis (scripts/lib/services.ts), N Careline nodes — each a child process of the real
 * `careline start` command on its own loopback port — and HAProxy in front of them, all in one
 * temp dir, all stopped by process id.
 *
 *   const c = await startLocalCluster({ nodes: 3 });
 *   c.url            // the balancer: what clients connect to
 *   c.nodes[1].kill9()   // SIGKILL one node; .start() brings it back on the same port
 *   await c.stop();  // nodes, balancer, Redis, PostgreSQL; the temp dir is removed
 *
 * Every node gets the same settings through env vars (`commonEnv`), and its own port, node id
 * and public address (`nodeEnv`). With `backend: 'sqlite'` there is no PostgreSQL or Redis:
 * each node runs on its own SQLite file and shares nothing with the others — a cluster only in
 * the balancer's eyes, for checking the balancer itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, LogTail, startHaproxy, startPostgres, startRedis, type HaproxyService, type Service } from './services.ts';
import { NODE_FLAGS } from '../../packages/server/src/cli/node-flags.ts';

/** The `careline` command the nodes run. */
/** The `careline` command, as installed: it starts Node's compile cache first (packages/server/bin/careline.mjs). */
export const CARELINE_CLI = fileURLToPath(new URL('../../packages/server/bin/careline.mjs', import.meta.url));

export type ClusterBackend = 'postgres' | 'sqlite';

export interface LocalClusterOptions {
  /** Careline nodes (default 3). */
  nodes?: number;
  /** The balancer's port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** `postgres` (default): one PostgreSQL and one Redis for all nodes. `sqlite`: a file per node, nothing shared. */
  backend?: ClusterBackend;
  /** IM_PROFILE of the nodes (default `test`). `dev` seeds the demo tenant, as `npm start` does. */
  profile?: 'dev' | 'test' | 'prod';
  /** More env vars for every node (they win over the ones set here). */
  env?: Record<string, string>;
  /** The balancer's health-check interval in ms (default 1000). */
  checkIntervalMs?: number;
  /** Told what is starting, for a progress line. */
  onProgress?: (what: string) => void;
}

export interface LocalNode {
  /** `node-1`, …: its node id, its name in the balancer, its log file's name. */
  readonly name: string;
  readonly port: number;
  /** Its own address (not through the balancer). */
  readonly url: string;
  /** The running process's id (the last one's after it exited). */
  readonly pid: number;
  /** Its log file (every line the process wrote, across restarts). */
  readonly logFile: string;
  /** Every env var the node runs with (commonEnv + its own). */
  readonly env: Record<string, string>;
  running(): boolean;
  /** The recent output of the process. */
  log(): string;
  /** SIGKILL by process id; resolves once it has exited. */
  kill9(): Promise<void>;
  /** SIGTERM (a graceful shutdown) by process id, SIGKILL after 15 s; resolves once it has exited. */
  stop(): Promise<void>;
  /** Starts it again (if it is not running) on the same port with the same env; resolves when /readyz answers 200. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
}

export interface LocalCluster {
  /** The balancer's URL: clients, the web client and the SDK connect here. */
  url: string;
  /** The temp dir: node logs, SQLite files (backend sqlite); removed by stop(). */
  dir: string;
  nodes: LocalNode[];
  pg: Service | null;
  redis: Service | null;
  balancer: HaproxyService;
  backend: ClusterBackend;
  profile: string;
  /** The env vars every node has. */
  commonEnv: Record<string, string>;
  tokenSecret: string;
  adminToken: string;
  /** With the dev profile: what `npm start` prints (the demo users' tokens, the API key), with the balancer's URL. */
  banner: string | null;
  /** Resolves once the balancer sees every running node UP (at most `timeoutMs`, default 15 s). */
  waitBalanced(timeoutMs?: number): Promise<void>;
  /** Stops the nodes, the balancer, Redis and PostgreSQL, by process id; removes the dir. Idempotent. */
  stop(): Promise<void>;
}

const NODE_START_TIMEOUT_MS = 60_000;
const NODE_STOP_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS = 5;

/** Every node process not yet stopped: killed when this process exits. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    try {
      process.kill(c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readyz(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The block `careline start` prints with the dev profile (from "Careline is running" to the `Try:` line). */
export function bannerOf(output: string): string | null {
  const start = output.indexOf('\n  Careline is running');
  if (start < 0) return null;
  const tryAt = output.indexOf('\n  Try:', start);
  if (tryAt < 0) return null;
  const end = output.indexOf('\n', tryAt + 1);
  if (end < 0) return null;
  return output.slice(start, end + 1);
}

function makeNode(name: string, dir: string, env: (port: number) => Record<string, string>, needBanner: boolean): LocalNode & { firstStart(): Promise<void>; close(): Promise<void>; banner: string | null } {
  const logFile = join(dir, `${name}.log`);
  let file: WriteStream | null = null;
  let child: ChildProcess | null = null;
  let lastPid = 0;
  let port = 0;
  let nodeEnv: Record<string, string> = {};
  let tail = new LogTail();
  let output = '';
  let banner: string | null = null;

  const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

  const spawnOnce = async (): Promise<void> => {
    file ??= createWriteStream(logFile, { flags: 'a' });
    tail = new LogTail();
    output = '';
    nodeEnv = env(port);
    const c = spawn(process.execPath, [...NODE_FLAGS, CARELINE_CLI, 'start'], { env: { ...process.env, ...nodeEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    lastPid = c.pid ?? 0;
    live.add(c);
    const onData = (chunk: Buffer) => {
      tail.add(chunk);
      file?.write(chunk);
      if (needBanner && banner === null) {
        output = (output + chunk.toString()).slice(-65_536);
        banner = bannerOf(output);
      }
    };
    c.stdout!.on('data', onData);
    c.stderr!.on('data', onData);
    c.once('exit', () => live.delete(c));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + NODE_START_TIMEOUT_MS;
    for (;;) {
      if (exited(c)) throw Object.assign(new Error(`${name} exited (${c.signalCode ?? `code ${c.exitCode}`}) before it was ready:\n${tail}`), { log: String(tail) });
      if ((await readyz(url)) && (!needBanner || banner !== null)) return;
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`${name} was not ready after ${NODE_START_TIMEOUT_MS} ms:\n${tail}`);
      }
      await sleep(100);
    }
  };

  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || exited(c)) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    try {
      process.kill(c.pid!, signal);
    } catch {
      // it exited on its own meanwhile (Ctrl-C reaches the whole process group): 'exit' follows
    }
    const timer = setTimeout(() => {
      try {
        process.kill(c.pid!, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }, NODE_STOP_TIMEOUT_MS);
    await gone;
    clearTimeout(timer);
  };

  const node = {
    name,
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get pid() {
      return lastPid;
    },
    logFile,
    get env() {
      return nodeEnv;
    },
    get banner() {
      return banner;
    },
    running: () => child !== null && !exited(child),
    log: () => String(tail),
    kill9: () => halt('SIGKILL'),
    stop: async () => {
      await halt('SIGTERM');
    },
    async start() {
      if (child && !exited(child)) return;
      await spawnOnce();
    },
    async restart() {
      await halt('SIGTERM');
      await spawnOnce();
    },
    /** The first start: on a free port, and on another one if it was taken in between. */
    async firstStart() {
      for (let attempt = 1; ; attempt++) {
        port = await freePort();
        try {
          await spawnOnce();
          return;
        } catch (err) {
          const log = (err as { log?: string }).log ?? '';
          if (attempt >= PORT_ATTEMPTS || !/EADDRINUSE|address already in use/i.test(log)) throw err;
        }
      }
    },
    async close() {
      await halt('SIGTERM');
      await new Promise<void>((r) => (file ? file.end(r) : r()));
      file = null;
    },
  };
  return node;
}

/** Starts PostgreSQL and Redis (backend postgres), the nodes one after the other, then the balancer. */
export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const count = opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 16) throw new Error(`nodes must be 1 to 16, not ${count}`);
  const backend = opts.backend ?? 'postgres';
  const profile = opts.profile ?? 'test';
  const progress = opts.onProgress ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'careline-cluster-'));
  const tokenSecret = randomBytes(32).toString('hex');
  const adminToken = randomBytes(32).toString('hex');

  let pg: Service | null = null;
  let redis: Service | null = null;
  let balancer: HaproxyService | null = null;
  const nodes: ReturnType<typeof makeNode>[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(nodes.map((n) => n.close().catch(() => {})));
      await balancer?.stop().catch(() => {});
      await Promise.all([redis?.stop().catch(() => {}), pg?.stop().catch(() => {})]);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    if (backend === 'postgres') {
      progress('PostgreSQL and Redis');
      [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    }
    const commonEnv: Record<string, string> = {
      IM_PROFILE: profile,
      CARELINE_HTTP_HOST: '127.0.0.1',
      // Behind the balancer: the client's address comes from X-Forwarded-For (per-address limits).
      CARELINE_HTTP_TRUST_PROXY: 'true',
      CARELINE_AUTH_TOKEN_SECRET: tokenSecret,
      CARELINE_AUTH_ADMIN_TOKEN: adminToken,
      ...(pg && redis
        ? {
            CARELINE_STORAGE_DRIVER: 'postgres',
            CARELINE_STORAGE_POSTGRES_URL: pg.url,
            CARELINE_BUS_DRIVER: 'redis',
            CARELINE_BUS_REDIS_URL: redis.url,
            CARELINE_PRESENCE_DRIVER: 'redis',
          }
        : { CARELINE_STORAGE_DRIVER: 'sqlite' }),
      ...opts.env,
    };
    const starts: Promise<void>[] = [];
    for (let i = 1; i <= count; i++) {
      const name = `node-${i}`;
      const node = makeNode(name, dir, (port) => ({
        CARELINE_HTTP_PORT: String(port),
        CARELINE_CLUSTER_NODE_ID: name,
        CARELINE_CLUSTER_PUBLIC_ADDRESS: `http://127.0.0.1:${port}`,
        CARELINE_SERVICE_ID: name,
        ...(backend === 'sqlite' ? { CARELINE_STORAGE_SQLITE_PATH: join(dir, `${name}.db`) } : {}),
        ...commonEnv,
      }), profile === 'dev' && i === 1);
      nodes.push(node);
      progress(`Careline ${name}`);
      // The first one alone: it applies the migrations. Then the others at once — or one after
      // the other with the dev profile, where each seeds the demo tenant as it starts.
      const start = node.firstStart();
      starts.push(start);
      if (i === 1 || profile === 'dev') await start;
    }
    const failed = (await Promise.allSettled(starts)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    progress('HAProxy');
    balancer = await startHaproxy({ port: opts.port, servers: nodes.map((n) => ({ name: n.name, port: n.port })), checkIntervalMs: opts.checkIntervalMs });
    const url = balancer.url;
    const raw = nodes[0]!.banner;
    const banner = raw === null ? null : raw.replaceAll(nodes[0]!.url, url).replaceAll(nodes[0]!.url.replace(/^http/, 'ws'), url.replace(/^http/, 'ws'));
    const lb = balancer;
    const cluster: LocalCluster = {
      url, dir, nodes, pg, redis, balancer: lb, backend, profile, commonEnv, tokenSecret, adminToken, banner,
      async waitBalanced(timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const states = await lb.serverStates();
          const want = nodes.filter((n) => n.running()).map((n) => n.name);
          if (want.every((n) => states[n] === 'UP')) return;
          if (Date.now() > deadline) throw new Error(`the balancer does not see every running node UP after ${timeoutMs} ms: ${JSON.stringify(states)}`);
          await sleep(100);
        }
      },
      stop,
    };
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}
