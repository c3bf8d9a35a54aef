/**
 * Starts Debian's clamd (package clamav-daemon, installed by `scripts/install-services`) for a
 * test: in a temp dir, on a Unix socket there, with a signature database of our own — one
 * body signature (.ndb) matching the EICAR test string anywhere in a file — so that nothing is
 * downloaded (freshclam needs the network; Debian's clamav-base ships no signatures). Stopped
 * by process id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CLAMD = process.env.CARELINE_CLAMD ?? '/usr/sbin/clamd';

/** The EICAR anti-virus test file (68 bytes): harmless, detected by every scanner by agreement. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

export interface Clamd {
  socket: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startClamd(opts: { streamMaxBytes?: number } = {}): Promise<Clamd> {
  if (!existsSync(CLAMD)) throw new Error(`clamd not found at ${CLAMD}: run scripts/install-services (as root) to install Debian's clamav-daemon.`);
  const dir = mkdtempSync(join(tmpdir(), 'careline-clamd-'));
  const db = join(dir, 'db');
  mkdirSync(db);
  writeFileSync(join(db, 'careline-test.ndb'), `Careline.Test.EICAR:0:*:${Buffer.from(EICAR).toString('hex')}\n`);
  const socket = join(dir, 'clamd.sock');
  const conf = join(dir, 'clamd.conf');
  writeFileSync(conf, [
    'Foreground yes',
    `LocalSocket ${socket}`,
    `DatabaseDirectory ${db}`,
    `LogFile ${join(dir, 'clamd.log')}`,
    `TemporaryDirectory ${dir}`,
    `StreamMaxLength ${opts.streamMaxBytes ?? 100 * 1024 * 1024}`,
    'MaxThreads 2',
    'SelfCheck 0',
    'Bytecode no',
    '',
  ].join('\n'));
  const child: ChildProcess = spawn(CLAMD, ['--config-file', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = existsSync(join(dir, 'clamd.log')) ? readFileSync(join(dir, 'clamd.log'), 'utf8') : '';
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`clamd exited (${child.exitCode}): ${stderr}\n${log}`);
    }
    if (existsSync(socket) && (await ping(socket))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`clamd did not answer PING within 60 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socket, dir, pid: child.pid!,
    async stop() {
      if (child.exitCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        const t = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function ping(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    let got = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('PONG')) done(true);
    });
    s.on('connect', () => s.write('zPING\0'));
  });
}
