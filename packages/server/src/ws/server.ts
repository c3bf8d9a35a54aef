/**
 * The WebSocket endpoint `/ws`: authenticates the upgrade, wraps each socket in a
 * `Transport`, and runs the heartbeat. Frames are handled by `Connection`; fan-out by `Hub`.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCodes, platformClass, type ErrorCode } from '@careline/protocol';
import type { Core } from '../core.ts';
import { isAppError } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import type { Metrics } from '../ops/metrics.ts';
import { Connection, type Transport } from './connection.ts';
import { Hub } from './hub.ts';

export interface WsOptions {
  core: Core;
  metrics: Metrics;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
}

const closeFor: Partial<Record<ErrorCode, number>> = {
  'auth.token_expired': CloseCodes.TOKEN_EXPIRED,
  'auth.token_revoked': CloseCodes.TOKEN_REVOKED,
};

function transportOf(ws: WebSocket): Transport {
  return {
    write: (data) => ws.send(data),
    buffered: () => ws.bufferedAmount,
    drained: (bytes) =>
      new Promise((resolve) => {
        const check = () => {
          if (ws.readyState !== ws.OPEN || ws.bufferedAmount <= bytes) return resolve();
          setTimeout(check, 5);
        };
        check();
      }),
    close: (code, reason) => {
      ws.close(code, reason);
      // A client that does not answer the close handshake is cut off.
      setTimeout(() => ws.terminate(), 2000).unref();
    },
    ping: () => ws.ping(),
    terminate: () => ws.terminate(),
  };
}

export class WsEndpoint {
  readonly hub: Hub;
  readonly #wss: WebSocketServer;
  readonly #o: WsOptions;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  #accepting = true;

  constructor(o: WsOptions) {
    this.#o = o;
    const cfg = o.core.config.ws;
    this.hub = new Hub({ broadcastChunk: cfg.broadcastChunk, onError: (err) => o.log.error({ err }, 'notification fan-out failed') });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: cfg.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
    this.#unsubscribe = o.core.bus.subscribe((e) => this.hub.onEvent(e));
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(250, Math.floor(cfg.heartbeatMs / 2)));
    this.#heartbeat.unref();
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== '/ws' || !this.#accepting) {
        socket.end(`HTTP/1.1 ${this.#accepting ? '404 Not Found' : '503 Service Unavailable'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      socket.on('error', () => socket.destroy());
      this.#wss.handleUpgrade(req, socket, head, (ws) => void this.#open(ws, req, url));
    });
  }

  async #open(ws: WebSocket, req: IncomingMessage, url: URL): Promise<void> {
    const { core, metrics } = this.#o;
    const auth = req.headers.authorization;
    const token = url.searchParams.get('token') ?? (auth?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? null);
    // Frames that arrive while the token is checked wait for the connection.
    const early: [Buffer, boolean][] = [];
    const onEarly = (d: Buffer, b: boolean) => early.push([d, b]);
    ws.on('message', onEarly);
    ws.on('error', () => ws.terminate());
    let principal;
    try {
      if (!token) throw Object.assign(new Error('no token'), { code: 'auth.missing' });
      principal = await core.auth.authenticateToken(token);
    } catch (err) {
      const code: ErrorCode = isAppError(err) ? err.code : 'auth.missing';
      const message = isAppError(err) ? err.message : 'Connect with ?token=<user token> or an Authorization: Bearer header.';
      ws.send(JSON.stringify({ type: 'error', code, message }));
      ws.close(closeFor[code] ?? CloseCodes.AUTH_FAILED, code);
      metrics.wsClosed.inc({ code: String(closeFor[code] ?? CloseCodes.AUTH_FAILED) });
      return;
    }
    if (ws.readyState !== ws.OPEN) return;
    const user = await core.storage.users.getUser(principal.tenantId, principal.userId);
    if (!user || user.disabled) {
      ws.send(JSON.stringify({ type: 'error', code: user ? 'user.disabled' : 'user.not_found', message: 'The user cannot connect.' }));
      ws.close(CloseCodes.AUTH_FAILED, 'user');
      return;
    }
    // The login session's platform decides which connections a new one replaces (policy `kick`).
    const platform = (await core.storage.sessions.getSession(principal.sessionId))?.platform ?? null;
    if (ws.readyState !== ws.OPEN) return;
    const cfg = core.config.ws;
    const conn = new Connection({
      id: newId(), principal, transport: transportOf(ws), core, metrics,
      maxBufferedBytes: cfg.maxBufferedBytes, syncBufferFrames: cfg.syncBufferFrames, syncPageSize: cfg.syncPageSize,
      holdUntilSync: url.searchParams.get('sync') === '1',
      platformClass: platformClass(platform),
      onPresenceSubscribe: (c, ids, on) => ids.forEach((id) => this.hub.watch(c, id, on)),
      log: (obj, msg) => this.#o.log.error(obj, msg),
    });
    ws.off('message', onEarly);
    ws.on('message', (data: Buffer, isBinary: boolean) => conn.onFrame(data, isBinary));
    ws.on('pong', () => (conn.lastSeen = Date.now()));
    ws.on('close', () => {
      conn.dispose();
      metrics.wsConnections.dec();
      // Presence counts connections: every one that leaves is subtracted.
      if (this.hub.remove(conn)) {
        const now = Date.now();
        if (core.presence.disconnected(principal.tenantId, principal.userId, now)) {
          core.bus.publish({ kind: 'presence.changed', tenant_id: principal.tenantId, user_id: principal.userId, online: false, last_seen: now });
        }
      }
    });
    metrics.wsConnections.inc();
    this.hub.add(conn);
    const now = Date.now();
    if (core.presence.connected(principal.tenantId, principal.userId, now)) {
      core.bus.publish({ kind: 'presence.changed', tenant_id: principal.tenantId, user_id: principal.userId, online: true, last_seen: now });
    }
    conn.send({ type: 'hello', connection_id: conn.id, user, server_time: now, heartbeat_ms: cfg.heartbeatMs, max_frame_bytes: cfg.maxFrameBytes });
    // Under the tenant's `kick` policy, the user's older connections of this platform class go (on every node).
    core.settings.connected(principal, conn.id, platform).catch((err: unknown) => this.#o.log.error({ err }, 'connection policy failed'));
    for (const [d, b] of early) conn.onFrame(d, b);
  }

  /** Pings every connection; drops those silent for more than two heartbeat intervals. */
  #beat(): void {
    const limit = Date.now() - 2 * this.#o.core.config.ws.heartbeatMs;
    for (const c of this.hub.connections()) {
      if (c.lastSeen < limit) c.close(CloseCodes.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
      else c.ping();
    }
  }

  /** Stops accepting connections and closes the open ones with 4000 (clients reconnect elsewhere or later). */
  shutdown(): void {
    this.#accepting = false;
    clearInterval(this.#heartbeat);
    this.#unsubscribe();
    for (const c of [...this.hub.connections()]) c.close(CloseCodes.SHUTDOWN, 'server shutting down');
  }

  /** Cuts every connection without a close handshake (tests: a network drop). */
  terminateAll(): void {
    for (const c of [...this.hub.connections()]) c.terminate();
  }
}
