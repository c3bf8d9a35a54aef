/**
 * The WebSocket endpoint `/ws`: authenticates the upgrade, wraps each socket in a
 * `Transport`, and runs the heartbeat. Frames are handled by `Connection`; fan-out by `Hub`.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCodes, platformClass, type ErrorCode } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { Authenticated } from '../domain/auth.ts';
import { fail, isAppError, type AppError } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import type { Metrics } from '../ops/metrics.ts';
import { Connection, type ConnectionContext, type Transport } from './connection.ts';
import { Hub, closeWithError } from './hub.ts';

export interface WsOptions {
  core: Core;
  metrics: Metrics;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  /** The failed-authentication limit shared with HTTP: checked before the token, told of a refused one. */
  guard?: UpgradeGuard;
}

export interface UpgradeGuard {
  ipOf(req: IncomingMessage): string;
  /** Throws `request.rate_limited` when the address may not try now. */
  mayAuthenticate(ip: string): Promise<void>;
  /** A refused token: counted when it is a guess. */
  refused(ip: string, code: ErrorCode): Promise<void>;
}

const closeFor: Partial<Record<ErrorCode, number>> = {
  'auth.token_expired': CloseCodes.TOKEN_EXPIRED,
  'auth.token_revoked': CloseCodes.TOKEN_REVOKED,
  'user.disabled': CloseCodes.USER_DISABLED,
  'request.rate_limited': CloseCodes.RATE_LIMITED,
  'connection.too_many': CloseCodes.TOO_MANY_CONNECTIONS,
};

/** Bytes held in a corked socket before they are sent without waiting for the next tick. */
const FLUSH_BYTES = 64 * 1024;

const flushTransport = (t: WsTransport) => t.flush();

/** A client that does not answer the close handshake is cut off. */
const terminate = (ws: WebSocket) => ws.terminate();

/**
 * The `Transport` of one socket, and its link to the endpoint. One small object per
 * connection: the socket's listeners are shared functions (`this` is the socket, which points
 * back here), so nothing of the upgrade request — headers, URL, token — stays reachable once
 * the connection is open.
 */
class WsTransport implements Transport {
  readonly ws: WebSocket;
  /** The TCP socket under `ws`: its byte counts are the heartbeat's sign of life and of output flowing. */
  readonly socket: Duplex & { bytesRead?: number; bytesWritten?: number };
  readonly endpoint: WsEndpoint;
  /** Set right after construction (the connection is made with this transport). */
  conn!: Connection;
  /** Bytes written since the socket was corked, or -1 when it is not. */
  #corked = -1;

  constructor(ws: WebSocket, socket: Duplex, endpoint: WsEndpoint) {
    this.ws = ws;
    this.socket = socket;
    this.endpoint = endpoint;
  }

