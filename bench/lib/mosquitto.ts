/**
 * Debian's Mosquitto broker (package `mosquitto`, installed by `scripts/install-services`),
 * started by the bench beside Careline's MQTT listener: on 127.0.0.1, a free port, a config
 * in a temp dir, no persistence, anonymous clients, its file limit raised to the hard limit;
 * stopped by its pid (and the dir removed). Never a system service.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts, freePort, INSTALL_SCRIPT } from '../../scripts/lib/services.ts';
import { procCpuMs, procRss } from './proc.ts';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'];

export function locateMosquitto(): string {
  for (const c of CANDIDATES) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(`Mosquitto not found (${CANDIDATES.join(' or ')}): run ${INSTALL_SCRIPT} (as root) to install Debian's mosquitto.`);
}

export interface Mosquitto {
  url: string;
  port: number;
  pid: number;
  version: string;
  cpuMs(): number;
  rssBytes(): number;
  log(): string;
  stop(): Promise<void>;
}

export async function startMosquitto(): Promise<Mosquitto> {
  const bin = locateMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'careline-bench-mosquitto-'));
  let child: ChildProcess | null = null;
  let out = '';
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(conf, [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'max_connections -1',
        '',
      ].join('\n'));
      out = '';
      const c = spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec "$0" "$@"', bin, '-c', conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      c.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8192)));
      c.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8192)));
      const end = Date.now() + 10_000;
      let up = false;
      while (Date.now() < end && c.exitCode === null && c.signalCode === null) {
        if (await accepts(port)) {
          up = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (up && c.exitCode === null) {
        const pid = c.pid!;
        const help = spawnSync(bin, ['-h'], { encoding: 'utf8', timeout: 5000 });
        const version = /mosquitto version (\S+)/.exec(`${help.stdout}${help.stderr}${out}`)?.[1] ?? '?';
        const exited = new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
        return {
          url: `mqtt://127.0.0.1:${port}`, port, pid, version,
          cpuMs: () => procCpuMs(pid),
          rssBytes: () => procRss(pid),
          log: () => out,
          stop: async () => {
            if (c.exitCode === null && c.signalCode === null) {
              process.kill(pid, 'SIGTERM');
              const t = setTimeout(() => c.exitCode === null && c.signalCode === null && process.kill(pid, 'SIGKILL'), 5000);
              await exited;
              clearTimeout(t);
            }
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      if (attempt >= 3 || !/in use/i.test(out)) throw new Error(`mosquitto did not start on port ${port}:\n${out}`);
    }
  } catch (err) {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
