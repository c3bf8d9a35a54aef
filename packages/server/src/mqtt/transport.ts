/**
 * The MQTT `Transport`: one MQTT connection (`MqttSession`) under a real-time `Connection`.
 * Frames the connection writes go out as PUBLISH packets on the client's account topic — a
 * `message` frame as seed 003's envelope, addressed to this receiver (`envelope.ts`), every
 * other frame (`ack`, `sync_done`, `error`, `read`, `typing`, `presence`…) as it is on the
 * WebSocket. An envelope published on the send topic becomes a `send` frame; its PUBACK is
 * held until the send's `ack` (after commit) or its `error` comes back through `write`. A
 * client's publishes pipeline (the next ones are read while a send waits for its commit), and
 * the session answers them in publish order.
 *
 * The frames topic (`<user id>/frames`) carries Careline's own frames both ways, exactly as
 * the WebSocket does (the SDK's MQTT transport): the client publishes client frames there
 * (a `send`'s PUBACK, too, waits for its `ack` or `error`), and what it subscribed to gets
 * every server frame unchanged, `message` frames included. The server's close comes there as
 * a last payload `{type: "close", code, reason}` (a `Disconnect` reason, as a WebSocket close
 * frame says it).
 *
 * The hold. The connection is opened as a WebSocket with `?sync=1` is: it holds live frames
 * from the CONNECT until the client's first `sync` has been answered (`sync_done`), at most
 * `ws.syncHoldMs`. The hold is the connection's, not this transport's: a frame held there is
 * not sent yet, so the catch-up sends it from storage in its place, in order with the rest of
 * the backlog, and drops it when the hold ends. (A transport that held frames the connection
 * counted as sent would let the catch-up send a newer message or notification before them.)
 * A client that subscribes to seed 003's account topic, and not to the frames topic, is not
 * waited for: the hold ends when it subscribes, and its live frames flow from then on.
 *
 * The connection's `hello` goes to the frames topic, first, when the client subscribes to it
 * (not to seed 003's account topic). Other frames written before the client subscribed to
 * either topic (answers to what it published; live frames, once the hold ran out) are kept,
 * in order, and published when it does: the layer counts them as sent, so none may be
 * dropped. A client that lets more than `EARLY_FRAMES` pile up before subscribing is closed
 * (4003), as a hold that overflows is.
 */
import type { IPublishPacket } from 'mqtt-packet';
import { Disconnect, ErrorCodes, type DisconnectReason, type ErrorCode } from '@careline/protocol';
import { participantsHash } from '@careline/protocol/ids';
import type { MemberDirectory } from '../domain/directory.ts';
import { isAppError } from '../domain/errors.ts';
import type { Connection } from '../realtime/connection.ts';
import type { Transport } from '../realtime/transport.ts';
import { toEnvelope, toSend, type ConversationShape } from './envelope.ts';
import { Reason, type Inbound, type MqttSession, type SessionHandler } from './session.ts';

/** Where a transport says what it refused. */
export interface TransportLog {
  warn(obj: object, msg: string): void;
}

/** The topics of one account (seed 003: the client subscribes to its account). */
export interface AccountTopics {
  /** What the client subscribes to: its user id. Everything for it is published here. */
  account: string;
  /** Where it publishes envelopes to send. */
  send: string;
  /** Where it publishes its catch-up cursors (the body of a WebSocket `sync` frame). */
  sync: string;
  /** Careline frames both ways, as on the WebSocket: the client publishes client frames and subscribes to server frames. */
  frames: string;
}

export function topicsOf(userId: string): AccountTopics {
  return { account: userId, send: `${userId}/send`, sync: `${userId}/sync`, frames: `${userId}/frames` };
}

/**
 * A send waiting for its commit: the id the client gave (the envelope id, or the `send`
 * frame's id), and its publish. An envelope's send that failed for a reason that can pass
 * gets no PUBACK (the client sends it again); a frame's gets its `error` frame and the
 * PUBACK, as the WebSocket answers it.
 */