  /**
   * Frames written in one turn of the event loop leave in one socket write: the socket is
   * corked at the first and uncorked on the next tick (or once `FLUSH_BYTES` are waiting), so
   * a catch-up page, or the acks and messages of one group commit, cost one syscall, not one each.
   */
  write(data: string): void {
    if (this.#corked < 0) {
      this.#corked = 0;
      this.socket.cork();
      process.nextTick(flushTransport, this);
    }
    this.ws.send(data);
    this.#corked += data.length;
    if (this.#corked >= FLUSH_BYTES) this.flush();
  }

  /** Sends what `write` holds back (a no-op when nothing is). */
  flush(): void {
    if (this.#corked < 0) return;
    this.#corked = -1;
    this.socket.uncork();
  }

  buffered(): number {
    return this.ws.bufferedAmount;
  }

  drained(bytes: number): Promise<void> {
    const ws = this.ws;
    return new Promise((resolve) => {
      const check = () => {
        if (ws.readyState !== ws.OPEN || ws.bufferedAmount <= bytes) return resolve();
        setTimeout(check, 5);
      };
      check();
    });
  }

  sent(): number {
    // `bytesWritten` counts what is still buffered too.
    return (this.socket.bytesWritten ?? 0) - this.socket.writableLength;
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
    setTimeout(terminate, 2000, this.ws).unref();
  }

  ping(): void {
    this.ws.ping();
  }

  received(): number {
    return this.socket.bytesRead ?? 0;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

const kTransport = Symbol('careline.transport');
type Socket = WebSocket & { [kTransport]: WsTransport };
const transportOf = (ws: WebSocket): WsTransport => (ws as Socket)[kTransport];

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  transportOf(this).conn.onFrame(data, isBinary);
}

/**
 * A protocol error on the socket (invalid UTF-8, a frame over the limit…): `ws` has already
 * sent the close frame with its code (1007, 1009, 1002…), which must not be cut off — it can
 * still be waiting behind output in the socket. The socket is cut only if the client does not
 * answer the close in time.
 */
function onSocketError(this: WebSocket): void {
  setTimeout(terminate, 2000, this).unref();
}

function onClose(this: WebSocket): void {
  const t = transportOf(this);
  t.endpoint.closed(t.conn);
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

const shuttingDown = () => fail('server.unavailable', 'The server is shutting down; reconnect later.');

/** What the upgrade request says, taken out of it before the handshake completes. */
interface Handshake {
  token: string | null;
  /** `?sync=1`: hold live frames until the first sync. */
  sync: boolean;
}

/** The handshake's values, or null for another path. The request and its URL are dropped after this. */
function handshakeOf(req: IncomingMessage): Handshake | null {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/ws') return null;
  const auth = req.headers.authorization;
  const token = url.searchParams.get('token') ?? (auth ? (/^Bearer\s+(\S+)$/i.exec(auth)?.[1] ?? null) : null);
  return { token, sync: url.searchParams.get('sync') === '1' };
}

/** The connection's token expired: an `auth.token_expired` error, then 4501. */
const expire = (c: Connection) => closeWithError(c, 'auth.token_expired', CloseCodes.TOKEN_EXPIRED);

export class WsEndpoint {
  readonly hub: Hub;
  readonly #wss: WebSocketServer;
  readonly #o: WsOptions;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #beatMs: number;
  readonly #unsubscribe: () => void;
  readonly #ctx: ConnectionContext;
  #accepting = true;
  /**
   * The connections whose token expires before the next heartbeat, and one timer for the
   * soonest of them: a connection costs no timer of its own, and still closes when its token
   * expires (each beat finds the ones due before the next).
   */
  #expiring: Connection[] = [];
  #expiryTimer: NodeJS.Timeout | undefined;

  constructor(o: WsOptions) {
    this.#o = o;
    const cfg = o.core.config.ws;
    this.hub = new Hub({ broadcastChunk: cfg.broadcastChunk, onError: (err) => o.log.error({ err }, 'notification fan-out failed') });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: cfg.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
    this.#unsubscribe = o.core.bus.subscribe((e) => this.hub.onEvent(e));
    this.#beatMs = Math.max(250, Math.floor(cfg.heartbeatMs / 2));
    this.#heartbeat = setInterval(() => this.#beat(), this.#beatMs);
    this.#heartbeat.unref();
    this.#ctx = {
      core: o.core, metrics: o.metrics,
      maxBufferedBytes: cfg.maxBufferedBytes, syncBufferFrames: cfg.syncBufferFrames, syncPageSize: cfg.syncPageSize, syncHoldMs: cfg.syncHoldMs,
      maxContentBytes: o.core.config.messages.maxContentBytes, maxPresenceWatches: cfg.maxPresenceWatches,
      onPresenceSubscribe: (c, ids, on) => ids.forEach((id) => this.hub.watch(c, id, on)),
      log: (obj, msg) => o.log.error(obj, msg),
      onRefreshed: (c) => this.#watchExpiry(c, Date.now()),
    };
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#upgrade(req, socket, head).catch((err: unknown) => {
        this.#o.log.error({ err }, 'websocket upgrade failed');
        socket.destroy();
      });
    });
  }

  /**
   * The token is checked before the handshake completes, so that the `101` response and the
   * first frame (`hello`, or the refusal) leave in one write, and no frame can arrive before the
   * connection exists. A refused token still gets the WebSocket handshake, then an error frame
   * and its close code (4401, 4501, 4502), as clients expect.
   */
  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const hs = this.#accepting ? handshakeOf(req) : null;
    // Until `ws` takes the socket, its errors are handled here.
    socket.on('error', destroyOnError);
    if (!hs) return this.#reject(socket, this.#accepting ? fail('request.route_not_found', 'WebSocket connections go to /ws.') : shuttingDown());
    let auth: Authenticated | null = null;
    let refusal: { code: ErrorCode; message: string; details?: unknown } | null = null;
    const guard = this.#o.guard;
    const ip = guard?.ipOf(req);
    try {
      if (guard) await guard.mayAuthenticate(ip!);
      if (!hs.token) throw new Error('no token');
      auth = await this.#o.core.auth.authenticate(hs.token);
    } catch (err) {
      // Also a user that cannot connect: user.not_found is closed as an auth failure, user.disabled with its own code.
      refusal = isAppError(err)
        ? { code: err.code, message: err.message, details: err.details }
        : { code: 'auth.missing', message: 'Connect with ?token=<user token> or an Authorization: Bearer header.' };
      if (guard) await guard.refused(ip!, refusal.code);
    }
    if (!this.#accepting) return this.#reject(socket, shuttingDown());
    // Counted here, in the same turn as the connection joins the hub (#open): no race between upgrades.
    const max = this.#o.core.config.ws.maxConnectionsPerUser;
    if (auth && this.hub.count(auth.principal.tenantId, auth.principal.userId) >= max) {
      auth = null;
      refusal = { code: 'connection.too_many', message: `This user has ${max} connections open, the most allowed; close one or reconnect later.` };
    }
    // From here on `ws` handles socket errors (during the handshake and after it).
    socket.removeListener('error', destroyOnError);
    socket.cork();
    this.#wss.handleUpgrade(req, socket, head, (ws) => (auth ? this.#open(ws, socket, hs, auth) : this.#refuse(ws, refusal!)));
    socket.uncork();
  }

  /** Refuses an upgrade with an HTTP answer: the error's status and its `{code, message}` JSON body, as every REST error. */
  #reject(socket: Duplex, e: AppError): void {
    const body = JSON.stringify(e.toBody());
    socket.end(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  #refuse(ws: WebSocket, { code, message, details }: { code: ErrorCode; message: string; details?: unknown }): void {
    ws.on('error', onSocketError);
    const close = closeFor[code] ?? CloseCodes.AUTH_FAILED;
    ws.send(JSON.stringify(details === undefined ? { type: 'error', code, message } : { type: 'error', code, message, details }));
    ws.close(close, code);
    this.#o.metrics.wsClosed.inc({ code: String(close) });
  }

  #open(ws: WebSocket, socket: Duplex, hs: Handshake, auth: Authenticated): void {
    const { core, metrics } = this.#o;
    const { principal, user, platform } = auth;
    const cfg = core.config.ws;
    const t = new WsTransport(ws, socket, this);
    const conn = new Connection(this.#ctx, {
      id: newId(), principal, transport: t, holdUntilSync: hs.sync, platformClass: platformClass(platform), expiresAt: auth.expiresAt,
    });
    t.conn = conn;
    (ws as Socket)[kTransport] = t;
    ws.on('message', onMessage);
    ws.on('error', onSocketError);
    ws.on('close', onClose);
    metrics.wsConnections.inc();
    this.hub.add(conn);
    const now = Date.now();
    if (core.presence.connected(principal.tenantId, principal.userId, now)) {
      core.bus.publish({ kind: 'presence.changed', tenant_id: principal.tenantId, user_id: principal.userId, online: true, last_seen: now });
    }
    conn.send({
      type: 'hello', connection_id: conn.id, user, server_time: now, heartbeat_ms: cfg.heartbeatMs, max_frame_bytes: cfg.maxFrameBytes,
      token_expires_at: auth.expiresAt,
    });
    this.#watchExpiry(conn, now);
    // Under the tenant's `kick` policy, the user's older connections of this platform class go (on every node).
    core.settings.connected(principal, conn.id, platform).catch((err: unknown) => this.#o.log.error({ err }, 'connection policy failed'));
  }

  /** A connection's socket closed: it leaves the hub, and presence counts it out. */
  closed(conn: Connection): void {
    const { core, metrics } = this.#o;
    conn.dispose();
    metrics.wsConnections.dec();
    // Presence counts connections: every one that leaves is subtracted.
    if (this.hub.remove(conn)) {
      const { tenantId, userId } = conn.principal;
      const now = Date.now();
      if (core.presence.disconnected(tenantId, userId, now)) {
        core.bus.publish({ kind: 'presence.changed', tenant_id: tenantId, user_id: userId, online: false, last_seen: now });
      }
    }
  }

  /**
   * Every half heartbeat interval: drops the connections from which nothing (no frame, no
   * pong) came for two heartbeat intervals, and pings those that were silent since the last
   * beat, so that a live client answers. Any byte received is a sign of life, read from the
   * socket's counter, so a connection needs no pong listener and no clock reading per frame, and
   * a client that talks (the SDK sends a `ping` frame every heartbeat) is not pinged. It also
   * closes as slow consumers (4001) the connections whose unsent output has not moved for
   * `ws.drainTimeoutMs` (a client that talks but stopped reading: live, or in a catch-up that
   * waits for the socket to drain), which releases what they hold.
   */
  #beat(): void {
    const limit = Math.ceil((2 * this.#o.core.config.ws.heartbeatMs) / this.#beatMs);
    const now = Date.now();
    const horizon = now + this.#beatMs;
    const expiring: Connection[] = [];
    const drainMs = this.#o.core.config.ws.drainTimeoutMs;
    for (const c of this.hub.connections()) {
      if (c.expiresAt <= horizon) {
        if (c.expiresAt <= now) {
          expire(c);
          continue;
        }
        expiring.push(c);
      }
      const silent = c.silentBeats();
      if (silent >= limit) c.close(CloseCodes.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
      else if (c.stalledFor(now) >= drainMs) c.close(CloseCodes.SLOW_CONSUMER, 'slow consumer: output not read');
      else if (silent > 0) c.ping();
    }
    this.#expiring = expiring;
    this.#armExpiry(now);
  }

  /** A connection opened or took a new token: if it expires before the next beat, the expiry timer covers it. */
  #watchExpiry(c: Connection, now: number): void {
    if (c.expiresAt > now + this.#beatMs) return;
    this.#expiring.push(c);
    this.#armExpiry(now);
  }

  /** Closes the due connections of `#expiring` and sets the timer for the soonest of the rest. */
  #expire(): void {
    this.#expiryTimer = undefined;
    const now = Date.now();
    this.#expiring = this.#expiring.filter((c) => {
      // Gone, or refreshed to a token that outlives the next beat (which finds it if need be).
      if (c.closed || c.expiresAt > now + this.#beatMs) return false;
      if (c.expiresAt > now) return true;
      expire(c);
      return false;
    });
    this.#armExpiry(now);
  }

  #armExpiry(now: number): void {
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (!this.#accepting || this.#expiring.length === 0) return;
    let soonest = Infinity;
    for (const c of this.#expiring) if (c.expiresAt < soonest) soonest = c.expiresAt;
    this.#expiryTimer = setTimeout(() => this.#expire(), Math.min(this.#beatMs, Math.max(0, soonest - now)));
    this.#expiryTimer.unref();
  }

  /** Stops accepting connections and closes the open ones with 4000 (clients reconnect elsewhere or later). */
  shutdown(): void {
    this.#accepting = false;
    clearInterval(this.#heartbeat);
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiring = [];
    this.#unsubscribe();
    for (const c of [...this.hub.connections()]) c.close(CloseCodes.SHUTDOWN, 'server shutting down');
  }

  /** Cuts every connection without a close handshake (tests: a network drop). */
  terminateAll(): void {
    for (const c of [...this.hub.connections()]) c.terminate();
  }
}
