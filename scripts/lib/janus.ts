/**
 * The Janus WebRTC server (Debian's package `janus`, installed by `scripts/install-services`)
 * on loopback, for the conference tests and for running the conference media by hand: each call
 * writes a fresh config to a new temp dir and starts `janus` with it.
 *
 *   const janus = await startJanus();
 *   janus.httpUrl      // http://127.0.0.1:<port>/janus   (the Janus API; apisecret or a token)
 *   janus.wsUrl        // ws://127.0.0.1:<port>            (the same API over WebSocket, for browsers)
 *   janus.adminUrl     // http://127.0.0.1:<port>/admin   (the admin API; admin_secret)
 *   janus.apiSecret, janus.adminSecret
 *   await janus.stop() // by process id; the temp dir is removed
 *
 * The config: janus.jcfg with an `api_secret` (the server's calls), an `admin_secret` (the admin
 * API: adding and removing the participants' tokens) and `token_auth` (a browser's requests
 * carry the token the server added for its participant); only the videoroom plugin (its
 * `admin_key` is the API secret, so only the server creates rooms) and only the HTTP and
 * WebSocket transports, each bound to 127.0.0.1. Plugins and transports are loaded from folders
 * in the temp dir that link only those libraries, so nothing else can load. No event handlers,
 * no loggers.
 *
 * A missing binary throws an error naming the install script.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTALL_SCRIPT, LogTail, freePort } from './services.ts';

const JANUS_CANDIDATES = ['/usr/bin/janus'];
const LIB_CANDIDATES = ['/usr/lib/x86_64-linux-gnu/janus', '/usr/lib/aarch64-linux-gnu/janus', '/usr/lib/janus', '/usr/local/lib/janus'];
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const ATTEMPTS = 4;

export interface JanusBinaries {
  janus: string;
  /** The folder holding `plugins/` and `transports/`. */
  libDir: string;
}

