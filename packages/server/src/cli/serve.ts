/**
 * `careline start` (and `npm start`): loads the profile (IM_PROFILE, dev by default), opens
 * the database (created on first start), seeds the demo data when `demo` is on, listens,
 * and prints where to connect. SIGINT/SIGTERM shut down gracefully. If storage can no
 * longer write (the SQLite writer thread died) it shuts down too and exits with 70, for a
 * supervisor (`careline start --supervise`, systemd) to restart it.
 */
import { loadConfig, ConfigError } from '../config/load.ts';
import { startServer } from '../server.ts';
import { seedDemo, type Demo } from '../demo.ts';
import { EXIT } from './exit.ts';
import { NODE_FLAGS, startedWithNodeFlags } from './node-flags.ts';

/** Runs the server until a signal or a storage failure; resolves with the process's exit code. */
export async function serve(): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`careline: ${err.message}\n`);
      return EXIT.config;
    }
    throw err;
  }
  const { profile, config } = loaded;
  // A writer thread that died cannot come back in this process: shut down and exit so that a
  // supervisor (systemd, Kubernetes, `careline start --supervise`) starts a fresh one;
  // clients reconnect and resend.
  let onStorageFailure = (): void => {};
  const server = await startServer({ config, onStorageFailure: () => onStorageFailure() });
  const log = server.logger;
  log.info({ profile, url: server.url, storage: config.storage.driver === 'sqlite' ? config.storage.sqlitePath : 'postgres', node: server.core.nodeId }, `Careline listening on ${server.url} (profile ${profile})`);
  if (!startedWithNodeFlags()) {
    log.warn({ node_flags: NODE_FLAGS }, `Node was started without ${NODE_FLAGS.join(' ')}: its young generation may grow to 128 MiB (each collection of it stalling every connection for tens of ms) and its old generation hold 100 MiB or more of garbage (docs/deploy.md)`);
  }

  if (config.demo) {
    const demo = await seedDemo(server.core);
    process.stdout.write(banner(profile, server.url, demo));
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string, exitCode = 0) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      server.close().then(
        () => resolve(exitCode),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(EXIT.failure);
        },
      );
    };
    onStorageFailure = () => stop('storage failure', EXIT.software);
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}

/** What `npm start` prints in dev: where to connect, every demo user with a whole token, and a command that runs as pasted. */
export function banner(profile: string, url: string, demo: Demo): string {
  const ws = url.replace(/^http/, 'ws');
  const idWidth = Math.max(...demo.users.map((u) => u.id.length)) + 2;
  const nameWidth = Math.max(...demo.users.map((u) => u.name.length)) + 2;
  return [
    '',
    `  Careline is running (profile ${profile}).`,
    '',
    `  Web client    ${url}/   (pick a demo user; another tab for the other one)`,
    `  HTTP API      ${url}/api/v2`,
    `  WebSocket     ${ws}/ws?token=<user token>`,
    `  API docs      ${url}/docs`,
    `  SDK bundle    ${url}/sdk/im.client.js`,
    `  Metrics       ${url}/metrics`,
    '',
    `  Demo tenant "demo" (the web client offers the same users)`,
    `    API key       ${demo.apiKey}   (header X-API-Key; the same at every start on this database)`,
    ...demo.users.map((u) => `    ${u.role.padEnd(8)}${u.id.padEnd(idWidth)}${u.name.padEnd(nameWidth)}token ${u.token}`),
    `    conversation  ${demo.conversationId}   (${demo.doctor.id} ↔ ${demo.patient.id})`,
    '',
    `  Try:  curl -H "Authorization: Bearer ${demo.patient.token}" ${url}/api/v2/sessions`,
    '',
  ].join('\n') + '\n';
}
