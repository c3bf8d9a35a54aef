/**
 * The MQTT endpoint (seed 003's clients): an MQTT 3.1.1 listener (aedes) on its own port
 * (`mqtt.port`). aedes speaks MQTT 3.1 and 3.1.1 only: a CONNECT of MQTT 5 is answered with
 * CONNACK return code 1 (unacceptable protocol version), and clients fall back to 3.1.1.
 *
 * The broker is used for the protocol only — nothing is routed between clients by topic:
 * - CONNECT: the password is a Careline user token (the username is free; the user id is
 *   customary). A refused token gets CONNACK 4 (bad user name or password), a disabled user
 *   5, the per-user cap or the failed-authentication limit 3 (server unavailable); the
 *   error code is logged. Sessions are always clean: what a client missed comes from the sync
 *   topic, not from a session of one node.
 * - The client may subscribe to its account topic (its user id) and its frames topic
 *   (`<user id>/frames`: Careline's frames as on the WebSocket, for the SDK) only, and publish
 *   to its send, sync and frames topics only (`<user id>/send`, `<user id>/sync`,
 *   `<user id>/frames`); any other subscription is refused in the SUBACK (0x80), any other
 *   publish closes the connection (MQTT 3.1.1 has no negative PUBACK).
 * - Every frame for the client is published to it directly (QoS 1, or the QoS it subscribed
 *   with), by its `MqttTransport`, from the real-time layer: live messages from the bus
 *   (any node), and catch-up from storage. aedes' in-memory persistence holds only the QoS 1
 *   packets in flight on a connection.
 */
import { Aedes, type Client } from 'aedes';
import type { IncomingMessage } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import type { ErrorCode } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { Authenticated } from '../domain/auth.ts';
import { isAppError } from '../domain/errors.ts';
import type { Realtime } from '../realtime/realtime.ts';
import { MqttTransport } from './transport.ts';

export interface MqttOptions {
  core: Core;
  realtime: Realtime;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  /** The failed-authentication limit shared with HTTP and the WebSocket. */
  guard?: { ipOf(req: IncomingMessage): string; mayAuthenticate(ip: string): Promise<void>; refused(ip: string, code: ErrorCode): Promise<void> };
}

/** CONNACK return codes of MQTT 3.1.1. */
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;
const UNAVAILABLE = 3;

const connackOf = (code: ErrorCode): number =>
  code === 'user.disabled' ? NOT_AUTHORIZED
    : code === 'connection.too_many' || code === 'request.rate_limited' || code === 'server.unavailable' || code === 'server.internal' ? UNAVAILABLE
      : BAD_CREDENTIALS;

const refusal = (code: ErrorCode) => Object.assign(new Error(code), { returnCode: connackOf(code) });

const kTransport = Symbol('careline.mqtt');

/** Room in a packet for its header, topic and the QoS fields beside a frame of `ws.maxFrameBytes`. */
const PACKET_OVERHEAD = 64 * 1024;

/**
 * Refuses a packet whose announced length is over `max` as soon as its fixed header is read:
 * the MQTT parser (mqtt-packet) would otherwise buffer up to the protocol's 256 MiB before any
 * check of ours, from a client that has not even authenticated. The parser has no such limit,
 * so its length step is wrapped on this client's own parser (pinned by the MQTT tests): the
 * parser's error closes the connection, as for any malformed packet.
 */
function capPacketSize(client: Client, max: number): void {
  const parser = (client as unknown as { _parser?: { packet: { length: number }; _parseLength(): boolean; _emitError(e: Error): void } })._parser;
  if (!parser || typeof parser._parseLength !== 'function') throw new Error('the MQTT parser changed: the packet size cap cannot be installed');
  const parseLength = parser._parseLength;
  parser._parseLength = function (this: typeof parser) {
    const done = parseLength.call(this);
    if (done && this.packet.length > max) {
      this._emitError(new Error(`packet of ${this.packet.length} bytes over the limit of ${max}`));
      return false;
    }
    return done;
  };
}
type Tagged = Client & { [kTransport]?: MqttTransport };

export class MqttEndpoint {
  readonly broker: Aedes;
  readonly #o: MqttOptions;
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  #wss: WebSocketServer | null = null;
  readonly #websockets = new Set<WebSocket>();

  private constructor(broker: Aedes, o: MqttOptions) {
    this.broker = broker;
    this.#o = o;
  }