export interface JanusService {
  /** The Janus API over HTTP: `http://127.0.0.1:<port>/janus`. */
  httpUrl: string;
  /** The Janus API over WebSocket (subprotocol `janus-protocol`): `ws://127.0.0.1:<port>`. */
  wsUrl: string;
  /** The admin API over HTTP: `http://127.0.0.1:<port>/admin`. */
  adminUrl: string;
  apiSecret: string;
  adminSecret: string;
  readonly pid: number;
  dir: string;
  log(): string;
  /** Stops the process by its id (SIGINT, SIGKILL after 10 s), waits for its exit, removes the dir. Idempotent. */
  stop(): Promise<void>;
}

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** Finds `janus` and its plugin folders (Debian's), or throws naming the install script. */
export function locateJanus(opts: { candidates?: string[]; libCandidates?: string[] } = {}): JanusBinaries {
  const janus = (opts.candidates ?? JANUS_CANDIDATES).find(executable);
  const libDir = (opts.libCandidates ?? LIB_CANDIDATES).find((d) => existsSync(join(d, 'plugins', 'libjanus_videoroom.so')) && existsSync(join(d, 'transports', 'libjanus_http.so')));
  if (!janus || !libDir) {
    throw new Error(`Janus is not installed (no ${(opts.candidates ?? JANUS_CANDIDATES).join(' or ')} with the videoroom plugin and HTTP transport): run \`${INSTALL_SCRIPT}\` as root (Debian, apt-get) and try again`);
  }
  return { janus, libDir };
}

interface Ports {
  http: number;
  admin: number;
  ws: number;
}

function writeConfig(dir: string, lib: string, ports: Ports, apiSecret: string, adminSecret: string): string {
  const conf = join(dir, 'conf');
  const plugins = join(dir, 'plugins');
  const transports = join(dir, 'transports');
  const empty = join(dir, 'none');
  for (const d of [conf, plugins, transports, empty]) mkdirSync(d, { recursive: true });
  // Only the libraries linked here can load.
  symlinkSync(join(lib, 'plugins', 'libjanus_videoroom.so'), join(plugins, 'libjanus_videoroom.so'));
  symlinkSync(join(lib, 'transports', 'libjanus_http.so'), join(transports, 'libjanus_http.so'));
  if (existsSync(join(lib, 'transports', 'libjanus_websockets.so'))) {
    symlinkSync(join(lib, 'transports', 'libjanus_websockets.so'), join(transports, 'libjanus_websockets.so'));
  }
  writeFileSync(join(conf, 'janus.jcfg'), `general: {
  configs_folder = "${conf}"
  plugins_folder = "${plugins}"
  transports_folder = "${transports}"
  events_folder = "${empty}"
  loggers_folder = "${empty}"
  log_to_stdout = true
  debug_level = 4
  api_secret = "${apiSecret}"
  token_auth = true
  admin_secret = "${adminSecret}"
  session_timeout = 60
  server_name = "careline-janus"
}
certificates: {
}
media: {
  rtp_port_range = "20000-60000"
}
nat: {
  nice_debug = false
  ignore_mdns = true
}
plugins: {
}
transports: {
}
events: {
  broadcast = false
}
`);
  writeFileSync(join(conf, 'janus.plugin.videoroom.jcfg'), `general: {
  admin_key = "${apiSecret}"
  lock_rtp_forward = true
}
`);
  writeFileSync(join(conf, 'janus.transport.http.jcfg'), `general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = ${ports.http}
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_base_path = "/admin"
  admin_http = true
  admin_port = ${ports.admin}
  admin_ip = "127.0.0.1"
  admin_https = false
}
cors: {
}
`);
  writeFileSync(join(conf, 'janus.transport.websockets.jcfg'), `general: {
  json = "compact"
  ws = true
  ws_port = ${ports.ws}
  ws_ip = "127.0.0.1"
  wss = false
}
admin: {
  admin_ws = false
  admin_wss = false
}
`);
  return join(conf, 'janus.jcfg');
}

/** True once the Janus API answers `info` on this URL. */
async function answers(httpUrl: string): Promise<boolean> {
  try {
    const r = await fetch(`${httpUrl}/info`, { signal: AbortSignal.timeout(1000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Every Janus started and not yet stopped: killed (and its dir removed) when the process exits. */
const running = new Map<number, string>();
process.on('exit', () => {
  for (const [pid, dir] of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

function launch(bin: JanusBinaries, config: string, dir: string, httpUrl: string, log: LogTail): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin.janus, ['-C', config, '-F', join(dir, 'conf'), '-N'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      if (err) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        reject(err);
      } else resolve(child);
    };
    child.stdout!.on('data', (c: Buffer) => log.add(c));
    child.stderr!.on('data', (c: Buffer) => log.add(c));
    const onExit = (code: number | null, signal: string | null) => finish(new Error(`${bin.janus} exited (${signal ?? `code ${code}`}) before it was ready:\n${log}`));
    child.on('exit', onExit);
    child.on('error', (err) => finish(err));
    const timer = setTimeout(() => finish(new Error(`${bin.janus} was not ready after ${START_TIMEOUT_MS} ms:\n${log}`)), START_TIMEOUT_MS);
    const poll = async () => {
      if (done) return;
      if (await answers(httpUrl)) {
        if (child.exitCode === null && child.signalCode === null) finish();
        return;
      }
      setTimeout(poll, 100);
    };
    setTimeout(poll, 100);
  });
}

/**
 * A fresh Janus on 127.0.0.1 (three free ports: the API over HTTP, the admin API, the API over
 * WebSocket), its config and logs in a new temp dir, with new random secrets.
 */
export async function startJanus(opts: { apiSecret?: string; adminSecret?: string } = {}): Promise<JanusService> {
  const bin = locateJanus();
  const apiSecret = opts.apiSecret ?? randomBytes(18).toString('base64url');
  const adminSecret = opts.adminSecret ?? randomBytes(18).toString('base64url');
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'careline-janus-'));
    const ports = { http: await freePort(), admin: await freePort(), ws: await freePort() };
    const httpUrl = `http://127.0.0.1:${ports.http}/janus`;
    const log = new LogTail();
    let child: ChildProcess;
    try {
      child = await launch(bin, writeConfig(dir, bin.libDir, ports, apiSecret, adminSecret), dir, httpUrl, log);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (attempt >= ATTEMPTS) throw err;
      continue;
    }
    const pid = child.pid!;
    running.set(pid, dir);
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    let stopping: Promise<void> | undefined;
    return {
      httpUrl, wsUrl: `ws://127.0.0.1:${ports.ws}`, adminUrl: `http://127.0.0.1:${ports.admin}/admin`, apiSecret, adminSecret, pid, dir,
      log: () => String(log),
      stop() {
        stopping ??= (async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.ref();
            const exited = new Promise<void>((r) => child.once('exit', () => r()));
            try {
              process.kill(pid, 'SIGINT');
            } catch {
              // gone meanwhile
            }
            const timer = setTimeout(() => {
              try {
                process.kill(pid, 'SIGKILL');
              } catch {
                // gone
              }
            }, STOP_TIMEOUT_MS);
            await exited;
            clearTimeout(timer);
          }
          running.delete(pid);
          rmSync(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  }
}
