/**
 * coturn (Debian's `turnserver`, installed by `scripts/install-services`) on loopback, for the
 * browser call tests and for trying calls by hand: each call starts a fresh `turnserver` with
 * its config in a new temp dir, listening on 127.0.0.1 on a free port (STUN and TURN, UDP and
 * TCP), with the TURN REST API's shared secret (`use-auth-secret`, `static-auth-secret`) and a
 * realm, so the credentials Careline hands out with a call (`calls.turn.*`) are what it checks.
 * Relaying to loopback peers is allowed (both browsers of a test are on this machine).
 *
 *   const turn = await startCoturn();            // turn.url: turn:127.0.0.1:<port>?transport=udp
 *   // CARELINE_CALLS_TURN_URLS=turn.urls.join(','), CARELINE_CALLS_TURN_SECRET=turn.secret
 *   await turn.stop();                           // by process id; the temp dir is removed
 *
 * A missing binary throws an error that says to run the install script. A server a caller
 * forgot to stop is killed when the process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts, freePort, INSTALL_SCRIPT, LogTail } from './services.ts';

const TURNSERVER = '/usr/bin/turnserver';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

export interface CoturnOptions {
  /** The shared secret (default: a random one). */
  secret?: string;
  /** The realm (default `careline.test`). */
  realm?: string;
}

export interface CoturnService {
  /** The TURN URLs (UDP and TCP), for `calls.turn.urls`. */
  urls: string[];
  /** The UDP TURN URL. */
  url: string;
  /** The STUN URL (the same server). */
  stunUrl: string;
  secret: string;
  realm: string;
  port: number;
  readonly pid: number;
  dir: string;
  /** The server's recent log output, for a failing test's message. */
  log(): string;
  /** Stops the process by its id, waits until it has exited and removes the dir. Idempotent. */
  stop(): Promise<void>;
}

/** Finds `turnserver`: Debian's `/usr/bin/turnserver`. */
export function locateTurnserver(file = TURNSERVER): string {
  try {
    accessSync(file, constants.X_OK);
    return file;
  } catch {
    throw new Error(`coturn is not installed (no ${file}): run \`${INSTALL_SCRIPT}\` as root (Debian, apt-get) and try again`);
  }
}

const running = new Set<{ child: ChildProcess; dir: string }>();
process.on('exit', () => {
  for (const { child, dir } of running) {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The config file of one server. */
export function coturnConfig(o: { port: number; secret: string; realm: string; dir: string }): string {
  return [
    'listening-ip=127.0.0.1',
    'relay-ip=127.0.0.1',
    `listening-port=${o.port}`,
    'use-auth-secret',
    `static-auth-secret=${o.secret}`,
    `realm=${o.realm}`,
    'fingerprint',
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-multicast-peers',
    // Both ends of a test call are on this machine.
    'allow-loopback-peers',
    `pidfile=${join(o.dir, 'turnserver.pid')}`,
    `userdb=${join(o.dir, 'turndb')}`,
    'log-file=stdout',
    'simple-log',
    '',
  ].join('\n');
}

export async function startCoturn(opts: CoturnOptions = {}): Promise<CoturnService> {
  const bin = locateTurnserver();
  const secret = opts.secret ?? randomBytes(24).toString('hex');
  const realm = opts.realm ?? 'careline.test';
  const dir = mkdtempSync(join(tmpdir(), 'careline-coturn-'));
  const log = new LogTail();
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const conf = join(dir, 'turnserver.conf');
      writeFileSync(conf, coturnConfig({ port, secret, realm, dir }));
      const child = spawn(bin, ['-c', conf], {
        cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' },
      });
      child.stdout!.on('data', (c: Buffer) => log.add(c));
      child.stderr!.on('data', (c: Buffer) => log.add(c));
      const ready = await new Promise<boolean>((resolve) => {
        const deadline = Date.now() + START_TIMEOUT_MS;
        const onExit = () => resolve(false);
        child.once('exit', onExit);
        const poll = async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          if (await accepts(port)) {
            child.off('exit', onExit);
            return resolve(true);
          }
          if (Date.now() > deadline) {
            child.off('exit', onExit);
            child.kill('SIGKILL');
            return resolve(false);
          }
          setTimeout(poll, 50);
        };
        setTimeout(poll, 50);
      });
      if (!ready) {
        if (attempt < 5 && /address already in use|cannot bind/i.test(String(log))) continue;
        throw new Error(`turnserver was not ready on 127.0.0.1:${port}:\n${log}`);
      }
      const entry = { child, dir };
      running.add(entry);
      child.unref();
      (child.stdout as unknown as { unref?: () => void }).unref?.();
      (child.stderr as unknown as { unref?: () => void }).unref?.();
      let stopping: Promise<void> | undefined;
      return {
        urls: [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`],
        url: `turn:127.0.0.1:${port}?transport=udp`,
        stunUrl: `stun:127.0.0.1:${port}`,
        secret, realm, port, dir,
        get pid() {
          return child.pid!;
        },
        log: () => String(log),
        stop() {
          stopping ??= (async () => {
            if (child.exitCode === null && child.signalCode === null) {
              child.ref();
              const exited = new Promise<void>((r) => child.once('exit', () => r()));
              try {
                process.kill(child.pid!, 'SIGTERM');
              } catch {
                // exited meanwhile
              }
              const t = setTimeout(() => {
                try {
                  process.kill(child.pid!, 'SIGKILL');
                } catch {
                  // gone
                }
              }, STOP_TIMEOUT_MS);
              await exited;
              clearTimeout(t);
            }
            running.delete(entry);
            rmSync(dir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
