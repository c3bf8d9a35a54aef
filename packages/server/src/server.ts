/**
 * A whole Careline server: core + the real-time layer + HTTP and WebSocket on one port. `startServer` listens;
 * `close` shuts down gracefully: stop accepting, close connections (clients reconnect),
 * finish queued writes, close storage.
 */
import pino, { type Logger } from 'pino';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.ts';
import { createCore, type Core } from './core.ts';
import { buildHttp } from './http/app.ts';
import type { Api } from './http/api.ts';
import { Metrics } from './ops/metrics.ts';
import { Realtime } from './realtime/realtime.ts';
import { WsEndpoint } from './ws/server.ts';

export interface CarelineServer {
  core: Core;
  http: Api;
  /** The node's connections over every transport: fan-out, presence, heartbeat. */
  realtime: Realtime;
  ws: WsEndpoint;
  logger: Logger;
  /** http://host:port once listening. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface StartOptions {
  config: Readonly<Config>;
  logger?: Logger;
  /**
   * Storage can no longer write (the SQLite writer thread died). The server stays up, reads
   * go on and /readyz says 503; a process with a supervisor had better stop so that it is
   * restarted (`npm start` does: it shuts down and exits with 70).
   */
  onStorageFailure?: (err: unknown) => void;
}

export async function startServer({ config, logger: given, onStorageFailure }: StartOptions): Promise<CarelineServer> {
  const logger = given ?? pino({ level: config.log.level, base: { service: config.service.type, node: config.service.id } });
  const metrics = new Metrics();
  const core = await createCore(config, {
    onBusError: (err) => logger.error({ err }, 'event handler failed'),
    onStorageFailure: (err) => {
      logger.fatal({ err }, 'storage cannot write any more; /readyz reports not ready');
      onStorageFailure?.(err);
    },
  });
  core.messages.committer.onBatch = (size, ms) => {
    metrics.commitBatch.observe(size);
    metrics.commitSeconds.observe(ms / 1000);
    metrics.messagesCommitted.inc(size);
  };
  const state = { accepting: true, connections: () => realtime.hub.size, startedAt: Date.now() };
  const http = await buildHttp({ core, metrics, logger, state });
  const realtime = new Realtime({ core, metrics, log: logger });
  const ws = new WsEndpoint({ core, realtime, log: logger, guard: http.limits });
  ws.attach(http.server);
  // Slowloris: a connection that sends its headers, or its whole request, too slowly is cut
  // (Node answers 408 and closes); so is an idle keep-alive connection. Node checks the first
  // two every `connectionsCheckingInterval` (read at listen), so that follows the timeouts.
  const h = config.http;
  http.server.headersTimeout = h.headersTimeoutMs;
  http.server.requestTimeout = Math.max(h.requestTimeoutMs, h.headersTimeoutMs);
  http.server.keepAliveTimeout = h.keepAliveTimeoutMs;
  (http.server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.max(50, Math.min(5000, Math.floor(h.headersTimeoutMs / 4)));
  if (h.maxConnections > 0) http.server.maxConnections = h.maxConnections;
  await http.listen({ host: config.http.host, port: config.http.port, backlog: config.http.backlog });
  const { port } = http.server.address() as AddressInfo;
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const stopPruning = pruneSessions(core, logger);

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      state.accepting = false;
      stopPruning();
      realtime.shutdown();
      const grace = new Promise<void>((r) => setTimeout(r, config.shutdownGraceMs).unref());
      await Promise.race([http.close(), grace]);
      await core.close();
    })());
  return { core, http, realtime, ws, logger, url, port, close };
}

/**
 * Every `auth.sessionPruneIntervalSeconds`, deletes the login sessions that expired or were
 * revoked more than `auth.sessionKeepSeconds` ago, 1000 per transaction (an unref'd timer: it
 * never keeps the process alive). Returns the stop function.
 */
function pruneSessions(core: Core, log: Logger): () => void {
  const { sessionPruneIntervalSeconds: every, sessionKeepSeconds: keep } = core.config.auth;
  if (every === 0) return () => {};
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const before = Date.now() - keep * 1000;
      let pruned = 0;
      for (;;) {
        const n = await core.storage.sessions.pruneSessions(before, 1000);
        if (n === 0) break;
        pruned += n;
      }
      if (pruned > 0) log.info({ pruned }, 'expired and revoked login sessions pruned');
    } catch (err) {
      log.warn({ err }, 'pruning login sessions failed');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(run, every * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
