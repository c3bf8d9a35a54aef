/**
 * The MQTT endpoint (seed 003's clients): MQTT 3.1, 3.1.1 and 5 on its own port (`mqtt.port`)
 * and over WebSocket at `/mqtt` on the HTTP port. Each connection is an `MqttSession`
 * (`session.ts`: the protocol, over `mqtt-packet`'s codec) whose handler, once its CONNECT is
 * accepted, is an `MqttTransport` under a real-time `Connection`.
 *
 * Careline's MQTT is an adapter over the domain, not a broker: nothing is routed between
 * clients by topic (every frame for a client is published to it by its own transport, from the
 * real-time layer: live messages from the bus, any node; catch-up from storage), nothing is
 * retained, and sessions are always clean (what a client missed comes from the sync topic, not
 * from a session one node kept).
 * - CONNECT: the password is a Careline user token (the username is free; the user id is
 *   customary). Refused with the version's own code: a refused token 4 (3.1.1) / 0x86 (5),
 *   a disabled user 5 / 0x87, the per-user cap 3 / 0x97, the failed-authentication limit
 *   3 / 0x9F, a server that is stopping or without storage 3 / 0x88; the error code is
 *   logged. A second connection with the same client id (of the same user, on this node) takes
 *   the first one's place, as MQTT says.
 * - The client may subscribe to its account topic (its user id) and its frames topic
 *   (`<user id>/frames`: Careline's frames as on the WebSocket, for the SDK) only, and publish
 *   to its send, sync and frames topics only (`<user id>/send`, `<user id>/sync`,
 *   `<user id>/frames`); any other subscription is refused in the SUBACK (0x80; MQTT 5 0x87),
 *   any other publish is refused (MQTT 5: PUBACK 0x87; 3.1.1, which has no negative PUBACK:
 *   the connection is closed).
 *
 * Why not a broker library: Careline needs none of a broker's routing, retained messages or
 * persistent sessions, and the Node broker there is (aedes 1.x) speaks no MQTT 5 and cost
 * more CPU per message than the rest of the send path (docs/performance.md, "Transports").
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { IConnectPacket } from 'mqtt-packet';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import type { ErrorCode } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { Authenticated } from '../domain/auth.ts';
import { isAppError } from '../domain/errors.ts';
import type { Realtime } from '../realtime/realtime.ts';
import { ConnectRefused, MqttSession, Reason, type SessionOptions } from './session.ts';
import { MqttTransport } from './transport.ts';

export interface MqttOptions {
  core: Core;
  realtime: Realtime;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  /** The failed-authentication limit shared with HTTP and the WebSocket. */
  guard?: { ipOf(req: IncomingMessage): string; mayAuthenticate(ip: string): Promise<void>; refused(ip: string, code: ErrorCode): Promise<void> };
}

/** The MQTT 5 reason code of a refused CONNECT (3.1.1 clients get its return code: `session.ts`). */
const reasonOf = (code: ErrorCode): number =>
  code === 'user.disabled' ? Reason.NOT_AUTHORIZED
    : code === 'connection.too_many' ? Reason.QUOTA_EXCEEDED
      : code === 'request.rate_limited' ? Reason.CONNECTION_RATE_EXCEEDED
        : code === 'server.unavailable' || code === 'server.internal' ? Reason.SERVER_UNAVAILABLE
          : Reason.BAD_CREDENTIALS;

const refusal = (code: ErrorCode) => new ConnectRefused(reasonOf(code), code);

/** Room in a packet for its header, topic and the QoS fields beside a frame of `ws.maxFrameBytes`. */
const PACKET_OVERHEAD = 64 * 1024;

export class MqttEndpoint {
  /** Says `subscribe` (topics, user id) when a client subscribes: for tests that wait for a command-line client. */
  readonly events = new EventEmitter();
  readonly #o: MqttOptions;
  readonly #session: SessionOptions;
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  #wss: WebSocketServer | null = null;
  readonly #websockets = new Set<WebSocket>();
  /** The open sessions by user and client id (MQTT: a new connection with a client id takes the old one's place). */
  readonly #byClientId = new Map<string, MqttSession>();

