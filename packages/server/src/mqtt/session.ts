/**
 * One MQTT connection, server side: MQTT 3.1, 3.1.1 and 5 over any byte stream (a TCP socket,
 * or a WebSocket's stream at `/mqtt`). Packets are parsed by `mqtt-packet` (the mqtt.js
 * project's codec, MQTT 3.1.1 and 5); what a connection does with them is here.
 *
 * Careline's MQTT is not a broker, so this is not one: nothing is routed between clients by
 * topic, nothing is retained, every session is clean (what a client missed comes from the
 * sync topic, not from a session one node kept), a will is never published. What it does:
 * - CONNECT → the endpoint's `accept` (the token check, the real-time connection), then
 *   CONNACK; refused with the version's own code (3.1.1: 1–5; 5: a reason code). Packets that
 *   arrive while the CONNECT is being checked wait for it, in order.
 * - SUBSCRIBE / UNSUBSCRIBE with the handler's ACL, answered per topic (3.1.1: 0x80 refused;
 *   5: 0x87 not authorized).
 * - The client's PUBLISH packets go to the handler as they arrive (they pipeline: the next
 *   ones are read while a send waits for its commit) and are answered in the order received
 *   (MQTT 3.1.1 §4.6): QoS 1 with a PUBACK, QoS 2 with a PUBREC (then PUBREL → PUBCOMP), each
 *   when the handler says so (`answer`: after the commit, for a send). Past `MAX_UNANSWERED`
 *   unanswered publishes the socket is read no further until answers go out. A publish that
 *   may not be made (`refuse`): MQTT 5 answers it with its reason code, MQTT 3.1.1 has no
 *   negative PUBACK and closes the connection. A publish not stored for a reason that can
 *   pass (`unacked`): the connection closes with no answer for it nor for any after it, and
 *   the client publishes them again after reconnecting.
 * - The server's publishes: QoS 0 or 1 (at most what the topic was subscribed with), packet
 *   ids of their own, within the MQTT 5 client's receive maximum, and never larger than its
 *   maximum packet size (a larger one is dropped, as MQTT 5 says).
 * - Keepalive: a client silent for 1.5× its keepalive is cut; PINGREQ → PINGRESP.
 * - The server's close: MQTT 5 gets a DISCONNECT with a reason code and string first.
 * - A packet whose announced length is over `maxPacketBytes` is refused at its fixed header,
 *   before it is buffered (the codec has no such limit of its own).
 *
 * Writes of one turn go out together: the stream is corked at the first and uncorked in an
 * immediate, so a send's PUBACK and its `ack` frame, and the publishes of one commit's fan-out,
 * are one system call.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import type { IConnackPacket, IConnectPacket, IDisconnectPacket, IPublishPacket, ISubackPacket, ISubscribePacket, IUnsubackPacket, IUnsubscribePacket, Packet } from 'mqtt-packet';

/** Most publishes of one client taken in before the first of them is answered: past it, the socket is read no further until answers go out. */
export const MAX_UNANSWERED = 256;

/** Seconds a connection may take to send its CONNECT. */
const CONNECT_TIMEOUT_MS = 30_000;

/** MQTT 5 reason codes used here (MQTT 5 §2.4). */
export const Reason = {
  SUCCESS: 0x00,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  UNSPECIFIED: 0x80,
  MALFORMED: 0x81,
  PROTOCOL_ERROR: 0x82,
  UNSUPPORTED_VERSION: 0x84,
  BAD_CREDENTIALS: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  BANNED: 0x8a,
  SHUTTING_DOWN: 0x8b,
  KEEPALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_NOT_ACCEPTED: 0x90,
  PACKET_ID_NOT_FOUND: 0x92,
  PACKET_TOO_LARGE: 0x95,
  QUOTA_EXCEEDED: 0x97,
  ADMINISTRATIVE_ACTION: 0x98,
  PAYLOAD_FORMAT_INVALID: 0x99,
  CONNECTION_RATE_EXCEEDED: 0x9f,
} as const;