interface PendingSend {
  clientId: string;
  kind: 'envelope' | 'frame';
  inbound: Inbound;
}

/** Most one-to-one conversation ids a connection keeps (`MqttTransport.#p2pWith`). */
const P2P_IDS = 64;

/** Most frames kept for a client that has not subscribed yet; more closes it (4003). */
export const EARLY_FRAMES = 1000;

/** The close of a frame larger than `ws.maxFrameBytes`: what the WebSocket says with its 1009 close. */
const TOO_LARGE = { code: 1009, reason: 'frame too large' };

/** The MQTT 5 DISCONNECT reason code of a close (by its WebSocket close code). */
const V5_REASONS: Record<number, number> = {
  [Disconnect.SHUTDOWN.code]: Reason.SHUTTING_DOWN,
  [Disconnect.SLOW_CONSUMER.code]: Reason.QUOTA_EXCEEDED,
  [Disconnect.HEARTBEAT_TIMEOUT.code]: Reason.KEEPALIVE_TIMEOUT,
  [Disconnect.SYNC_OVERFLOW.code]: Reason.QUOTA_EXCEEDED,
  [Disconnect.INTERNAL.code]: Reason.UNSPECIFIED,
  [Disconnect.AUTH_FAILED.code]: Reason.NOT_AUTHORIZED,
  [Disconnect.TOKEN_EXPIRED.code]: Reason.NOT_AUTHORIZED,
  [Disconnect.TOKEN_REVOKED.code]: Reason.NOT_AUTHORIZED,
  [Disconnect.CONNECTED_ELSEWHERE.code]: Reason.SESSION_TAKEN_OVER,
  [Disconnect.USER_CHANGED.code]: Reason.ADMINISTRATIVE_ACTION,
  [Disconnect.USER_DISABLED.code]: Reason.BANNED,
  [Disconnect.RATE_LIMITED.code]: Reason.CONNECTION_RATE_EXCEEDED,
  [Disconnect.TOO_MANY_CONNECTIONS.code]: Reason.QUOTA_EXCEEDED,
  [TOO_LARGE.code]: Reason.PACKET_TOO_LARGE,
};

export const v5ReasonOf = (code: number): number => V5_REASONS[code] ?? Reason.UNSPECIFIED;

type Frame = { type: string; id?: string; code?: string; message?: { conversation_id: string } & Parameters<typeof toEnvelope>[0] };

export class MqttTransport implements Transport, SessionHandler {
  readonly session: MqttSession;
  readonly topics: AccountTopics;
  readonly tenantId: string;
  readonly userId: string;
  conn!: Connection;
  readonly #directory: MemberDirectory;
  readonly #maxFrameBytes: number;
  readonly #log: TransportLog | undefined;
  /** Which of its topics the client subscribed to: frames go to each, in its format. */
  #account = false;
  #frames = false;
  /** Frames written before the client subscribed to anything, in order. */
  #early: { f: Frame; data: string }[] | null = [];
  /** The connection's `hello`, for the frames topic (seed 003's account topic does not get it). */
  #hello: string | null = null;
  /** Sends waiting for their `ack` or `error`, by the id given to the connection (made by the first). */
  #pending: Map<string, PendingSend> | null = null;
  /** The one-to-one conversation ids of the peers this client sent to (an md5 each, otherwise computed per send); at most `P2P_IDS`. */
  #p2p: Map<string, string> | null = null;
  #next = 0;
  /** Frames waiting for a conversation's shape to be loaded (kept in order behind it). */
  #queue: Promise<void> | null = null;
  /** Counts heartbeats while the session watches the client's keepalive: see `received`. */
  #beats = 0;
  #closed = false;

  constructor(session: MqttSession, tenantId: string, userId: string, directory: MemberDirectory, maxFrameBytes = 64 * 1024, log?: TransportLog) {
    this.session = session;
    this.tenantId = tenantId;
    this.userId = userId;
    this.topics = topicsOf(userId);
    this.#directory = directory;
    this.#maxFrameBytes = maxFrameBytes;
    this.#log = log;
  }

