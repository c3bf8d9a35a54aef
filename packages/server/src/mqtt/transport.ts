/**
 * The MQTT `Transport`: one MQTT client (an aedes `Client`) under a real-time `Connection`.
 * Frames the connection writes go out as PUBLISH packets on the client's account topic — a
 * `message` frame as seed 003's envelope, addressed to this receiver (`envelope.ts`), every
 * other frame (`ack`, `sync_done`, `error`, `read`, `typing`, `presence`…) as it is on the
 * WebSocket. An envelope published on the send topic becomes a `send` frame; its PUBACK is
 * held until the send's `ack` (after commit) or its `error` comes back through `write`. A
 * client's publishes pipeline (the next ones are read while a send waits for its commit), and
 * their PUBACKs go out in publish order (`onPublish`).
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
import type { Client } from 'aedes';
import { Disconnect, ErrorCodes, type DisconnectReason, type ErrorCode } from '@careline/protocol';
import { participantsHash } from '@careline/protocol/ids';
import type { MemberDirectory } from '../domain/directory.ts';
import { isAppError } from '../domain/errors.ts';
import type { Connection } from '../realtime/connection.ts';
import type { Transport } from '../realtime/transport.ts';
import { toEnvelope, toSend, type ConversationShape } from './envelope.ts';

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
 * A publish of the client, in the order received, until it is answered. Its answer goes out
 * when it and every publish before it are answered (MQTT 3.1.1 §4.6: PUBACKs in the order
 * of the PUBLISH packets): the PUBACK of a QoS 1 publish, written here; a QoS 2 publish is
 * aedes' (its PUBREC, after `release`). `unacked`: not stored for a reason that can pass —
 * the connection is closed without its PUBACK (nor any after it), and the client sends them
 * again after reconnecting.
 */
interface Inbound {
  qos: number;
  messageId: number;
  state: 'waiting' | 'answered' | 'unacked';
  reason?: string;
  /** QoS 2: aedes' callback (it writes the PUBREC) and the packet it is for. */
  release?: (err?: Error | null) => void;
  packet?: object;
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

/** The part of an aedes PUBLISH packet a transport reads (and changes: its QoS, see `onPublish`). */
export interface InboundPacket {
  topic: string;
  payload: Buffer | string;
  qos: number;
  messageId?: number;
  dup?: boolean;
}

/**
 * Most publishes of one client taken in before the first of them is answered: past it,
 * aedes is told to go on (and reads the client's next packets) only as answers go out.
 */
export const MAX_UNANSWERED = 256;

/** Most one-to-one conversation ids a connection keeps (`MqttTransport.#p2pWith`). */
const P2P_IDS = 64;

/** Most frames kept for a client that has not subscribed yet; more closes it (4003). */
export const EARLY_FRAMES = 1000;

/** The close of a frame larger than `ws.maxFrameBytes`: what the WebSocket says with its 1009 close. */
const TOO_LARGE = { code: 1009, reason: 'frame too large' };

type Frame = { type: string; id?: string; code?: string; message?: { conversation_id: string } & Parameters<typeof toEnvelope>[0] };

/** Releases a held PUBACK with an error: aedes closes the client without acking, and the client sends again after reconnecting. */
class Unacked extends Error {}

export class MqttTransport implements Transport {
  readonly client: Client;
  readonly topics: AccountTopics;
  readonly tenantId: string;
  readonly userId: string;
  conn!: Connection;
  readonly #directory: MemberDirectory;
  readonly #maxFrameBytes: number;
  /** Which of its topics the client subscribed to: frames go to each, in its format. */
  #account = false;
  #frames = false;
  /** Frames written before the client subscribed to anything, in order. */
  #early: { f: Frame; data: string }[] | null = [];
  /** The connection's `hello`, for the frames topic (seed 003's account topic does not get it). */
  #hello: string | null = null;
  /** Sends waiting for their `ack` or `error`, by the id given to the connection (made by the first). */
  #pending: Map<string, PendingSend> | null = null;
  /** The client's publishes not answered yet, in the order received (`onPublish`). */
  readonly #inbound: Inbound[] = [];
  /** aedes' callbacks of publishes past `MAX_UNANSWERED`: called (aedes reads on) as answers go out. */
  #held: ((err?: Error | null) => void)[] = [];
  /** A QoS 2 publish handed back to aedes to answer: the answers after it wait for its PUBREC. */
  #pubrec: object | null = null;
  /** The one-to-one conversation ids of the peers this client sent to (an md5 each, otherwise computed per send); at most `P2P_IDS`. */
  #p2p: Map<string, string> | null = null;
  /** The socket is corked until the writes of this turn are done (`#cork`). */
  #corked = false;
  #next = 0;
  /** Frames waiting for a conversation's shape to be loaded (kept in order behind it). */
  #queue: Promise<void> | null = null;
  /** Counts heartbeats while the broker watches the client's keepalive: see `received`. */
  #beats = 0;
  #closed = false;

