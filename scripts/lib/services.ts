/**
 * PostgreSQL, Redis and HAProxy on loopback, for the tests and for `npm run cluster`: each
 * call starts a fresh server process from Debian's packages (installed by
 * `scripts/install-services`), on 127.0.0.1 on a free port, with its data, socket and config
 * in a new temp dir, and nothing written to disk that a test does not need (PostgreSQL without
 * fsync, Redis without snapshots or an append-only file).
 *
 *   const pg = await startPostgres();   // pg.url: postgres://careline@127.0.0.1:<port>/postgres
 *   const redis = await startRedis();   // redis.url: redis://127.0.0.1:<port>
 *   const lb = await startHaproxy({ servers: [{ name: 'node-1', port: 4001 }, …] });
 *   ...
 *   await pg.stop(); await redis.stop(); // by process id; the temp dir is removed
 *
 * A missing binary throws an error that says to run the install script, so a test that needs
 * the service fails and says how to fix it. A server a test forgot to stop is killed when the
 * test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The script that installs the services, named by every "missing" error. */
export const INSTALL_SCRIPT = 'scripts/install-services';

export interface Service {
  /** A connection URL for the client library (`pg`, `ioredis`). */
  url: string;
  /** The server's process id (PostgreSQL: the postmaster); a new one after restart(). */
  readonly pid: number;
  port: number;
  /** The temp dir holding the data, the socket and the config; removed by stop(). */
  dir: string;
  /** The server's recent log output, for a failing test's message. */
  log(): string;
  /**
   * Stops the process by its id (a clean shutdown), waits until it has exited and starts it
   * again on the same port and dir, for tests of a server that goes away and comes back.
   * PostgreSQL keeps its data; Redis, which saves nothing, comes back empty. `whileDown` runs
   * after the process has exited and before it starts again (a test of the outage itself).
   */
  restart(opts?: { whileDown?: () => Promise<void> }): Promise<void>;
  /** Stops the process by its id, waits until it has exited and removes the dir. Idempotent. */
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** More `postgres -c name=value` settings (they override the defaults here). */
  settings?: Record<string, string | number>;
}

export interface PostgresBinaries {
  binDir: string;
  initdb: string;
  postgres: string;
}

const PG_LIB = '/usr/lib/postgresql';
const REDIS_CANDIDATES = ['/usr/bin/redis-server'];
const HAPROXY_CANDIDATES = ['/usr/sbin/haproxy'];
const PG_USER = 'careline';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;

const missing = (what: string, looked: string) =>
  new Error(`${what} is not installed (${looked}): run \`${INSTALL_SCRIPT}\` as root (Debian, apt-get) and try again`);

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Finds PostgreSQL's server binaries: Debian's `/usr/lib/postgresql/<version>/bin` (the
 * newest version that has both `initdb` and `postgres`), else `initdb` on PATH.
 */
export function locatePostgres(opts: { libRoot?: string; path?: string } = {}): PostgresBinaries {
  const libRoot = opts.libRoot ?? PG_LIB;
  let versions: string[] = [];
  try {
    versions = readdirSync(libRoot).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    // no such folder: not Debian's package
  }
  for (const v of versions) {
    const binDir = join(libRoot, v, 'bin');
    const initdb = join(binDir, 'initdb');
    const postgres = join(binDir, 'postgres');
    if (executable(initdb) && executable(postgres)) return { binDir, initdb, postgres };
  }
  const initdb = onPath('initdb', opts.path ?? process.env.PATH ?? '');
  if (initdb) {
    const postgres = onPath('postgres', opts.path ?? process.env.PATH ?? '');
    if (postgres) return { binDir: initdb.slice(0, -'/initdb'.length), initdb, postgres };
  }
  throw missing('PostgreSQL', `no ${libRoot}/<version>/bin/initdb and postgres, no initdb on PATH`);
}

/** Finds `redis-server`: Debian's `/usr/bin/redis-server`, else on PATH. */
export function locateRedis(opts: { candidates?: string[]; path?: string } = {}): string {
  const candidates = opts.candidates ?? REDIS_CANDIDATES;
  for (const c of candidates) if (executable(c)) return c;
  const found = onPath('redis-server', opts.path ?? process.env.PATH ?? '');
  if (found) return found;
  throw missing('Redis', `no ${candidates.join(' or ')}, no redis-server on PATH`);
}

/** Finds `haproxy`: Debian's `/usr/sbin/haproxy`, else on PATH. */
export function locateHaproxy(opts: { candidates?: string[]; path?: string } = {}): string {
  const candidates = opts.candidates ?? HAPROXY_CANDIDATES;
  for (const c of candidates) if (executable(c)) return c;
  const found = onPath('haproxy', opts.path ?? process.env.PATH ?? '');
  if (found) return found;
  throw missing('HAProxy', `no ${candidates.join(' or ')}, no haproxy on PATH`);
}

