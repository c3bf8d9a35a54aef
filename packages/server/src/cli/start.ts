#!/usr/bin/env node
/**
 * `npm start`: loads the profile (IM_PROFILE, dev by default), opens the database (created
 * on first start), seeds the demo data in dev, listens, and prints where to connect.
 * SIGINT/SIGTERM shut down gracefully. If storage can no longer write (the SQLite writer
 * thread died) it shuts down too and exits with 70, for a supervisor to restart it.
 */
import { loadConfig, ConfigError } from '../config/load.ts';
import { startServer } from '../server.ts';
import { seedDemo } from './demo.ts';

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`careline: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const { profile, config } = loaded;
  // A writer thread that died cannot come back in this process: shut down and exit so that a
  // supervisor (systemd, Kubernetes, pm2) starts a fresh one; clients reconnect and resend.
  let onStorageFailure = (): void => {};
  const server = await startServer({ config, onStorageFailure: () => onStorageFailure() });
  const log = server.logger;
  log.info({ profile, url: server.url, db: config.storage.sqlitePath }, `Careline listening on ${server.url} (profile ${profile})`);

  if (config.demo) {
    const demo = await seedDemo(server.core);
    const ws = server.url.replace(/^http/, 'ws');
    process.stdout.write(
      [
        '',
        `  Careline is running (profile ${profile}).`,
        '',
        `  Web client    ${server.url}/   (pick a demo user; another tab for the other one)`,
        `  HTTP API      ${server.url}/api/v2`,
        `  WebSocket     ${ws}/ws?token=<user token>`,
        `  API docs      ${server.url}/docs`,
        `  SDK bundle    ${server.url}/sdk/im.client.js`,
        `  Metrics       ${server.url}/metrics`,
        '',
        `  Demo tenant "demo"`,
        `    API key       ${demo.apiKey}`,
        `    doctor  ${demo.doctor.id.padEnd(9)} token ${demo.doctor.token}`,
        `    patient ${demo.patient.id.padEnd(9)} token ${demo.patient.token}`,
        `    conversation  ${demo.conversationId}`,
        '',
        `  Try:  curl -H "Authorization: Bearer ${demo.patient.token.slice(0, 16)}…" ${server.url}/api/v2/sessions`,
        '',
      ].join('\n') + '\n',
    );
  }

  let stopping = false;
  const stop = (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(exitCode),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  onStorageFailure = () => stop('storage failure', 70);
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`careline: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