  constructor(client: Client, tenantId: string, userId: string, directory: MemberDirectory, maxFrameBytes = 64 * 1024) {
    this.client = client;
    this.tenantId = tenantId;
    this.userId = userId;
    this.topics = topicsOf(userId);
    this.#directory = directory;
    this.#maxFrameBytes = maxFrameBytes;
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

  /**
   * The client subscribed to `topics` (its own, of one SUBSCRIBE): frames go there from now on,
   * those kept so far first. A client of the account topic alone is not waited for: the
   * connection's hold ends (one of the frames topic keeps it until its first sync).
   */
  onSubscribe(topics: readonly string[]): void {
    const frames = topics.includes(this.topics.frames);
    const account = topics.includes(this.topics.account);
    if (!frames && !account) return;
    if (frames && !this.#frames && this.#hello !== null) this.#publish(this.topics.frames, this.#hello, 0);
    if (frames) this.#frames = true;
    if (account) this.#account = true;
    const early = this.#early;
    this.#early = null;
    if (early) for (const e of early) this.#route(e.f, e.data);
    if (account && !this.#frames) this.conn.endHold();
  }

  onUnsubscribe(topic: string): void {
    if (topic === this.topics.account) this.#account = false;
    else if (topic === this.topics.frames) this.#frames = false;
  }

  /**
   * A publish of the client on its send, frames or sync topic (aedes' `authorizePublish`
   * hook; `done` is aedes' callback). Publishes pipeline: aedes is told to go on at once (it
   * reads the client's next packets while this one waits for its commit), up to
   * `MAX_UNANSWERED` publishes not yet answered. The answer is written in publish order when
   * it comes (`#flush`): a QoS 1 publish is handed to aedes as QoS 0 — aedes then writes no
   * PUBACK of its own — and its PUBACK is written here; a QoS 2 publish is aedes' to answer
   * (PUBREC), so its `done` waits for its turn, and so does aedes' reading.
   */
  onPublish(packet: InboundPacket, done: (err?: Error | null) => void): void {
    const inbound: Inbound = { qos: packet.qos, messageId: packet.messageId ?? 0, state: 'waiting' };
    if (packet.qos === 2) {
      inbound.release = done;
      inbound.packet = packet;
    } else if (packet.qos === 1) {
      packet.qos = 0;
    }
    this.#inbound.push(inbound);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (packet.topic === this.topics.send) {
      const err = this.#onSend(payload, inbound);
      if (err) return done(err);
    } else if (packet.topic === this.topics.frames) {
      // A frame too large: the connection is closing, and nothing more of the client is read.
      if (!this.#onFrame(payload, inbound)) return;
    } else {
      this.#onSync(payload);
      this.#answer(inbound);
    }
    if (inbound.qos === 2 || this.#closed) return;
    if (this.#inbound.length <= MAX_UNANSWERED) done(null);
    else this.#held.push(done);
  }

  /** A QoS 2 publish of this client has been answered by aedes (its PUBREC is written): the answers after it may go out. */
  onPublished(packet: object): void {
    if (packet !== this.#pubrec) return;
    this.#pubrec = null;
    this.#flush();
  }

  /**
   * A payload on the frames topic: a client frame, handled as the WebSocket handles it. A
   * `send` with an id is answered when its `ack` or `error` is written; anything else at
   * once. A payload over `ws.maxFrameBytes` closes the connection (the WebSocket's 1009):
   * false.
   */
  #onFrame(payload: Buffer, inbound: Inbound): boolean {
    if (payload.length > this.#maxFrameBytes) {
      // Not handled and never acked: the close is said, then the socket ends.
      this.#closeWith(TOO_LARGE.code, TOO_LARGE.reason);
      return false;
    }
    const text = payload.toString('utf8');
    const f = parseObject(text);
    if (f && f.type === 'send' && typeof f.id === 'string') {
      const id = `mqtt-${++this.#next}`;
      (this.#pending ??= new Map()).set(id, { clientId: f.id, kind: 'frame', inbound });
      this.conn.onFrameValue({ ...f, id });
      return true;
    }
    if (f) this.conn.onFrameValue(f);
    else this.conn.onFrame(text);
    this.#answer(inbound);
    return true;
  }

  /** An envelope published on the send topic: a `send` frame to the connection, answered when it is acked or refused; an error that is not a coded one is returned (aedes closes the client). */
  #onSend(payload: Buffer, inbound: Inbound): Error | null {
    let frame;
    try {
      frame = toSend(payload, this.tenantId, this.userId, (peer) => this.#p2pWith(peer));
    } catch (err) {
      if (!isAppError(err)) return err as Error;
      // Not an envelope: nothing will ever accept it, so it is acked, and the error said on the account topic.
      const id = envelopeIdOf(payload);
      const frame = { type: 'error', ...(id ? { id } : {}), ...err.toBody() };
      this.#route({ type: 'error' }, JSON.stringify(frame));
      this.#answer(inbound);
      return null;
    }
    const id = `mqtt-${++this.#next}`;
    (this.#pending ??= new Map()).set(id, { clientId: frame.message.client_id, kind: 'envelope', inbound });
    this.conn.onFrameValue({ ...frame, id });
    return null;
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

  /** A publish is answered (or, with `unacked`, will never be): what can go out now goes out. */
  #answer(inbound: Inbound, unacked?: string): void {
    if (unacked === undefined) inbound.state = 'answered';
    else {
      inbound.state = 'unacked';
      inbound.reason = unacked;
    }
    this.#flush();
  }

  /**
   * Writes the answers of the publishes at the head of the queue that are answered, in
   * order, and lets aedes go on with the publishes it was told to wait for once there is room.
   */
  #flush(): void {
    const q = this.#inbound;
    let acks: number[] | null = null;
    while (q.length > 0 && this.#pubrec === null && !this.#closed) {
      const e = q[0]!;
      if (e.state === 'waiting') break;
      q.shift();
      if (e.state === 'unacked') {
        this.#writeAcks(acks);
        this.#unacked(e.reason ?? 'server.internal');
        return;
      }
      if (e.qos === 1) (acks ??= []).push(e.messageId);
      else if (e.qos === 2) {
        this.#writeAcks(acks);
        acks = null;
        // aedes stores it and writes its PUBREC, then calls the broker's `published` hook
        // (`onPublished`): the answers after it wait for that. A repeat (DUP) it may answer
        // without publishing it again, so that one is not waited for.
        if (!(e.packet as { dup?: boolean }).dup) this.#pubrec = e.packet!;
        e.release!(null);
      }
    }
    this.#writeAcks(acks);
    while (this.#held.length > 0 && q.length <= MAX_UNANSWERED && !this.#closed) this.#held.shift()!(null);
  }

  /**
   * PUBACKs (MQTT 3.1.1 §3.4: 0x40, remaining length 2, the packet id), one write for those
   * that go out together. As aedes' own writer, nothing is written once the client is not
   * connected; there is no callback to wait for, and what the client does not read counts
   * in `buffered()` as every other frame does.
   */
  #writeAcks(ids: number[] | null): void {
    if (!ids) return;
    const c = this.client;
    if (!c.connected || c.closed) return;
    this.#cork();
    const b = Buffer.allocUnsafe(4 * ids.length);
    for (let i = 0; i < ids.length; i++) {
      b[4 * i] = 0x40;
      b[4 * i + 1] = 2;
      b.writeUInt16BE(ids[i]!, 4 * i + 2);
    }
    c.conn.write(b);
  }

  /**
   * What is written to the client in one turn goes out together: the socket is corked at the
   * first PUBACK or publish of the turn and uncorked in an immediate, after aedes has written
   * the publishes queued before it (aedes writes each in an immediate of its own). A send's
   * PUBACK and its `ack` frame, and the PUBACKs of one commit, are one system call, not one
   * each (the writes were a quarter of the MQTT path's CPU at the maximum rate). Nothing waits
   * for a later turn of the event loop.
   */
  #cork(): void {
    if (this.#corked) return;
    const conn = this.client.conn as { cork?: () => void; uncork?: () => void };
    if (typeof conn.cork !== 'function') return;
    this.#corked = true;
    conn.cork();
    setImmediate(() => {
      this.#corked = false;
      conn.uncork!();
    });
  }

  /**
   * A publish not stored, for a reason that can pass: the client is closed as aedes closes one
   * whose publish failed (its `error`: the socket is destroyed, `clientError` said), with no
   * PUBACK for it nor for any publish after it; the client sends them again after reconnecting.
   */
  #unacked(reason: string): void {
    this.#closed = true;
    this.#failPending();
    this.client.emit('error', new Unacked(reason));
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
          this.#answer(p.inbound, f.code ?? 'server.internal');
          return;
        }
        this.#route(f, JSON.stringify(f));
        this.#answer(p.inbound);
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
      if (this.#frames) this.#publish(this.topics.frames, data, 0);
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
    if (this.#frames) this.#publish(this.topics.frames, data, qos);
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
    if (typeof payload === 'string' && !this.#queue) return this.#publish(this.topics.account, payload, qos);
    const run: Promise<void> = (this.#queue ?? Promise.resolve()).then(() => payload).then((p) => {
      if (this.#account) this.#publish(this.topics.account, p, qos);
      if (this.#queue === run) this.#queue = null;
    });
    this.#queue = run;
  }

  #publish(topic: string, payload: string, qos: 0 | 1): void {
    if (this.#closed) return;
    this.client.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false }, noop);
    // After the publish: aedes writes it in an immediate queued before the uncork's.
    this.#cork();
  }

  buffered(): number {
    return (this.client.conn as { writableLength?: number }).writableLength ?? 0;
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
    const c = this.client.conn as { bytesWritten?: number; writableLength?: number };
    return (c.bytesWritten ?? 0) - (c.writableLength ?? 0);
  }

  /**
   * MQTT 3.1.1 has no server DISCONNECT: the frames written before (an `error` frame with the
   * reason's code) go out, then the socket is ended; a client that does not close in time is cut.
   */
  close(why: DisconnectReason, reason: string): void {
    this.#closeWith(why.code, reason);
  }

  /** Says the close on the frames topic (if subscribed), then ends the socket once it is written (at most 1 s later). */
  #closeWith(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failPending();
    const conn = this.client.conn;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      conn.end();
      setTimeout(() => conn.destroy(), 2000).unref();
    };
    if (!this.#frames) return void setImmediate(end);
    // QoS 0: its callback comes once it is written, and nothing waits for an acknowledgement.
    const payload = Buffer.from(JSON.stringify({ type: 'close', code, reason }));
    this.client.publish({ cmd: 'publish', topic: this.topics.frames, payload, qos: 0, retain: false, dup: false }, end);
    setTimeout(end, 1000).unref();
  }

  /** MQTT has no ping from the server: liveness is the client's keepalive (PINGREQ), see `received`. */
  ping(): void {}

  /**
   * The broker enforces the client's keepalive (it drops a client silent for 1.5× it), so a
   * client with a keepalive counts as alive to the layer's heartbeat; one with keepalive 0
   * (none) is judged by the bytes it sends, as on the WebSocket.
   */
  received(): number {
    const bytes = (this.client.conn as { bytesRead?: number }).bytesRead ?? 0;
    // aedes' keepalive timer (1.5× the CONNECT's keepalive, in ms; -1 with none).
    const keepalive = (this.client as unknown as { _keepaliveInterval?: number })._keepaliveInterval ?? -1;
    return keepalive > 0 ? bytes + ++this.#beats : bytes;
  }

  terminate(): void {
    this.#closed = true;
    this.#failPending();
    this.client.conn.destroy();
  }

  /** The client went away: its held PUBACKs are not sent (it sends those messages again). */
  onClosed(): void {
    this.#closed = true;
    this.#failPending();
  }

  /** Nothing more is answered: the publishes not answered yet get no PUBACK (the client sends them again). */
  #failPending(): void {
    this.#pending?.clear();
    this.#inbound.length = 0;
    this.#held = [];
    this.#pubrec = null;
  }
}

/** aedes calls a publish's callback when the packet is written (QoS 0) or acked (QoS 1); nothing waits on it. */
const noop = () => {};

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
