/**
 * A whole Careline server: core + the real-time layer + HTTP and WebSocket on one port. `startServer` listens;
 * `close` shuts down gracefully: stop accepting, close connections (clients reconnect),
 * finish queued writes, close storage.
 */
import pino, { type Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from './config/schema.ts';
import { createCore, type Core } from './core.ts';
import { buildHttp } from './http/app.ts';
import type { Api } from './http/api.ts';
import { Metrics } from './ops/metrics.ts';
import { startPush, type Push } from './push/index.ts';
import { startWebhooks, type Webhooks } from './webhooks/index.ts';
import { createAfterCommit, type AfterCommit } from './webhooks/after-commit.ts';
import { Realtime } from './realtime/realtime.ts';
import { MemoryNodeRegistry } from './presence/registry-memory.ts';
import { WsEndpoint } from './ws/server.ts';
import { LongPoll } from './longpoll/longpoll.ts';
import { longPollRoutes } from './longpoll/routes.ts';
import { MqttEndpoint } from './mqtt/server.ts';
import { startCallTimers, type CallTimers } from './calls/index.ts';
import { startConferenceJobs, type ConferenceJobs } from './conferences/index.ts';
import { CONFERENCE_SOCK_PATH, ConferenceSockEndpoint } from './conferences/sock.ts';
import { startDesk, type Desk } from './desk/index.ts';
import { deskRoutes } from './http/routes/desk.ts';

export interface CarelineServer {
  core: Core;
  http: Api;
  /** The node's connections over every transport: fan-out, presence, heartbeat. */
  realtime: Realtime;
  ws: WsEndpoint;
  /** Long-polling and Server-Sent Events over the same real-time layer. */
  longpoll: LongPoll;
  logger: Logger;
  /** http://host:port once listening. */
  url: string;
  port: number;
  /** Offline push: the planner, this node's push job runner, the vendor adapters. */
  push: Push;
  close(): Promise<void>;
  /** The MQTT listener (`mqtt.enabled`), and its port. */
  mqtt?: MqttEndpoint;
  mqttPort?: number;
  /** Webhooks: the planner of this node's events and its delivery job runner. */
  webhooks: Webhooks;
  /** This node's runner of call timers (ring timeouts, heartbeat checks). */
  callTimers: CallTimers;
  /** This node's runner of conference jobs (end of time, teardown), and its conference sockets. */
  conferenceJobs: ConferenceJobs;
  conferenceSock: ConferenceSockEndpoint;
  /** The front desk (docs/desk.md): its service and this node's runner of SLA checks. */
  desk: Desk;
  /** The after-commit outbox: runs the jobs written with each append and notification, for push, webhooks and escalation. */
  afterCommit: AfterCommit;
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
  /**
   * A Redis client shared by the nodes (with `bus.driver: redis`): the HTTP and WebSocket-upgrade
   * rate-limit counters go there, so the limits hold across nodes. The caller closes it.
   */
  redis?: Redis;
}

export async function startServer({ config, logger: given, onStorageFailure, redis }: StartOptions): Promise<CarelineServer> {
  const logger = given ?? pino({ level: config.log.level, base: { service: config.service.type, node: config.service.id } });
  const metrics = new Metrics();
  const core = await createCore(config, {
    onBusError: (err) => logger.error({ err }, 'event bus: a handler failed or the link to other nodes broke'),
    onPresenceError: (err) => logger.warn({ err }, 'presence store unreachable; answering from this node'),
    onStorageUnavailable: (err) => logger.error({ err }, 'PostgreSQL does not answer: writes fail with server.unavailable, /readyz is 503, until it is back'),
    onStorageFailure: (err) => {
      logger.fatal({ err }, 'storage cannot write any more; /readyz reports not ready');
      onStorageFailure?.(err);
    },
  });
  metrics.recent = core.recent;
  core.messages.committer.onBatch = (size, ms) => {
    metrics.commitBatch.observe(size);
    metrics.commitSeconds.observe(ms / 1000);
    metrics.messagesCommitted.inc(size);
  };
  const afterCommit = createAfterCommit(core, logger);
  const push = startPush(core, metrics, logger, afterCommit);
  const webhooks = startWebhooks(core, metrics, logger, afterCommit);
  afterCommit.start();
  const callTimers = startCallTimers(core, logger);
  const conferenceJobs = startConferenceJobs(core, logger);
  const desk = startDesk(core, logger);
  const state = { accepting: true, connections: () => realtime.hub.size, startedAt: Date.now(), monitorStats: () => desk.service.monitorStats() };
  const shared = redis ?? core.redis;
  const http = await buildHttp({ core, metrics, logger, state, ...(shared ? { redis: shared } : {}) });
  // Slowloris: a connection that sends its headers, or its whole request, too slowly is cut
  // (Node answers 408 and closes); so is an idle keep-alive connection. Node checks the first
  // two every `connectionsCheckingInterval` (read at listen), so that follows the timeouts.
  const longpoll = new LongPoll(core);
  longPollRoutes(http, core, longpoll, desk.service);
  deskRoutes(http, core, desk.service);
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
  // The real-time layer starts once the address is known, in the same turn as the listen
  // resolved (no upgrade can arrive before it): the push-node registry names this node by it.
  const address = config.cluster.publicAddress || url;
  const registry = config.presence.driver === 'redis'
    ? new (await import('./presence/registry-redis.ts')).RedisNodeRegistry({
      url: config.bus.redisUrl, address, ttlSeconds: config.presence.ttlSeconds,
      onError: (err) => logger.warn({ err }, 'push-node registry unreachable'),
    })
    : new MemoryNodeRegistry({ address });
  const realtime = new Realtime({ core, metrics, log: logger, registry });
  const ws = new WsEndpoint({ core, realtime, log: logger, guard: http.limits });
  const mqtt = config.mqtt.enabled ? MqttEndpoint.create({ core, realtime, log: logger, guard: http.limits }) : undefined;
  const conferenceSock = new ConferenceSockEndpoint({ core, guard: http.limits, log: logger });
  // MQTT over WebSocket at /mqtt, the conference sockets at their path; every other upgrade goes to the WebSocket endpoint.
  const upgrades = new EventEmitter();
  http.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = req.url?.split('?')[0];
    if (mqtt && realtime.accepting && path === '/mqtt') mqtt.upgrade(req, socket, head);
    else if (realtime.accepting && path === CONFERENCE_SOCK_PATH) conferenceSock.upgrade(req, socket, head);
    else upgrades.emit('upgrade', req, socket, head);
  });
  ws.attach(upgrades as unknown as Server);
  longpoll.attach(realtime);
  desk.service.attach(registry);
  const mqttPort = mqtt ? await mqtt.listen(config.mqtt.host, config.mqtt.port) : undefined;
  if (mqtt) logger.info({ mqtt: { host: config.mqtt.host, port: mqttPort } }, 'MQTT listening');

  const stopPruning = pruneSessions(core, logger);
  const stopOrphans = cleanOrphanFiles(core, logger);
  const stopRetention = core.files.retention.start({
    worker: `${core.nodeId}:${process.pid}:retention`,
    onRun: (r) => logger.info({ retention: r }, 'retention ran'),
    onError: (err) => logger.warn({ err }, 'retention failed'),
  });

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      state.accepting = false;
      stopPruning();
      stopOrphans();
      await stopRetention();
      realtime.shutdown();
      conferenceSock.close();
      const grace = new Promise<void>((r) => setTimeout(r, config.shutdownGraceMs).unref());
      await Promise.race([http.close(), grace]);
      if (mqtt) await Promise.race([mqtt.close(), grace]);
      await Promise.race([realtime.settled(), grace]);
      await registry.close();
      await core.messages.committer.drain();
      await afterCommit.close();
      await push.close();
      await webhooks.close();
      await callTimers.close();
      await conferenceJobs.close();
      await desk.close();
      await core.close();
    })());
  return {
    core, http, realtime, ws, longpoll, logger, url, port, close,
    push,
    callTimers,
    conferenceJobs,
    conferenceSock,
    desk,
    ...(mqtt ? { mqtt, mqttPort } : {}),
    webhooks,
    afterCommit,
  };
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

/** Every `files.cleanupIntervalSeconds`, deletes uploads never attached within `files.orphanTtlSeconds` (bytes and metadata). */
function cleanOrphanFiles(core: Core, log: Logger): () => void {
  const every = core.config.files.cleanupIntervalSeconds;
  if (every === 0) return () => {};
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      let n = 0;
      for (let round = 0; round < 20; round++) {
        const k = await core.files.cleanupOrphans(500);
        n += k;
        if (k < 500) break;
      }
      if (n > 0) log.info({ deleted: n }, 'orphaned uploads deleted');
    } catch (err) {
      log.warn({ err }, 'deleting orphaned uploads failed');
    } finally {
      running = false;
    }
  }, every * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
