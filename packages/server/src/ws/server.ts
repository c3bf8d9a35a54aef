/**
 * The WebSocket endpoint `/ws`: authenticates the upgrade (with the failed-authentication
 * limit), completes the handshake, and hands the socket, as a `WsTransport`, to the real-time
 * layer (`realtime/`), which runs the connection, the fan-out and the heartbeat.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ErrorCode } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { Authenticated } from '../domain/auth.ts';
import { fail, isAppError, type AppError } from '../domain/errors.ts';
import type { Hub } from '../realtime/hub.ts';
import type { Realtime, Refusal } from '../realtime/realtime.ts';
import { WsTransport, onSocketError } from './transport.ts';

export interface WsOptions {
  core: Core;
  realtime: Realtime;
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

export class WsEndpoint {
  readonly #wss: WebSocketServer;
  readonly #o: WsOptions;
  readonly #realtime: Realtime;

  constructor(o: WsOptions) {
    this.#o = o;
    this.#realtime = o.realtime;
    const cfg = o.core.config.ws;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: cfg.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
  }

  /** The node's connections (of every transport). */
  get hub(): Hub {
    return this.#realtime.hub;
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
   * and the close of its `Disconnect` reason (4500, 4501, 4502, 4504; 4005 over the per-user
   * cap; 1013 rate-limited), as clients expect.
   */
  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const realtime = this.#realtime;
    const hs = realtime.accepting ? handshakeOf(req) : null;
    // Until `ws` takes the socket, its errors are handled here.
    socket.on('error', destroyOnError);
    if (!hs) return this.#reject(socket, realtime.accepting ? fail('request.route_not_found', 'WebSocket connections go to /ws.') : shuttingDown());
    let auth: Authenticated | null = null;
    let refusal: Refusal | null = null;
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
    if (!realtime.accepting) return this.#reject(socket, shuttingDown());
    // Counted here, in the same turn as the connection joins the hub (#open): no race between upgrades.
    const over = auth && realtime.admit(auth);
    if (over) {
      auth = null;
      refusal = over;
    }
    // From here on `ws` handles socket errors (during the handshake and after it).
    socket.removeListener('error', destroyOnError);
    socket.cork();
    this.#wss.handleUpgrade(req, socket, head, (ws) => (auth ? this.#open(ws, socket, hs, auth) : this.#refuse(ws, socket, refusal!)));
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

  #refuse(ws: WebSocket, socket: Duplex, refusal: Refusal): void {
    ws.on('error', onSocketError);
    this.#realtime.refuse(new WsTransport(ws, socket), refusal);
  }

  #open(ws: WebSocket, socket: Duplex, hs: Handshake, auth: Authenticated): void {
    const t = new WsTransport(ws, socket);
    t.listen(this.#realtime.open(t, auth, { holdUntilSync: hs.sync }));
  }

  /** Cuts every connection without a close handshake (tests: a network drop). */
  terminateAll(): void {
    this.#realtime.terminateAll();
  }
}