  private constructor(o: MqttOptions) {
    this.#o = o;
    this.#session = {
      maxPacketBytes: o.core.config.ws.maxFrameBytes + PACKET_OVERHEAD,
      accept: (session, packet) => this.#accept(session, packet),
      onClientError: (session, err) => o.log.warn({ err: err.message, client: session.clientId }, 'MQTT client error'),
    };
  }

  /** Made in the same turn as the WebSocket endpoint is attached (no upgrade can fall between them); `listen` starts it. */
  static create(o: MqttOptions): MqttEndpoint {
    return new MqttEndpoint(o);
  }

  /**
   * Checks the token (with the failed-authentication limit), admits the user (the per-user
   * cap) and opens its real-time connection in the same turn; the connection ends when the
   * session does, whatever ends it.
   */
  async #accept(session: MqttSession, packet: IConnectPacket): Promise<MqttTransport> {
    const { core, realtime, guard, log } = this.#o;
    if (!realtime.accepting) throw refusal('server.unavailable');
    // Over WebSocket the upgrade request says who it is (behind a trusted proxy, its X-Forwarded-For).
    const ip = session.req && guard ? guard.ipOf(session.req) : ((session.stream as Socket).remoteAddress ?? 'unknown');
    const password = packet.password;
    let auth: Authenticated;
    try {
      if (guard) await guard.mayAuthenticate(ip);
      if (!password || password.length === 0) throw Object.assign(new Error('auth.missing'), { code: 'auth.missing' as ErrorCode });
      auth = await core.auth.authenticate(password.toString('utf8'));
    } catch (err) {
      const code: ErrorCode = isAppError(err) ? err.code : 'auth.missing';
      log.warn({ code, client: session.clientId, ip }, 'MQTT connection refused');
      if (guard && code !== 'request.rate_limited') await guard.refused(ip, code).catch(() => {});
      throw refusal(code);
    }
    if (!realtime.accepting || session.closed) throw refusal('server.unavailable');
    const over = realtime.admit(auth);
    if (over) {
      log.warn({ code: over.code, user: auth.principal.userId }, 'MQTT connection refused');
      throw refusal(over.code);
    }
    const { tenantId, userId } = auth.principal;
    const t = new MqttTransport(session, tenantId, userId, core.directory, core.config.ws.maxFrameBytes, log);
    if (session.clientId !== '') {
      const key = `${tenantId}\u0000${userId}\u0000${session.clientId}`;
      this.#byClientId.get(key)?.close(Reason.SESSION_TAKEN_OVER, 'session taken over');
      this.#byClientId.set(key, session);
      session.stream.once('close', () => {
        if (this.#byClientId.get(key) === session) this.#byClientId.delete(key);
      });
    }
    // Held until the first sync, as a WebSocket with `?sync=1` (a client of the account topic alone ends it by subscribing): see `MqttTransport`.
    t.conn = realtime.open(t, auth, { holdUntilSync: true });
    const onSubscribe = t.onSubscribe.bind(t);
    t.onSubscribe = (topics) => {
      onSubscribe(topics);
      this.events.emit('subscribe', topics, userId);
    };
    return t;
  }

  /** Listens on `mqtt.host`:`mqtt.port`; resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    // No Nagle delay: a PUBACK or a frame written right after another small one goes out at
    // once, not after the client's delayed ACK (up to 40 ms; the WebSocket's sockets have it off too).
    const server = createServer({ noDelay: true }, (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      new MqttSession(socket, this.#session);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  /**
   * MQTT over WebSocket (`/mqtt` on the HTTP port, subprotocol `mqtt`): the upgrade is
   * completed and the socket's byte stream is a session's, as a TCP connection's is.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const wss = (this.#wss ??= new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false }));
    wss.handleUpgrade(req, socket, head, (ws) => {
      this.#websockets.add(ws);
      ws.once('close', () => this.#websockets.delete(ws));
      const stream = createWebSocketStream(ws);
      stream.on('error', () => stream.destroy());
      new MqttSession(stream, this.#session, req);
    });
  }

  /** Stops listening (the real-time layer has closed the connections already). */
  async close(): Promise<void> {
    const server = this.#server;
    const stopped = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    // The listener's close waits for its sockets: the connections end once their close is
    // written (the transport ends them); what is still open after a second is cut.
    const deadline = Date.now() + 1000;
    while ((this.#sockets.size > 0 || this.#websockets.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.#sockets) s.destroy();
    for (const ws of this.#websockets) ws.terminate();
    await stopped;
  }
}