/** MQTT 3.1.1 CONNACK return codes. */
const V4_CONNACK: Record<number, number> = {
  [Reason.UNSUPPORTED_VERSION]: 1,
  [Reason.BAD_CREDENTIALS]: 4,
  [Reason.NOT_AUTHORIZED]: 5,
  [Reason.SERVER_UNAVAILABLE]: 3,
  [Reason.SERVER_BUSY]: 3,
  [Reason.QUOTA_EXCEEDED]: 3,
  [Reason.CONNECTION_RATE_EXCEEDED]: 3,
};

/** Why a CONNECT is refused: an MQTT 5 reason code (3.1.1 clients get its return code), and the code for the log. */
export class ConnectRefused extends Error {
  readonly reason: number;
  constructor(reason: number, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A client's publish, in the order received, until it is answered. */
export interface Inbound {
  readonly qos: number;
  readonly messageId: number;
  state: 'waiting' | 'answered' | 'refused' | 'unacked';
  /** `refused`: the MQTT 5 reason code; `unacked`: the reason the connection closes. */
  reason?: number;
  why?: string;
}

/** What a connection's owner does with it once its CONNECT is accepted. */
export interface SessionHandler {
  /** Whether the client may subscribe to `topic`. */
  maySubscribe(topic: string): boolean;
  /** The client subscribed to these topics (those allowed, of one SUBSCRIBE). */
  onSubscribe(topics: readonly string[]): void;
  onUnsubscribe(topics: readonly string[]): void;
  /** A publish of the client: answer it through the session (`answer`, `refuse`, `unacked`), now or later. */
  onPublish(packet: IPublishPacket, inbound: Inbound): void;
  /** The connection is gone, whoever ended it. */
  onClose(): void;
}

export interface SessionOptions {
  /** The largest packet the client may send (its fixed header's length is checked before it is read). */
  maxPacketBytes: number;
  /** Checks a CONNECT: resolves with the connection's handler, or rejects (a `ConnectRefused`: its reason; anything else: server unavailable). */
  accept(session: MqttSession, packet: IConnectPacket): Promise<SessionHandler>;
  /** A protocol error of the client (a malformed packet, a packet out of place): said in the log. */
  onClientError?(session: MqttSession, err: Error): void;
}

const PINGRESP = Buffer.from([0xd0, 0]);

type Parser = ReturnType<typeof mqttPacket.parser>;

export class MqttSession {
  readonly stream: Duplex;
  /** The upgrade request of MQTT over WebSocket (for the client's address behind a proxy). */
  readonly req: IncomingMessage | undefined;
  /** The protocol version of the CONNECT: 3 (3.1), 4 (3.1.1) or 5. */
  version = 4;
  clientId = '';
  /** The CONNECT's keepalive in seconds (0: none). */
  keepalive = 0;
  /** CONNACK sent and the connection not closed. */
  connected = false;
  closed = false;
  /** Bytes received so far (the heartbeat compares them between beats). */
  bytesIn = 0;
  /** Bytes handed to the stream so far. */
  bytesOut = 0;
  /** Publishes dropped for being larger than the MQTT 5 client's maximum packet size. */
  dropped = 0;
  readonly #o: SessionOptions;
  readonly #parser: Parser;
  #handler: SessionHandler | null = null;
  /** Packets that arrived while the CONNECT was being checked. */
  #early: Packet[] | null = null;
  #connecting = false;
  #timer: NodeJS.Timeout | null = null;
  /** Topics subscribed to, with the QoS granted. */
  readonly #granted = new Map<string, 0 | 1>();
  /** The client's publishes not answered yet, in the order received. */
  readonly #inbound: Inbound[] = [];
  /** QoS 2 publishes answered by a PUBREC, waiting for their PUBREL. */
  readonly #released = new Set<number>();
  #paused = false;
  /** The server's QoS 1 publishes not acknowledged by the client yet (packet ids). */
  readonly #inflight = new Set<number>();
  /** QoS 1 publishes waiting for room under the MQTT 5 client's receive maximum. */
  #waiting: { topic: string; payload: string | Buffer }[] | null = null;
  #nextId = 0;
  /** The MQTT 5 client's receive maximum and maximum packet size. */
  #receiveMax = 65535;
  #maxOut = Infinity;
  #corked = false;

  constructor(stream: Duplex, o: SessionOptions, req?: IncomingMessage) {
    this.stream = stream;
    this.req = req;
    this.#o = o;
    const parser = (this.#parser = mqttPacket.parser({ protocolVersion: 4 }));
    capPacketSize(parser, o.maxPacketBytes);
    parser.on('packet', (p: Packet) => this.#onPacket(p));
    parser.on('error', (err: Error) => this.#protocolError(err));
    stream.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      this.#timer?.refresh();
      if (!this.closed) parser.parse(chunk);
    });
    stream.on('error', () => this.#destroy());
    stream.on('close', () => this.#destroy());
    stream.on('end', () => this.#destroy());
    this.#timer = setTimeout(() => this.#destroy(), CONNECT_TIMEOUT_MS);
    this.#timer.unref();
  }

  /** Whether the client subscribed to `topic`. */
  subscribed(topic: string): boolean {
    return this.#granted.has(topic);
  }

  /** Bytes queued on the stream and not written yet. */
  get buffered(): number {
    return this.stream.writableLength;
  }

  #onPacket(p: Packet): void {
    if (this.closed) return;
    if (this.#early) {
      this.#early.push(p);
      return;
    }
    if (!this.connected) {
      if (p.cmd !== 'connect' || this.#connecting) return this.#protocolError(new Error(`${p.cmd} before the CONNECT was accepted`));
      return this.#onConnect(p);
    }
    switch (p.cmd) {
      case 'publish': return this.#onPublish(p);
      case 'puback': return this.#onPuback(p.messageId ?? 0);
      case 'pubrel': {
        const id = p.messageId ?? 0;
        const known = this.#released.delete(id);
        return this.#write(mqttPacket.generate({ cmd: 'pubcomp', messageId: id, ...(this.version === 5 && !known ? { reasonCode: Reason.PACKET_ID_NOT_FOUND } : {}) }, { protocolVersion: this.version }));
      }
      case 'pingreq': return this.#write(PINGRESP);
      case 'subscribe': return this.#onSubscribe(p);
      case 'unsubscribe': return this.#onUnsubscribe(p);
      // The client is done: nothing more is written to it (its tools wait for the socket to close).
      case 'disconnect': return this.#destroy();
      // The server never publishes with QoS 2: a PUBREC or PUBCOMP is for nothing of ours.
      case 'pubrec': case 'pubcomp': return;
      default: return this.#protocolError(new Error(`unexpected ${p.cmd}`));
    }
  }

  #onConnect(p: IConnectPacket): void {
    this.#connecting = true;
    this.#early = [];
    this.version = p.protocolVersion ?? 4;
    // The packets after the CONNECT are in its version (MQTT 5 adds properties to them).
    (this.#parser as unknown as { settings: { protocolVersion: number } }).settings.protocolVersion = this.version;
    this.keepalive = p.keepalive ?? 0;
    this.clientId = p.clientId ?? '';
    if (this.version === 5) {
      this.#receiveMax = p.properties?.receiveMaximum ?? 65535;
      this.#maxOut = p.properties?.maximumPacketSize ?? Infinity;
      if (p.properties?.authenticationMethod !== undefined) {
        return this.#refuse(new ConnectRefused(0x8c, 'mqtt.auth_method_unsupported'));
      }
    }
    this.#o.accept(this, p).then(
      (handler) => this.#accepted(handler),
      (err: Error) => this.#refuse(err instanceof ConnectRefused ? err : new ConnectRefused(Reason.SERVER_UNAVAILABLE, err.message)),
    );
  }

  #accepted(handler: SessionHandler): void {
    if (this.closed) return void handler.onClose();
    this.#handler = handler;
    this.connected = true;
    const assigned = this.clientId === '';
    if (assigned) this.clientId = `careline-${Math.random().toString(36).slice(2, 12)}`;
    const connack: IConnackPacket = this.version === 5
      ? {
          cmd: 'connack', sessionPresent: false, reasonCode: 0,
          properties: {
            receiveMaximum: MAX_UNANSWERED,
            maximumPacketSize: this.#o.maxPacketBytes,
            retainAvailable: false,
            topicAliasMaximum: 0,
            wildcardSubscriptionAvailable: false,
            subscriptionIdentifiersAvailable: false,
            sharedSubscriptionAvailable: false,
            ...(assigned ? { assignedClientIdentifier: this.clientId } : {}),
          },
        }
      : { cmd: 'connack', sessionPresent: false, returnCode: 0 };
    this.#write(mqttPacket.generate(connack, { protocolVersion: this.version }));
    // Keepalive: cut after 1.5× of silence (MQTT 3.1.1 §3.1.2.10); none: the layer's heartbeat judges by bytes.
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.keepalive > 0) {
      this.#timer = setTimeout(() => this.close(Reason.KEEPALIVE_TIMEOUT, 'keepalive timeout'), this.keepalive * 1500);
      this.#timer.unref();
    }
    const early = this.#early ?? [];
    this.#early = null;
    for (const p of early) this.#onPacket(p);
  }

  #refuse(err: ConnectRefused): void {
    if (this.closed) return;
    const connack: IConnackPacket = this.version === 5
      ? { cmd: 'connack', sessionPresent: false, reasonCode: err.reason, properties: { reasonString: err.message } }
      : { cmd: 'connack', sessionPresent: false, returnCode: V4_CONNACK[err.reason] ?? 3 };
    this.#write(mqttPacket.generate(connack, { protocolVersion: this.version === 5 ? 5 : 4 }));
    this.#end();
  }

  #onSubscribe(p: ISubscribePacket): void {
    const granted: number[] = [];
    const topics: string[] = [];
    for (const s of p.subscriptions) {
      if (this.#handler!.maySubscribe(s.topic)) {
        const qos = s.qos >= 1 ? 1 : 0;
        this.#granted.set(s.topic, qos);
        topics.push(s.topic);
        granted.push(qos);
      } else {
        granted.push(this.version === 5 ? Reason.NOT_AUTHORIZED : 0x80);
      }
    }
    const suback: ISubackPacket = { cmd: 'suback', messageId: p.messageId, granted };
    this.#write(mqttPacket.generate(suback, { protocolVersion: this.version }));
    if (topics.length > 0) this.#handler!.onSubscribe(topics);
  }

  #onUnsubscribe(p: IUnsubscribePacket): void {
    const gone: string[] = [];
    const codes: number[] = [];
    for (const topic of p.unsubscriptions) {
      if (this.#granted.delete(topic)) {
        gone.push(topic);
        codes.push(Reason.SUCCESS);
      } else codes.push(Reason.NO_SUBSCRIPTION_EXISTED);
    }
    // MQTT 5 answers each topic (its reason codes travel in `granted`); 3.1.1 only the packet.
    const unsuback: IUnsubackPacket = { cmd: 'unsuback', messageId: p.messageId, granted: this.version === 5 ? codes : [] };
    this.#write(mqttPacket.generate(unsuback, { protocolVersion: this.version }));
    if (gone.length > 0) this.#handler!.onUnsubscribe(gone);
  }