  #p2pWith(peer: string): string {
    const ids = (this.#p2p ??= new Map());
    let id = ids.get(peer);
    if (id === undefined) {
      if (ids.size >= P2P_IDS) ids.clear();
      id = participantsHash([this.userId, peer]);
      ids.set(peer, id);
    }
    return id;
  }

  /** Whether the client subscribed to its account or frames topic. */
  get subscribed(): boolean {
    return this.#account || this.#frames;
  }

  /** The client may subscribe to its account topic and its frames topic, nothing else. */
  maySubscribe(topic: string): boolean {
    if (topic === this.topics.account || topic === this.topics.frames) return true;
    this.#log?.warn({ code: 'mqtt.topic_forbidden', topic, user: this.userId }, 'MQTT subscription refused');
    return false;
  }

  /**
   * The client subscribed to `topics` (its own, of one SUBSCRIBE): frames go there from now on,
   * those kept so far first. A client of the account topic alone is not waited for: the
   * connection's hold ends (one of the frames topic keeps it until its first sync).
   */
  onSubscribe(topics: readonly string[]): void {
    const frames = topics.includes(this.topics.frames);
    const account = topics.includes(this.topics.account);
    if (!frames && !account) return;
    if (frames && !this.#frames && this.#hello !== null) this.session.publish(this.topics.frames, this.#hello, 0);
    if (frames) this.#frames = true;
    if (account) this.#account = true;
    const early = this.#early;
    this.#early = null;
    if (early) for (const e of early) this.#route(e.f, e.data);
    if (account && !this.#frames) this.conn.endHold();
  }

  onUnsubscribe(topics: readonly string[]): void {
    for (const topic of topics) {
      if (topic === this.topics.account) this.#account = false;
      else if (topic === this.topics.frames) this.#frames = false;
    }
  }

  /**
   * A publish of the client (the session answers them in the order received, each when it is
   * answered here): on the send topic an envelope, on the frames topic a client frame, on the
   * sync topic a catch-up request. Any other topic is refused (MQTT 5: PUBACK 0x87; 3.1.1,
   * which has no negative PUBACK: the connection is closed). Nothing is retained.
   */
  onPublish(packet: IPublishPacket, inbound: Inbound): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (packet.topic === this.topics.send) this.#onSend(payload, inbound);
    else if (packet.topic === this.topics.frames) this.#onFrame(payload, inbound);
    else if (packet.topic === this.topics.sync) {
      this.#onSync(payload);
      this.session.answer(inbound);
    } else {
      this.#log?.warn({ code: 'mqtt.topic_forbidden', topic: packet.topic, user: this.userId }, 'MQTT publish refused');
      this.session.refuse(inbound, Reason.NOT_AUTHORIZED, 'mqtt.topic_forbidden');
    }
  }

  /**
   * A payload on the frames topic: a client frame, handled as the WebSocket handles it. A
   * `send` with an id is answered when its `ack` or `error` is written; anything else at
   * once. A payload over `ws.maxFrameBytes` closes the connection (the WebSocket's 1009).
   */
  #onFrame(payload: Buffer, inbound: Inbound): void {
    if (payload.length > this.#maxFrameBytes) {
      // Not handled and never acked: the close is said, then the socket ends.
      this.#closeWith(TOO_LARGE.code, TOO_LARGE.reason);
      return;
    }
    const text = payload.toString('utf8');
    const f = parseObject(text);
    if (f && f.type === 'send' && typeof f.id === 'string') {
      const id = `mqtt-${++this.#next}`;
      (this.#pending ??= new Map()).set(id, { clientId: f.id, kind: 'frame', inbound });
      this.conn.onFrameValue({ ...f, id });
      return;
    }
    if (f) this.conn.onFrameValue(f);
    else this.conn.onFrame(text);
    this.session.answer(inbound);
  }

  /** An envelope published on the send topic: a `send` frame to the connection, answered when it is acked or refused. */
  #onSend(payload: Buffer, inbound: Inbound): void {
    let frame;
    try {
      frame = toSend(payload, this.tenantId, this.userId, (peer) => this.#p2pWith(peer));
    } catch (err) {
      if (!isAppError(err)) {
        this.#log?.warn({ err: (err as Error).message, user: this.userId }, 'MQTT envelope failed');
        return this.session.refuse(inbound, Reason.UNSPECIFIED, 'server.internal');
      }
      // Not an envelope: nothing will ever accept it, so it is acked, and the error said on the account topic.
      const id = envelopeIdOf(payload);
      const frame = { type: 'error', ...(id ? { id } : {}), ...err.toBody() };
      this.#route({ type: 'error' }, JSON.stringify(frame));
      this.session.answer(inbound);
      return;
    }
    // A seed 003 client that sends before subscribing (or never subscribes: a publisher) will
    // not sync first: the hold ends, or the send's ack — and its PUBACK — would wait behind it.
    if (!this.#frames) this.conn.endHold();
    const id = `mqtt-${++this.#next}`;
    (this.#pending ??= new Map()).set(id, { clientId: frame.message.client_id, kind: 'envelope', inbound });
    this.conn.onFrameValue({ ...frame, id });
  }

  /** A payload on the sync topic: the body of a `sync` frame (its `type` may be left out). */
  #onSync(payload: Buffer): void {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      this.conn.onFrame('not json');
      return;
    }
    this.conn.onFrameValue(typeof body === 'object' && body !== null && !Array.isArray(body) ? { type: 'sync', ...body } : body);
  }

  write(data: string): void {
    if (this.#closed) return;
    const f = JSON.parse(data) as Frame;
    if (f.id !== undefined && (f.type === 'ack' || f.type === 'error')) {
      const p = this.#pending?.get(f.id);
      if (p) {
        this.#pending!.delete(f.id);
        f.id = p.clientId;
        if (p.kind === 'envelope' && f.type === 'error' && (ErrorCodes[f.code as ErrorCode]?.status ?? 500) >= 500) {
          // Not stored, for a reason that can pass (the server is shutting down, storage is away): no PUBACK, the client sends it again.
          this.session.unacked(p.inbound, f.code ?? 'server.internal');
          return;
        }
        this.#route(f, JSON.stringify(f));
        this.session.answer(p.inbound);
        return;
      }
    }
    this.#route(f, data);
  }

  /** Publishes a frame to each topic the client subscribed to, in its format; keeps it if there is none yet. */
  #route(f: Frame, data: string): void {
    if (f.type === 'hello') {
      // Said first on the frames topic, whenever the client subscribes to it.
      this.#hello = data;
      if (this.#frames) this.session.publish(this.topics.frames, data, 0);
      return;
    }
    if (this.#early) {
      this.#early.push({ f, data });
      if (this.#early.length > EARLY_FRAMES) {
        this.#early = null;
        this.conn.close(Disconnect.SYNC_OVERFLOW);
      }
      return;
    }
    const qos = qosOf(f.type);
    if (this.#frames) this.session.publish(this.topics.frames, data, qos);
    if (!this.#account) return;
    if (f.type === 'message' && f.message) {
      const m = f.message;
      const shape = this.#queue ? null : this.#directory.get(this.tenantId, m.conversation_id);
      if (!this.#queue && !(shape instanceof Promise)) return this.#out(JSON.stringify(toEnvelope(m, this.userId, this.tenantId, shapeOf(shape))), qos);
      // The conversation's shape is being loaded: this envelope, and every frame after it, wait for it, in order.
      return this.#out(Promise.resolve(this.#directory.get(this.tenantId, m.conversation_id)).then(
        (entry) => JSON.stringify(toEnvelope(m, this.userId, this.tenantId, shapeOf(entry))),
        () => JSON.stringify(toEnvelope(m, this.userId, this.tenantId, null)),
      ), qos);
    }
    this.#out(data, qos);
  }

  /** Publishes `payload` on the account topic, after the frames still waiting (in order). */
  #out(payload: string | Promise<string>, qos: 0 | 1): void {
    if (typeof payload === 'string' && !this.#queue) return this.session.publish(this.topics.account, payload, qos);
    const run: Promise<void> = (this.#queue ?? Promise.resolve()).then(() => payload).then((p) => {
      if (this.#account) this.session.publish(this.topics.account, p, qos);
      if (this.#queue === run) this.#queue = null;
    });
    this.#queue = run;
  }

  buffered(): number {
    return this.session.buffered + this.session.waitingBytes;
  }

  drained(bytes: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.#closed || this.buffered() <= bytes) return resolve();
        setTimeout(check, 5);
      };
      check();
    });
  }

  sent(): number {
    return this.session.bytesOut - this.session.buffered;
  }

  /**
   * The frames written before go out, the close is said on the frames topic (if subscribed;
   * `{type: "close", code, reason}`) and, to an MQTT 5 client, in a DISCONNECT with its reason
   * code; then the socket is ended.
   */
  close(why: DisconnectReason, reason: string): void {
    this.#closeWith(why.code, reason);
  }

  #closeWith(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending?.clear();
    // QoS 0: nothing waits for an acknowledgement.
    if (this.#frames) this.session.publish(this.topics.frames, JSON.stringify({ type: 'close', code, reason }), 0);
    this.session.close(v5ReasonOf(code), reason);
  }

  /** MQTT has no ping from the server: liveness is the client's keepalive (PINGREQ), see `received`. */
  ping(): void {}

  /**
   * The session enforces the client's keepalive (it drops a client silent for 1.5× it), so a
   * client with a keepalive counts as alive to the layer's heartbeat; one with keepalive 0
   * (none) is judged by the bytes it sends, as on the WebSocket.
   */
  received(): number {
    const bytes = this.session.bytesIn;
    return this.session.keepalive > 0 ? bytes + ++this.#beats : bytes;
  }

  terminate(): void {
    this.#closed = true;
    this.#pending?.clear();
    this.session.terminate();
  }

  /** The connection is gone: the publishes not answered get no answer (the client sends them again). */
  onClose(): void {
    this.#closed = true;
    this.#pending?.clear();
    this.conn.onClose();
  }
}

function shapeOf(entry: { conversation: { type: number }; members: ReadonlySet<string> } | null): ConversationShape | null {
  return entry ? { type: entry.conversation.type, members: entry.members } : null;
}

/** The JSON object in `text`, or null (not JSON, not an object: the connection says so). */
/**
 * The QoS a frame is published with: 1 for messages and notifications, 0 for every other frame
 * (`ack`, `error`, `sync_done`, `read`, `typing`, `presence`, `hello`, `pong`…). Sessions are
 * always clean, so a QoS 1 packet is never delivered again after a reconnect: on one
 * connection TCP delivers a QoS 0 packet as surely, without the client's PUBACK to read and
 * the packet to keep until it comes. What a lost connection takes, the client has again the
 * way it has it on the WebSocket: the catch-up, and a resend answered as a duplicate.
 */
function qosOf(type: string): 0 | 1 {
  return type === 'message' || type === 'notification' ? 1 : 0;
}

function parseObject(text: string): { type?: unknown; id?: unknown } | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as { type?: unknown; id?: unknown }) : null;
  } catch {
    return null;
  }
}

/** The envelope's id, when the payload has one, for the error frame of a payload refused. */
function envelopeIdOf(payload: Buffer): string | undefined {
  try {
    const e = JSON.parse(payload.toString('utf8')) as { id?: unknown };
    return typeof e?.id === 'string' && e.id.length <= 64 ? e.id : undefined;
  } catch {
    return undefined;
  }
}
