/**
 * `careline start --supervise`: keeps a server running, as seed 000's appArmour did. The
 * server runs as a child process (`careline start`); when it exits abnormally — a crash,
 * a signal the supervisor did not send, 70 when storage can no longer write — it is
 * started again after a delay that doubles from `backoffMs` up to `backoffMaxMs`, and goes
 * back to `backoffMs` once a server has run for `healthyMs`. Every start and exit is a JSON
 * log line (pino, like the server's) saying why: exit code or signal, uptime, the delay.
 *
 * SIGTERM and SIGINT are passed on to the server, which shuts down gracefully; the
 * supervisor then exits with its code. A server that exits 0 on its own, or 78 (its
 * configuration is bad: a restart would fail the same way), is not restarted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ConfigError, loadConfig } from '../config/load.ts';
import { EXIT } from './exit.ts';
import { missingNodeFlags } from './node-flags.ts';

export interface SuperviseOptions {
  /** First restart delay (default 1 s). */
  backoffMs?: number;
  /** Longest restart delay (default 30 s). */
  backoffMaxMs?: number;
  /** A server that ran this long resets the delay to `backoffMs` (default 60 s). */
  healthyMs?: number;
}

const entry = fileURLToPath(new URL('./careline.ts', import.meta.url));

/** The delay before restart number `failures` (0-based) in a row. */
export const backoffDelay = (failures: number, base: number, max: number): number => Math.min(max, base * 2 ** Math.min(failures, 30));

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`;
  if (code === EXIT.software) return 'exit code 70: storage can no longer write';
  return `exit code ${code}`;
}

export async function supervise(opts: SuperviseOptions = {}): Promise<number> {
  const backoffMs = opts.backoffMs ?? 1000;
  const backoffMaxMs = Math.max(opts.backoffMaxMs ?? 30_000, backoffMs);
  const healthyMs = opts.healthyMs ?? 60_000;

  // The configuration is checked once here: a bad one fails now instead of in a restart loop.
  let config;
  try {
    config = loadConfig().config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`careline: ${err.message}\n`);
    return EXIT.config;
  }
  const log = pino({
    level: config.log.level,
    base: { pid: process.pid, hostname: hostname(), service: config.service.type, node: config.service.id, component: 'supervisor' },
  });

  return new Promise<number>((resolve) => {
    let child: ChildProcess | null = null;
    let startedAt = 0;
    let failures = 0;
    let restarts = 0;
    let stopping: NodeJS.Signals | null = null;
    let timer: NodeJS.Timeout | null = null;

    const finish = (code: number) => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(code);
    };

    const start = () => {
      timer = null;
      startedAt = Date.now();
      const c = spawn(process.execPath, [...process.execArgv, ...missingNodeFlags(process.execArgv), entry, 'start'], { stdio: 'inherit', env: process.env });
      child = c;
      c.once('spawn', () => log.info({ child_pid: c.pid, restarts }, 'server started'));
      c.once('error', (err) => log.error({ err }, 'cannot start the server'));
      c.once('close', (code, signal) => onExit(c, code, signal));
    };

    const onExit = (c: ChildProcess, code: number | null, signal: NodeJS.Signals | null) => {
      if (child !== c) return;
      child = null;
      const uptime_ms = Date.now() - startedAt;
      if (stopping) {
        log.info({ child_pid: c.pid, code, signal, uptime_ms }, 'server stopped');
        // Ended by the signal passed on (before it could catch it, say, while loading): a
        // requested stop, so a clean exit. Any other signal is reported as a shell would.
        if (signal === stopping) finish(EXIT.ok);
        else finish(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : EXIT.failure));
        return;
      }
      if (code === EXIT.ok) {
        log.info({ child_pid: c.pid, code, uptime_ms }, 'server exited cleanly; not restarting');
        finish(EXIT.ok);
        return;
      }
      if (code === EXIT.config) {
        log.fatal({ child_pid: c.pid, code, uptime_ms, reason: 'exit code 78: bad configuration' }, 'server exited; not restarting');
        finish(EXIT.config);
        return;
      }
      if (uptime_ms >= healthyMs) failures = 0;
      const restart_in_ms = backoffDelay(failures, backoffMs, backoffMaxMs);
      failures++;
      restarts++;
      log.error({ child_pid: c.pid, code, signal, reason: describeExit(code, signal), uptime_ms, restart_in_ms, restarts }, 'server exited');
      timer = setTimeout(start, restart_in_ms);
    };

    const onSignal = (signal: NodeJS.Signals) => {
      stopping = signal;
      if (child && child.exitCode === null && child.signalCode === null) {
        log.info({ signal, child_pid: child.pid }, 'forwarding signal');
        child.kill(signal);
        return;
      }
      if (timer) clearTimeout(timer);
      log.info({ signal }, 'stopped while waiting to restart the server');
      finish(EXIT.ok);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    start();
  });
}
