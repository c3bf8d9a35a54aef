/**
 * A small client of the Janus WebRTC server's videoroom plugin over Janus's WebSocket API
 * (subprotocol `janus-protocol`), for the browser: join a room as a publisher (send this
 * page's camera and microphone), and subscribe to every other publisher's feed, each on its
 * own RTCPeerConnection. Used by `UX.openConference`; an app may use it directly.
 *
 * The protocol: one Janus session per page (`create`, kept alive with `keepalive` every
 * 25 s), one plugin handle for publishing and one per subscribed feed (`attach`); plugin
 * requests are `message`s answered with an `ack` and then an `event` carrying the plugin's
 * data and, for the SDP exchange, a `jsep`; ICE candidates go as `trickle`s both ways.
 */
import { Emitter } from './emitter.ts';

/** Where and how to join a room (the server hands these out for a valid conference token). */
export interface JanusRoomJoin {
  /** Janus's WebSocket URL, e.g. `ws://127.0.0.1:8188/`. */
  url: string;
  /** The videoroom's id. */
  room: number | string;
  /** The room's PIN, when the room has one. */
  pin?: string | undefined;
  /** A Janus token: sent with every request (Janus's `token_auth`) and in the room's `join` (the room's allowed list). */
  token?: string | undefined;
  /** The name the others see. */
  display: string;
  /** ICE servers for the peer connections (STUN/TURN). */
  iceServers?: RTCIceServer[] | undefined;
  /** What this page sends; none: this page only receives. */
  stream?: MediaStream | undefined;
  /** How long one request may take (default 20 s). */
  requestTimeoutMs?: number | undefined;
}

/** A feed of another participant, as this page receives it. */
export interface JanusRemoteFeed {
  /** The publisher's id in the room. */
  id: number | string;
  display: string;
  stream: MediaStream;
  pc: RTCPeerConnection;
}

export interface JanusRoomEvents {
  /** A remote feed started (its stream has at least one track). */
  feed: JanusRemoteFeed;
  /** A remote participant left or stopped publishing. */
  feedGone: { id: number | string };
  /** The connection to Janus ended (on `leave()` too; `error` when it was not asked). */
  closed: { error?: Error | undefined };
  /** This page's own media reached Janus (`webrtcup` on the publisher handle). */
  published: undefined;
}

interface JanusPublisher {
  id: number | string;
  display?: string;
}

interface JanusMessage {
  janus: string;
  transaction?: string;
  session_id?: number;
  sender?: number;
  data?: { id?: number };
  error?: { code: number; reason: string };
  plugindata?: { plugin: string; data: Record<string, unknown> };
  jsep?: RTCSessionDescriptionInit;
  candidate?: RTCIceCandidateInit & { completed?: boolean };
}

/** An error answered by Janus or its videoroom plugin. */
export class JanusError extends Error {
  override name = 'JanusError';
  readonly code: number;
  constructor(code: number, reason: string) {
    super(`Janus error ${code}: ${reason}`);
    this.code = code;
  }
}

const KEEPALIVE_MS = 25_000;
const PLUGIN = 'janus.plugin.videoroom';
/** How many times a feed's subscription is tried (about 25 s of waits in all). */
const SUBSCRIBE_ATTEMPTS = 10;

/** One Janus session over one WebSocket. */
class JanusSession {
  readonly #ws: WebSocket;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  #id = 0;
  #seq = 0;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  readonly #pending = new Map<string, { resolve: (m: JanusMessage) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout>; async: boolean }>();
  readonly #handles = new Map<number, (m: JanusMessage) => void>();
  onClose: ((error?: Error) => void) | undefined;

  private constructor(ws: WebSocket, token: string | undefined, timeoutMs: number) {
    this.#ws = ws;
    this.#token = token;
    this.#timeoutMs = timeoutMs;
    ws.onmessage = (e) => this.#onMessage(String(e.data));
    ws.onclose = () => this.#closed(new Error('The connection to the media server closed.'));
  }