  #onPublish(p: IPublishPacket): void {
    const id = p.messageId ?? 0;
    if (p.qos === 2 && this.#released.has(id)) {
      // Sent again before its PUBREL: answered again (its PUBREC), not handled twice.
      this.#inbound.push({ qos: 2, messageId: id, state: 'answered' });
      return this.#flush();
    }
    const inbound: Inbound = { qos: p.qos, messageId: id, state: 'waiting' };
    this.#inbound.push(inbound);
    this.#handler!.onPublish(p, inbound);
    if (this.#inbound.length > MAX_UNANSWERED && !this.#paused && !this.closed) {
      this.#paused = true;
      this.stream.pause();
    }
  }

  /** The publish is done with (stored, for a send): its PUBACK or PUBREC goes out in its turn. */
  answer(inbound: Inbound): void {
    inbound.state = 'answered';
    this.#flush();
  }

  /** The publish may not be made: MQTT 5 answers it with `reason`; MQTT 3.1.1 closes the connection when its turn comes. */
  refuse(inbound: Inbound, reason: number, why: string): void {
    inbound.state = 'refused';
    inbound.reason = reason;
    inbound.why = why;
    this.#flush();
  }

  /** The publish was not stored, for a reason that can pass: the connection closes in its turn, with no answer for it nor any after it. */
  unacked(inbound: Inbound, why: string): void {
    inbound.state = 'unacked';
    inbound.why = why;
    this.#flush();
  }

  /** Writes the answers at the head of the queue that are ready, in order, and reads on once there is room. */
  #flush(): void {
    const q = this.#inbound;
    let acks: Buffer[] | null = null;
    while (q.length > 0 && !this.closed) {
      const e = q[0]!;
      if (e.state === 'waiting') break;
      q.shift();
      if (e.state === 'unacked') {
        if (acks) this.#write(Buffer.concat(acks));
        return this.close(Reason.UNSPECIFIED, e.why ?? 'not stored');
      }
      if (e.state === 'refused' && (this.version !== 5 || e.qos === 0)) {
        if (acks) this.#write(Buffer.concat(acks));
        return this.close(e.reason ?? Reason.NOT_AUTHORIZED, e.why ?? 'refused');
      }
      if (e.qos === 0) continue;
      const reason = e.state === 'refused' ? e.reason! : 0;
      if (e.qos === 2 && reason === 0) this.#released.add(e.messageId);
      (acks ??= []).push(ackPacket(e.qos === 1 ? 0x40 : 0x50, e.messageId, this.version === 5 ? reason : 0));
    }
    if (acks) this.#write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
    if (this.#paused && q.length <= MAX_UNANSWERED && !this.closed) {
      this.#paused = false;
      this.stream.resume();
    }
  }

  /**
   * Publishes `payload` on `topic` to the client, if it subscribed to it: with `qos`, or the
   * QoS it subscribed with if lower.
   */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1): void {
    if (this.closed || !this.connected) return;
    const granted = this.#granted.get(topic);
    if (granted === undefined) return;
    if (granted < qos) qos = granted;
    if (qos === 1 && this.#inflight.size >= this.#receiveMax) {
      (this.#waiting ??= []).push({ topic, payload });
      return;
    }
    this.#send(topic, payload, qos);
  }

  #send(topic: string, payload: string | Buffer, qos: 0 | 1): void {
    let id = 0;
    if (qos === 1) {
      if (this.#inflight.size >= 65535) return this.close(Reason.QUOTA_EXCEEDED, 'too many publishes not acknowledged');
      do id = this.#nextId = this.#nextId >= 65535 ? 1 : this.#nextId + 1;
      while (this.#inflight.has(id));
    }
    const b = publishPacket(topic, payload, qos, id, this.version === 5);
    if (b.length > this.#maxOut) {
      // MQTT 5 §3.1.2.11.4: larger than the client accepts — not sent.
      this.dropped++;
      return;
    }
    if (qos === 1) this.#inflight.add(id);
    this.#write(b);
  }

  #onPuback(id: number): void {
    if (!this.#inflight.delete(id)) return;
    const waiting = this.#waiting;
    while (waiting && waiting.length > 0 && this.#inflight.size < this.#receiveMax && !this.closed) {
      const w = waiting.shift()!;
      this.#send(w.topic, w.payload, 1);
    }
  }

  /** Bytes of publishes waiting for room under the client's receive maximum. */
  get waitingBytes(): number {
    let n = 0;
    for (const w of this.#waiting ?? []) n += w.payload.length;
    return n;
  }

  #write(b: Buffer): void {
    if (this.closed) return;
    const s = this.stream;
    if (!this.#corked) {
      this.#corked = true;
      s.cork();
      setImmediate(() => {
        this.#corked = false;
        s.uncork();
      });
    }
    this.bytesOut += b.length;
    s.write(b);
  }

  /**
   * Ends the connection: MQTT 5 is told why (a DISCONNECT with `reason` and `text`), then the
   * stream is ended once what is queued is written (cut a second later if the client lingers).
   */
  close(reason: number, text: string): void {
    if (this.closed) return;
    if (this.version === 5 && this.connected) {
      const d: IDisconnectPacket = { cmd: 'disconnect', reasonCode: reason, properties: { reasonString: text } };
      this.#write(mqttPacket.generate(d, { protocolVersion: 5 }));
    }
    this.#end();
  }

  /** Ends the stream after what is written (no DISCONNECT). */
  #end(): void {
    if (this.closed) return;
    const s = this.stream;
    this.#finish();
    if (this.#corked) {
      this.#corked = false;
      s.uncork();
    }
    s.end();
    setTimeout(() => s.destroy(), 1000).unref();
  }

  /** Drops the connection at once. */
  terminate(): void {
    this.#destroy();
  }

  #destroy(): void {
    if (!this.stream.destroyed) this.stream.destroy();
    this.#finish();
  }

  #finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#inbound.length = 0;
    this.#waiting = null;
    const h = this.#handler;
    this.#handler = null;
    h?.onClose();
  }

  #protocolError(err: Error): void {
    if (this.closed) return;
    this.#o.onClientError?.(this, err);
    if (!this.connected && !this.#connecting && /protocol version/i.test(err.message)) {
      // A version we do not speak: said as 3.1.1 says it (return code 1), then closed.
      this.#write(mqttPacket.generate({ cmd: 'connack', sessionPresent: false, returnCode: 1 }, { protocolVersion: 4 }));
      return this.#end();
    }
    if (this.version === 5 && this.connected) return this.close(/too large|over the limit/.test(err.message) ? Reason.PACKET_TOO_LARGE : Reason.MALFORMED, err.message);
    this.#destroy();
  }
}