  /** Made in the same turn as the WebSocket endpoint is attached (no upgrade can fall between them); `listen` starts it. */
  static create(o: MqttOptions): MqttEndpoint {
    let self: MqttEndpoint;
    const broker = new Aedes({
      preConnect: (_client, packet, done) => {
        // Always a clean session: nothing of a client is kept on one node between its connections.
        packet.clean = true;
        done(null, true);
      },
      authenticate: (client, _username, password, done) => {
        self.#authenticate(client as Tagged, password).then(() => done(null, true), (err: Error) => done(err as Error & { returnCode: 4 }, false));
      },
      authorizeSubscribe: (client, sub, done) => {
        const t = (client as Tagged)[kTransport];
        if (!t || (sub.topic !== t.topics.account && sub.topic !== t.topics.frames)) {
          o.log.warn({ code: 'mqtt.topic_forbidden', topic: sub.topic, user: t?.userId }, 'MQTT subscription refused');
          return done(null, null);
        }
        done(null, sub);
      },
      authorizePublish: (client, packet, done) => {
        const t = client ? (client as Tagged)[kTransport] : undefined;
        if (!t) return done(new Error('mqtt.topic_forbidden'));
        // Nothing is kept by the broker: a retained publish is not retained.
        packet.retain = false;
        // Answered in publish order, after commit for a send; aedes reads on meanwhile (see `MqttTransport.onPublish`).
        if (packet.topic === t.topics.send || packet.topic === t.topics.frames || packet.topic === t.topics.sync) return t.onPublish(packet, done);
        o.log.warn({ code: 'mqtt.topic_forbidden', topic: packet.topic, user: t.userId }, 'MQTT publish refused: connection closed');
        done(new Error('mqtt.topic_forbidden'));
      },
      published: (packet, client, done) => {
        done();
        // A client's QoS 2 publish: aedes has written its PUBREC (in `done`), so the answers after it may go out.
        if (client && packet.qos === 2) (client as Tagged)[kTransport]?.onPublished(packet);
      },
      // Only what a transport publishes to its own client goes out; nothing is routed between clients.
      authorizeForward: (client, packet) => {
        const t = (client as Tagged)[kTransport];
        return t && (packet.topic === t.topics.account || packet.topic === t.topics.frames) && (packet as { clientId?: string }).clientId === undefined ? packet : null;
      },
    });
    self = new MqttEndpoint(broker, o);
    broker.on('subscribe', (subs, client) => {
      const t = (client as Tagged)[kTransport];
      if (t) t.onSubscribe(subs.map((s) => s.topic));
    });
    broker.on('unsubscribe', (topics, client) => {
      const t = (client as Tagged)[kTransport];
      if (t) for (const topic of topics) t.onUnsubscribe(topic);
    });
    broker.on('clientError', (client, err) => {
      if (err.message !== 'mqtt.topic_forbidden') o.log.warn({ err: err.message, client: client.id }, 'MQTT client error');
    });
    return self;
  }

  /**
   * Checks the token (with the failed-authentication limit), admits the user (the per-user
   * cap) and opens its real-time connection in the same turn; the connection ends when the
   * socket closes, whatever ends it.
   */
  async #authenticate(client: Tagged, password: Buffer | undefined): Promise<void> {
    const { core, realtime, guard, log } = this.#o;
    if (!realtime.accepting) throw refusal('server.unavailable');
    // Over WebSocket the upgrade request says who it is (behind a trusted proxy, its X-Forwarded-For).
    const ip = client.req && guard ? guard.ipOf(client.req) : ((client.conn as Socket).remoteAddress ?? 'unknown');
    let auth: Authenticated;
    try {
      if (guard) await guard.mayAuthenticate(ip);
      if (!password || password.length === 0) throw Object.assign(new Error('auth.missing'), { code: 'auth.missing' as ErrorCode });
      auth = await core.auth.authenticate(password.toString('utf8'));
    } catch (err) {
      const code: ErrorCode = isAppError(err) ? err.code : 'auth.missing';
      log.warn({ code, client: client.id, ip }, 'MQTT connection refused');
      if (guard && code !== 'request.rate_limited') await guard.refused(ip, code).catch(() => {});
      throw refusal(code);
    }
    if (!realtime.accepting || client.closed) throw refusal('server.unavailable');
    const over = realtime.admit(auth);
    if (over) {
      log.warn({ code: over.code, user: auth.principal.userId }, 'MQTT connection refused');
      throw refusal(over.code);
    }
    const t = new MqttTransport(client, auth.principal.tenantId, auth.principal.userId, core.directory, core.config.ws.maxFrameBytes);
    client[kTransport] = t;
    // Held until the first sync, as a WebSocket with `?sync=1` (a client of the account topic alone ends it by subscribing): see `MqttTransport`.
    t.conn = realtime.open(t, auth, { holdUntilSync: true });
    client.conn.once('close', () => {
      t.onClosed();
      t.conn.onClose();
    });
  }

  /** Listens on `mqtt.host`:`mqtt.port`; resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    await this.broker.listen();
    // No Nagle delay: a PUBACK or a frame written right after another small one goes out at
    // once, not after the client's delayed ACK (up to 40 ms; the WebSocket's sockets have it off too).
    const server = createServer({ noDelay: true }, (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      capPacketSize(this.broker.handle(socket), this.#o.core.config.ws.maxFrameBytes + PACKET_OVERHEAD);
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
   * completed and the socket's byte stream handed to the broker, as a TCP connection's is.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const wss = (this.#wss ??= new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false }));
    wss.handleUpgrade(req, socket, head, (ws) => {
      this.#websockets.add(ws);
      ws.once('close', () => this.#websockets.delete(ws));
      const stream = createWebSocketStream(ws);
      stream.on('error', () => stream.destroy());
      capPacketSize(this.broker.handle(stream, req), this.#o.core.config.ws.maxFrameBytes + PACKET_OVERHEAD);
    });
  }

  /** Stops listening and closes the broker (the real-time layer has closed the connections already). */
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
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
  }
}