/** A port free on 127.0.0.1 right now (the server may still lose it to another process: callers retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * PostgreSQL refuses to run as root. As root, initdb and the server run as the `postgres`
 * user that Debian's package creates (the temp dir is handed to it); otherwise as ourselves.
 */
function postgresIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw missing('PostgreSQL', 'no `postgres` user to run it as, and it refuses to run as root');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Every server started and not yet stopped: killed (and its dir removed) when the process exits. */
const running = new Set<{ pid: () => number; dir: string }>();
process.on('exit', () => {
  for (const { pid, dir } of running) {
    try {
      process.kill(pid(), 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The last lines of a process's output. */
export class LogTail {
  #text = '';
  add(chunk: Buffer | string): void {
    this.#text = (this.#text + chunk.toString()).slice(-16_384);
  }
  toString(): string {
    return this.#text;
  }
}

interface Launch {
  child: ChildProcess;
}

/** True once something accepts a TCP connection on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Spawns a server and resolves once its output has a line matching `ready` (or, for a server
 * that prints nothing when ready, once `ready.probe()` is true: polled every 50 ms); rejects
 * with the output if it exits first or takes longer than START_TIMEOUT_MS.
 */
function launch(file: string, args: string[], ready: RegExp | { probe: () => Promise<boolean> }, opts: { uid?: number; gid?: number; cwd: string; log: LogTail }): Promise<Launch> {
  const { log } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, uid: opts.uid, gid: opts.gid, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let seen = '';
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      if (err) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        reject(err);
      } else {
        resolve({ child });
      }
    };
    const onData = (chunk: Buffer) => {
      log.add(chunk);
      if (done) return;
      seen = (seen + chunk.toString()).slice(-4096);
      if (ready instanceof RegExp && ready.test(seen)) finish();
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(Object.assign(new Error(`${file} exited (${signal ?? `code ${code}`}) before it was ready:\n${log}`), { log: String(log) }));
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', onExit);
    child.on('error', (err) => finish(err));
    const timer = setTimeout(() => finish(new Error(`${file} was not ready after ${START_TIMEOUT_MS} ms:\n${log}`)), START_TIMEOUT_MS);
    if (!(ready instanceof RegExp)) {
      const poll = async () => {
        if (done) return;
        if (await ready.probe().catch(() => false)) {
          // Not ready after all if it exited meanwhile (something else answered on the port).
          if (child.exitCode === null && child.signalCode === null) finish();
          return;
        }
        setTimeout(poll, 50);
      };
      setTimeout(poll, 50);
    }
  });
}

const ADDRESS_IN_USE = /address already in use|could not bind|could not create any TCP\/IP sockets/i;

/** Starts on a free port, and on another one if the port was taken in between. */
async function launchOnFreePort(start: (port: number) => Promise<Launch>): Promise<Launch & { port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { ...(await start(port)), port };
    } catch (err) {
      const log = (err as { log?: string }).log ?? '';
      if (attempt >= PORT_ATTEMPTS || !ADDRESS_IN_USE.test(log)) throw err;
    }
  }
}

/**
 * Turns a started process into a Service; its handles no longer keep the test process alive.
 * `relaunch` starts it again on the same port and dir (restart()).
 */