/** A PUBACK (0x40) or PUBREC (0x50): the packet id, and an MQTT 5 reason code when it is not success. */
function ackPacket(type: number, id: number, reason: number): Buffer {
  if (reason === 0) {
    const b = Buffer.allocUnsafe(4);
    b[0] = type;
    b[1] = 2;
    b.writeUInt16BE(id, 2);
    return b;
  }
  const b = Buffer.allocUnsafe(5);
  b[0] = type;
  b[1] = 3;
  b.writeUInt16BE(id, 2);
  b[4] = reason;
  return b;
}

/**
 * A PUBLISH packet, encoded here rather than by the codec: it is the one packet per delivered
 * message, and its shape is fixed (no retain, no dup; MQTT 5: no properties).
 */
export function publishPacket(topic: string, payload: string | Buffer, qos: 0 | 1, id: number, v5: boolean): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const payloadLength = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const rest = 2 + topicLength + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payloadLength;
  const lengthBytes = rest < 0x80 ? 1 : rest < 0x4000 ? 2 : rest < 0x200000 ? 3 : 4;
  const b = Buffer.allocUnsafe(1 + lengthBytes + rest);
  b[0] = 0x30 | (qos << 1);
  let o = 1;
  let n = rest;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    b[o++] = byte;
  } while (n > 0);
  b.writeUInt16BE(topicLength, o);
  o += 2;
  o += b.write(topic, o, 'utf8');
  if (qos > 0) {
    b.writeUInt16BE(id, o);
    o += 2;
  }
  if (v5) b[o++] = 0;
  if (typeof payload === 'string') b.write(payload, o, 'utf8');
  else payload.copy(b, o);
  return b;
}

/**
 * Refuses a packet whose announced length is over `max` as soon as its fixed header is read:
 * the codec would otherwise buffer up to the protocol's 256 MiB before any check of ours, from
 * a client that has not even authenticated. The codec has no such limit, so its length step
 * is wrapped (pinned by the MQTT tests): the error closes the connection, as for any
 * malformed packet.
 */
function capPacketSize(parser: Parser, max: number): void {
  const p = parser as unknown as { packet: { length: number }; _parseLength?(): boolean; _emitError(e: Error): void };
  if (typeof p._parseLength !== 'function') throw new Error('the MQTT codec changed: the packet size cap cannot be installed');
  const parseLength = p._parseLength;
  p._parseLength = function (this: typeof p) {
    const done = parseLength.call(this);
    if (done && this.packet.length > max) {
      this._emitError(new Error(`packet of ${this.packet.length} bytes over the limit of ${max}`));
      return false;
    }
    return done;
  };
}