  static async open(url: string, token: string | undefined, timeoutMs: number): Promise<JanusSession> {
    const ws = new WebSocket(url, 'janus-protocol');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`The media server at ${url} did not answer.`)), timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error(`Could not connect to the media server at ${url}.`));
      };
    });
    const s = new JanusSession(ws, token, timeoutMs);
    const created = await s.request({ janus: 'create' });
    s.#id = created.data!.id!;
    s.#keepalive = setInterval(() => {
      s.request({ janus: 'keepalive', session_id: s.#id }).catch(() => {});
    }, KEEPALIVE_MS);
    return s;
  }

  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a request; resolves with its answer: `success`/`ack` for synchronous requests,
   * the plugin's `event` for asynchronous plugin messages (`async: true`).
   */
  request(body: Record<string, unknown>, async = false): Promise<JanusMessage> {
    const transaction = `t${++this.#seq}`;
    const frame: Record<string, unknown> = { ...body, transaction };
    if (this.#token) frame.token = this.#token;
    if (this.#id && frame.janus !== 'create') frame.session_id = this.#id;
    return new Promise((resolve, reject) => {
      if (this.#ws.readyState !== WebSocket.OPEN) {
        reject(new Error('The connection to the media server is closed.'));
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(transaction);
        reject(new Error(`The media server did not answer ${String(body.janus)} in time.`));
      }, this.#timeoutMs);
      this.#pending.set(transaction, { resolve, reject, timer, async });
      this.#ws.send(JSON.stringify(frame));
    });
  }

  async attach(onEvent: (m: JanusMessage) => void): Promise<number> {
    const r = await this.request({ janus: 'attach', plugin: PLUGIN });
    const id = r.data!.id!;
    this.#handles.set(id, onEvent);
    return id;
  }

  async detach(handle: number): Promise<void> {
    this.#handles.delete(handle);
    if (this.open) await this.request({ janus: 'detach', handle_id: handle }).catch(() => {});
  }

  /** A plugin request on `handle`, answered by an event (with `jsep` when one was sent or is due). */
  message(handle: number, body: Record<string, unknown>, jsep?: RTCSessionDescriptionInit): Promise<JanusMessage> {
    return this.request({ janus: 'message', handle_id: handle, body, ...(jsep ? { jsep } : {}) }, true);
  }

  trickle(handle: number, candidate: RTCIceCandidateInit | null): void {
    if (!this.open) return;
    const frame: Record<string, unknown> = {
      janus: 'trickle',
      session_id: this.#id,
      handle_id: handle,
      transaction: `t${++this.#seq}`,
      candidate: candidate ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex } : { completed: true },
    };
    if (this.#token) frame.token = this.#token;
    this.#ws.send(JSON.stringify(frame));
  }

  async destroy(): Promise<void> {
    clearInterval(this.#keepalive);
    if (this.open) {
      await this.request({ janus: 'destroy' }).catch(() => {});
      this.#ws.onclose = null;
      this.#ws.close();
    }
    this.#closed();
  }

  #onMessage(raw: string): void {
    let m: JanusMessage;
    try {
      m = JSON.parse(raw) as JanusMessage;
    } catch {
      return;
    }
    const pending = m.transaction ? this.#pending.get(m.transaction) : undefined;
    if (pending) {
      if (m.janus === 'ack' && pending.async) return; // The event follows.
      this.#pending.delete(m.transaction!);
      clearTimeout(pending.timer);
      const pluginError = m.plugindata?.data?.error_code;
      if (m.janus === 'error') pending.reject(new JanusError(m.error?.code ?? 0, m.error?.reason ?? 'error'));
      else if (pluginError !== undefined) pending.reject(new JanusError(Number(pluginError), String(m.plugindata!.data.error ?? 'error')));
      else pending.resolve(m);
      return;
    }
    if (m.sender !== undefined) this.#handles.get(m.sender)?.(m);
  }

  #closed(error?: Error): void {
    clearInterval(this.#keepalive);
    for (const [, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(error ?? new Error('The connection to the media server closed.'));
    }
    this.#pending.clear();
    const cb = this.onClose;
    this.onClose = undefined;
    cb?.(error);
  }
}

/**
 * This page in a videoroom: publishes `stream` (if any) and subscribes to every other
 * publisher, now and as they come. `leave()` hangs up every peer connection and ends the
 * Janus session.
 */
export class JanusVideoRoom extends Emitter<JanusRoomEvents> {
  readonly #opts: JanusRoomJoin;
  readonly #session: JanusSession;
  #publisherHandle = 0;
  #privateId: number | undefined;
  /** This page's id in the room. */
  id: number | string | undefined;
  /** The publishing connection (none without a stream). */
  publisherPc: RTCPeerConnection | undefined;
  readonly feeds = new Map<string, JanusRemoteFeed & { handle: number; announced: boolean }>();
  readonly #subscribing = new Set<string>();
  /** Publishers that left (their feed is not subscribed again). */
  readonly #gone = new Set<string>();
  #left = false;

  private constructor(opts: JanusRoomJoin, session: JanusSession) {
    super();
    this.#opts = opts;
    this.#session = session;
  }

  /**
   * Connects to Janus, joins the room, publishes and subscribes to the feeds already there.
   * `listen` is called with the room before it joins: attach the `feed`, `feedGone` and
   * `closed` listeners there. A feed can start while this page's own publishing is still
   * being answered, before `join` resolves; a listener attached after it would miss it.
   */
  static async join(opts: JanusRoomJoin, listen?: (room: JanusVideoRoom) => void): Promise<JanusVideoRoom> {
    const session = await JanusSession.open(opts.url, opts.token, opts.requestTimeoutMs ?? 20_000);
    const room = new JanusVideoRoom(opts, session);
    session.onClose = (error) => room.#onClosed(error);
    listen?.(room);
    try {
      await room.#joinAsPublisher();
    } catch (err) {
      await room.leave();
      throw err;
    }
    return room;
  }

  /** Every peer connection of this page: the publisher's and one per remote feed. */
  peerConnections(): RTCPeerConnection[] {
    return [...(this.publisherPc ? [this.publisherPc] : []), ...[...this.feeds.values()].map((f) => f.pc)];
  }

  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    if (this.#publisherHandle && this.#session.open) {
      await this.#session.message(this.#publisherHandle, { request: 'leave' }).catch(() => {});
    }
    for (const f of this.feeds.values()) f.pc.close();
    this.publisherPc?.close();
    await this.#session.destroy();
  }

  async #joinAsPublisher(): Promise<void> {
    const o = this.#opts;
    this.#publisherHandle = await this.#session.attach((m) => this.#onPublisherEvent(m));
    const joined = await this.#session.message(this.#publisherHandle, {
      request: 'join',
      ptype: 'publisher',
      room: o.room,
      display: o.display,
      ...(o.pin ? { pin: o.pin } : {}),
      ...(o.token ? { token: o.token } : {}),
    });
    const data = joined.plugindata!.data;
    this.id = data.id as number | string;
    this.#privateId = data.private_id as number | undefined;
    if (o.stream) await this.#publish(o.stream);
    for (const p of (data.publishers as JanusPublisher[] | undefined) ?? []) void this.#subscribe(p);
  }

  async #publish(stream: MediaStream): Promise<void> {
    const pc = new RTCPeerConnection({ iceServers: this.#opts.iceServers ?? [] });
    this.publisherPc = pc;
    const handle = this.#publisherHandle;
    pc.onicecandidate = (e) => this.#session.trickle(handle, e.candidate ? e.candidate.toJSON() : null);
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const audio = stream.getAudioTracks().length > 0;
    const video = stream.getVideoTracks().length > 0;
    const answer = await this.#session.message(handle, { request: 'publish', audio, video }, { type: 'offer', sdp: offer.sdp! });
    if (!answer.jsep) throw new JanusError(0, 'The media server did not answer the offer.');
    await pc.setRemoteDescription(answer.jsep);
  }

  /**
   * Subscribes to a publisher's feed, trying again when it fails while the publisher is still
   * there (up to SUBSCRIBE_ATTEMPTS times, waiting longer each time: a loaded media server
   * may refuse or time out for a while).
   */
  async #subscribe(p: JanusPublisher, attempt = 1): Promise<void> {
    const key = String(p.id);
    if (this.#left || this.feeds.has(key) || this.#subscribing.has(key) || key === String(this.id)) return;
    this.#subscribing.add(key);
    try {
      const o = this.#opts;
      const pc = new RTCPeerConnection({ iceServers: o.iceServers ?? [] });
      const stream = new MediaStream();
      let handle = 0;
      const pendingCandidates: (RTCIceCandidateInit | null)[] = [];
      handle = await this.#session.attach((m) => {
        if (m.janus === 'trickle' && m.candidate) {
          const c = m.candidate.completed ? null : m.candidate;
          if (pc.remoteDescription) void pc.addIceCandidate(c ?? undefined).catch(() => {});
          else pendingCandidates.push(c);
        } else if (m.janus === 'hangup') {
          this.#dropFeed(key);
        }
      });
      pc.onicecandidate = (e) => this.#session.trickle(handle, e.candidate ? e.candidate.toJSON() : null);
      const feed = { id: p.id, display: p.display ?? '', stream, pc, handle, announced: false };
      pc.ontrack = (e) => {
        stream.addTrack(e.track);
        if (!feed.announced && this.feeds.get(key) === feed) {
          feed.announced = true;
          this.emit('feed', feed);
        }
      };
      this.feeds.set(key, feed);
      const attached = await this.#session.message(handle, {
        request: 'join',
        ptype: 'subscriber',
        room: o.room,
        streams: [{ feed: p.id }],
        ...(this.#privateId !== undefined ? { private_id: this.#privateId } : {}),
        ...(o.pin ? { pin: o.pin } : {}),
        ...(o.token ? { token: o.token } : {}),
      });
      if (!attached.jsep) throw new JanusError(0, 'The media server sent no offer for a feed.');
      await pc.setRemoteDescription(attached.jsep);
      for (const c of pendingCandidates.splice(0)) await pc.addIceCandidate(c ?? undefined).catch(() => {});
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await this.#session.message(handle, { request: 'start' }, { type: 'answer', sdp: answer.sdp! });
    } catch (err) {
      const gone = this.#gone.has(key);
      this.#dropFeed(key, false);
      this.#subscribing.delete(key);
      if (this.#left || gone) return;
      if (attempt < SUBSCRIBE_ATTEMPTS) {
        await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 4000)));
        if (!this.#left && !this.#gone.has(key)) await this.#subscribe(p, attempt + 1);
      } else {
        console.warn('Could not receive a feed', err);
      }
    } finally {
      this.#subscribing.delete(key);
    }
  }

  #onPublisherEvent(m: JanusMessage): void {
    if (m.janus === 'webrtcup') {
      this.emit('published', undefined);
      return;
    }
    if (m.janus === 'trickle' && m.candidate && this.publisherPc) {
      void this.publisherPc.addIceCandidate(m.candidate.completed ? undefined : m.candidate).catch(() => {});
      return;
    }
    const data = m.plugindata?.data;
    if (m.janus === 'event' && data) {
      if (m.jsep && m.jsep.type === 'answer' && this.publisherPc && !this.publisherPc.remoteDescription) {
        void this.publisherPc.setRemoteDescription(m.jsep);
      }
      for (const p of (data.publishers as JanusPublisher[] | undefined) ?? []) void this.#subscribe(p);
      const gone = data.leaving ?? data.unpublished;
      if (gone !== undefined && gone !== 'ok') this.#dropFeed(String(gone));
      if (data.videoroom === 'destroyed') void this.leave();
    }
  }

  /** Hangs up a remote feed; `announce`: it left (tell the app), else only this subscription failed. */
  #dropFeed(key: string, announce = true): void {
    if (announce) this.#gone.add(key);
    const f = this.feeds.get(key);
    if (!f) return;
    this.feeds.delete(key);
    f.pc.close();
    if (f.handle) void this.#session.detach(f.handle);
    if (announce || f.announced) this.emit('feedGone', { id: f.id });
  }

  #onClosed(error?: Error): void {
    const wasLeft = this.#left;
    this.#left = true;
    for (const f of this.feeds.values()) f.pc.close();
    this.publisherPc?.close();
    this.emit('closed', { error: wasLeft ? undefined : error });
  }
}