function service(first: Launch & { port: number }, dir: string, url: string, signal: NodeJS.Signals, log: LogTail, relaunch: (port: number) => Promise<Launch>): Service {
  const { port } = first;
  let child = first.child;
  const entry = { pid: () => child.pid!, dir };
  running.add(entry);
  const detach = (c: ChildProcess) => {
    c.unref();
    (c.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (c.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  };
  detach(child);

  /** Ends the current process by its id and waits until it has exited (SIGKILL after STOP_TIMEOUT_MS). */
  const halt = async () => {
    const c = child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.ref();
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
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
    }, STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  let queue: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  const svc: Service = {
    url,
    get pid() {
      return child.pid!;
    },
    port,
    dir,
    log: () => String(log),
    stop() {
      stopping ??= queue.catch(() => {}).then(async () => {
        await halt();
        running.delete(entry);
        rmSync(dir, { recursive: true, force: true });
      });
      return stopping;
    },
    restart(opts = {}) {
      if (stopping) return Promise.reject(new Error('restart() after stop()'));
      queue = queue.catch(() => {}).then(async () => {
        await halt();
        try {
          await opts.whileDown?.();
        } finally {
          child = (await relaunch(port)).child;
        }
        detach(child);
      });
      return queue;
    },
  };
  return svc;
}

/** Runs a command to its end; rejects with its output if it fails. */
function run(file: string, args: string[], opts: { cwd: string; uid?: number; gid?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = new LogTail();
    const child = spawn(file, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' }, timeout: START_TIMEOUT_MS });
    child.stdout!.on('data', (c: Buffer) => log.add(c));
    child.stderr!.on('data', (c: Buffer) => log.add(c));
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${file} ${args.join(' ')} failed (${signal ?? `code ${code}`}):\n${log}`))));
  });
}

/**
 * One initdb per test process (it is most of the start-up time): later servers copy its data
 * dir. Removed when the process exits.
 */
let template: Promise<string> | undefined;
function pgTemplate(bin: PostgresBinaries, ids: { uid: number; gid: number } | undefined): Promise<string> {
  template ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careline-pg-template-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    try {
      if (ids) chownSync(dir, ids.uid, ids.gid);
      await run(bin.initdb, ['-D', join(dir, 'data'), '-U', PG_USER, '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync', '--no-instructions'], {
        cwd: dir, uid: ids?.uid, gid: ids?.gid,
      });
      return dir;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  })();
  template.catch(() => (template = undefined)); // a failed initdb is tried again by the next call
  return template;
}

/**
 * A fresh PostgreSQL: a new temp dir with a fresh cluster (initdb: superuser `careline`, trust
 * auth, UTF8, C locale), then `postgres` on 127.0.0.1 and a free port, its unix socket in
 * the same dir, fsync and synchronous commit off. The URL names the `postgres` database.
 */
export async function startPostgres(opts: PostgresOptions = {}): Promise<Service> {
  const bin = locatePostgres();
  const ids = postgresIds();
  const dir = mkdtempSync(join(tmpdir(), 'careline-pg-'));
  try {
    if (ids) chownSync(dir, ids.uid, ids.gid);
    const data = join(dir, 'data');
    await run('cp', ['-a', join(await pgTemplate(bin, ids), 'data'), data], { cwd: dir, uid: ids?.uid, gid: ids?.gid });

    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: dir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      logging_collector: 'off',
      lc_messages: 'C',
      // Autovacuum looks at each database every second, not every minute: the queues every append
      // feeds (search-pending rows, jobs) are read past their dead rows until they are vacuumed,
      // and a fresh table's first statistics (which replace plans made while it was empty) wait for it.
      autovacuum_naptime: 1,
      ...opts.settings,
    };
    const log = new LogTail();
    const start = (port: number) =>
      launch(bin.postgres, ['-D', data, ...Object.entries({ ...settings, port }).flatMap(([k, v]) => ['-c', `${k}=${v}`])], /database system is ready to accept connections/, {
        cwd: dir, uid: ids?.uid, gid: ids?.gid, log,
      });
    const launched = await launchOnFreePort(start);
    // SIGINT: fast shutdown (clients are disconnected, nothing waits for them).
    return service(launched, dir, `postgres://${PG_USER}@127.0.0.1:${launched.port}/postgres`, 'SIGINT', log, start);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A fresh Redis: `redis-server` with a config generated into a new temp dir, on 127.0.0.1 and a
 * free port, in the foreground, with no snapshots and no append-only file.
 */
export async function startRedis(): Promise<Service> {
  const redisServer = locateRedis();
  const dir = mkdtempSync(join(tmpdir(), 'careline-redis-'));
  const conf = join(dir, 'redis.conf');
  try {
    const log = new LogTail();
    const start = (_port: number) => launch(redisServer, [conf], /Ready to accept connections/, { cwd: dir, log });
    const launched = await launchOnFreePort((port) => {
      writeFileSync(conf, [
        'bind 127.0.0.1',
        `port ${port}`,
        'protected-mode yes',
        'daemonize no',
        `dir ${dir}`,
        'save ""',
        'appendonly no',
        'logfile ""',
        'loglevel notice',
        '',
      ].join('\n'));
      return start(port);
    });
    return service(launched, dir, `redis://127.0.0.1:${launched.port}`, 'SIGTERM', log, start);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface HaproxyServer {
  /** The server's name in the config, the stats and the logs (`node-1`). */
  name: string;
  /** Its port on 127.0.0.1. */
  port: number;
}

export interface HaproxyOptions {
  servers: HaproxyServer[];
  /** The port to listen on, on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Health-check interval in ms (default 1000); a server is out after 2 failed checks, back after 2 good ones. */
  checkIntervalMs?: number;
}

export interface HaproxyService extends Service {
  /** The generated haproxy.cfg. */
  config: string;
  /** Each server's state as the balancer sees it (`UP`, `DOWN`, `UP 1/2`…), from its stats socket. */
  serverStates(): Promise<Record<string, string>>;
}

/**
 * The balancer's config: HTTP mode in front of Careline nodes. WebSocket upgrades pass
 * through (HAProxy switches the connection to a tunnel after the 101) and stay open for
 * `timeout tunnel`; the clients' and the server's heartbeats keep them well inside it.
 * Nodes are health-checked on `/readyz` (503 while storage cannot answer or the node shuts
 * down), new connections go to the node with the fewest (leastconn, as WebSockets are long),
 * except long-poll requests (`/api/v2/poll…`), which go by their `client=` parameter (a
 * consistent hash), so that one client's polls and POSTs meet on one node; a connection
 * refused by a node that died is tried again on another one (`retries`, `option redispatch`).
 */
export function haproxyConfig(o: { port: number; servers: HaproxyServer[]; statsSocket?: string; checkIntervalMs?: number }): string {
  const inter = o.checkIntervalMs ?? 1000;
  const nodes = [
    '    option httpchk',
    '    http-check send meth GET uri /readyz',
    '    http-check expect status 200',
    `    default-server inter ${inter} fastinter ${Math.max(100, Math.floor(inter / 2))} downinter ${inter} fall 2 rise 2`,
    ...o.servers.map((s) => `    server ${s.name} 127.0.0.1:${s.port} check`),
  ];
  return [
    'global',
    '    log stderr format raw local0 notice',
    ...(o.statsSocket ? [`    stats socket ${o.statsSocket} mode 600 level admin`] : []),
    '',
    'defaults',
    '    mode http',
    '    log global',
    '    option dontlognull',
    '    option forwardfor',
    '    option redispatch',
    '    retries 3',
    '    timeout connect 5s',
    '    timeout client 60s',
    '    timeout server 60s',
    '    timeout http-request 10s',
    '    timeout http-keep-alive 10s',
    '    timeout queue 10s',
    '    timeout tunnel 1h',
    '    timeout client-fin 5s',
    '    timeout server-fin 5s',
    '',
    'frontend careline',
    `    bind 127.0.0.1:${o.port}`,
    '    acl long_poll path_beg /api/v2/poll',
    '    use_backend careline_polls if long_poll',
    '    default_backend careline_nodes',
    '',
    'backend careline_nodes',
    '    balance leastconn',
    ...nodes,
    '',
    // One long-poll client's polls and POSTs on one node (its `client=`), so that POSTs in flight
    // together keep their order; a client without it is spread round robin.
    'backend careline_polls',
    '    balance url_param client',
    '    hash-type consistent',
    ...nodes,
    '',
  ].join('\n');
}

/** Sends one command to HAProxy's stats socket and returns the answer. */
function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path: socket });
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error(`no answer from ${socket}`)));
    sock.end(`${command}\n`);
  });
}

/**
 * HAProxy in front of the given servers: the config of `haproxyConfig` written into a new
 * temp dir, `haproxy -db` (foreground) on 127.0.0.1 and the given or a free port; ready once
 * the port accepts connections.
 */
export async function startHaproxy(opts: HaproxyOptions): Promise<HaproxyService> {
  const haproxy = locateHaproxy();
  const dir = mkdtempSync(join(tmpdir(), 'careline-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  const statsSocket = join(dir, 'stats.sock');
  try {
    const log = new LogTail();
    let config = '';
    const start = (port: number) => {
      config = haproxyConfig({ port, servers: opts.servers, statsSocket, checkIntervalMs: opts.checkIntervalMs });
      writeFileSync(file, config);
      rmSync(statsSocket, { force: true }); // a failed try on a taken port may have left one
      // Ready when both the port and the stats socket are there (serverStates() may be called at once).
      return launch(haproxy, ['-db', '-f', file], { probe: async () => existsSync(statsSocket) && (await accepts(port)) }, { cwd: dir, log });
    };
    const launched = opts.port ? { ...(await start(opts.port)), port: opts.port } : await launchOnFreePort(start);
    const svc = service(launched, dir, `http://127.0.0.1:${launched.port}`, 'SIGTERM', log, start); // SIGTERM: hard stop (SIGUSR1 would wait for open WebSockets)
    return Object.assign(svc, {
      config,
      async serverStates() {
        const csv = await haproxyCommand(statsSocket, 'show stat');
        const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
        const cols = header!.split(',');
        const at = (name: string) => cols.indexOf(name);
        const out: Record<string, string> = {};
        for (const row of rows) {
          const f = row.split(',');
          if (f[at('pxname')] === 'careline_nodes' && f[at('svname')] !== 'BACKEND') out[f[at('svname')]!] = f[at('status')]!;
        }
        return out;
      },
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
