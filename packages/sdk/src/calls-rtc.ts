/**
 * The media of a call (docs/calls.md, "WebRTC"): wires a browser `RTCPeerConnection` per other
 * participant to the signalling relayed over the Careline connection (`rtc` frames, sent with
 * `client.calls.signal`) and the call's STUN/TURN servers (`client.calls.iceServers`). A 1:1
 * call has one peer connection; a small group call is a mesh (one per pair of participants).
 *
 * Who offers: of two joined participants, the one who joined first (the caller, for the first
 * callee) sends the offer, the other answers; so two peers never offer to each other at once.
 * A participant who leaves has their peer connection closed; the end of the call closes all.
 *
 * ```ts
 * const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
 * const media = new CallMedia(client.calls, call.id, { stream, iceTransportPolicy: 'all' });
 * media.on('track', ({ userId, stream }) => (videoOf(userId).srcObject = stream));
 * await client.calls.accept(call.id); // a callee; the caller after its invite
 * await media.start();
 * ...
 * media.close();
 * ```
 *
 * The SDK builds without the DOM's types, so the WebRTC objects are described here by the
 * few members used (a browser's own objects fit them).
 */
import type { CallInfo, IceServer, RtcCandidate, RtcEventFrame } from '@careline/protocol';
import type { CallsApi, CallUpdate } from './calls.ts';
import { Emitter } from './emitter.ts';

/** The members of a `MediaStreamTrack` used here. */
export interface TrackLike {
  kind: string;
  enabled: boolean;
  stop(): void;
}

/** The members of a `MediaStream` used here. */
export interface StreamLike {
  getTracks(): TrackLike[];
}

interface SessionDescriptionLike {
  type: string;
  sdp?: string;
}

interface CandidateEventLike {
  candidate: { toJSON(): RtcCandidate } | null;
}

interface TrackEventLike {
  track: TrackLike;
  streams: readonly StreamLike[];
}

/** The members of an `RTCPeerConnection` used here. */
export interface PeerConnectionLike {
  connectionState: string;
  remoteDescription: unknown;
  addTrack(track: TrackLike, ...streams: StreamLike[]): unknown;
  createOffer(): Promise<SessionDescriptionLike>;
  createAnswer(): Promise<SessionDescriptionLike>;
  setLocalDescription(d: SessionDescriptionLike): Promise<void>;
  setRemoteDescription(d: SessionDescriptionLike): Promise<void>;
  addIceCandidate(c: RtcCandidate): Promise<void>;
  getStats(): Promise<unknown>;
  close(): void;
  onicecandidate: ((e: CandidateEventLike) => void) | null;
  ontrack: ((e: TrackEventLike) => void) | null;
  onconnectionstatechange: (() => void) | null;
}

export interface PeerConnectionConfig {
  iceServers: IceServer[];
  iceTransportPolicy: 'all' | 'relay';
}

export type PeerConnectionFactory = new (config: PeerConnectionConfig) => PeerConnectionLike;

export interface CallMediaOptions {
  /** This side's media (`getUserMedia`): its tracks go to every peer. */
  stream: StreamLike;
  /** `relay`: media only through TURN (a hospital network that allows nothing else). Default `all`. */
  iceTransportPolicy?: 'all' | 'relay';
  /** Servers in place of the call's (`client.calls.iceServers`). */
  iceServers?: IceServer[];
  /** The `RTCPeerConnection` constructor (default: the browser's). */
  RTCPeerConnection?: PeerConnectionFactory;
  /** Reports a signalling or WebRTC failure (the call goes on with the other peers). */
  onError?: (err: unknown) => void;
}

export interface CallMediaEvents {
  /** A peer's media arrived (show `stream`). */
  track: { userId: string; stream: StreamLike; track: TrackLike };
  /** A peer connection changed state (`connected`, `failed`, `closed`…). */
  state: { userId: string; state: string };
  /** A peer left or the media was closed. */
  peerClosed: { userId: string };
  /** The media of this call is over (the call ended, or `close()`). */
  closed: { callId: string };
  error: unknown;
}

interface Peer {
  pc: PeerConnectionLike;
  /** Their connection, once a signal of theirs named it: later signals go to it only. */
  connection: string | null;
  /** Candidates that came before their description. */
  pending: RtcCandidate[];
}

export class CallMedia extends Emitter<CallMediaEvents> {
  readonly callId: string;
  readonly #calls: CallsApi;
  readonly #o: CallMediaOptions;
  readonly #peers = new Map<string, Peer>();
  readonly #offs: (() => void)[] = [];
  /** Signals that came before `start()` (the first offer can beat the accept's answer). */
  #early: RtcEventFrame[] = [];
  #ice: IceServer[] | null = null;
  #started = false;
  #closed = false;

  constructor(calls: CallsApi, callId: string, opts: CallMediaOptions) {
    super();
    this.#calls = calls;
    this.callId = callId;
    this.#o = opts;
    this.#early = calls.claimRtc(callId);
    this.#offs.push(
      calls.on('rtc', (f) => {
        if (f.call_id !== this.callId || this.#closed) return;
        if (!this.#started) this.#early.push(f);
        else void this.#onSignal(f);
      }),
      calls.on('call', (u) => {
        if (u.call.id === this.callId && this.#started) this.#onCall(u);
      }),
    );
  }

  /** The peer connections, by user id (for `getStats()`). */
  get peers(): ReadonlyMap<string, PeerConnectionLike> {
    return new Map([...this.#peers].map(([u, p]) => [u, p.pc]));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts the media: offers to the participants who joined after this user, answers the others' offers. */
  async start(): Promise<void> {
    if (this.#started || this.#closed) return;
    this.#ice = this.#o.iceServers ?? (await this.#calls.iceServers(this.callId));
    this.#started = true;
    const early = this.#early;
    this.#early = [];
    for (const f of early) await this.#onSignal(f);
    const call = await this.#calls.get(this.callId);
    if (call.state === 'ended') this.close();
    else this.#offerToLaterJoiners(call);
  }

  /** Turns this side's microphone (`audio`) or camera (`video`) on or off; returns whether it is on. */
  setEnabled(kind: 'audio' | 'video', on: boolean): boolean {
    let any = false;
    for (const t of this.#o.stream.getTracks()) {
      if (t.kind !== kind) continue;
      t.enabled = on;
      any = true;
    }
    return any && on;
  }

  /** Closes every peer connection (the local tracks are the caller's to stop). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#offs) off();
    this.#calls.releaseRtc(this.callId);
    for (const userId of [...this.#peers.keys()]) this.#drop(userId);
    this.emit('closed', { callId: this.callId });
  }

  #me(): string | null {
    return this.#calls.me;
  }

  #onCall(u: CallUpdate): void {
    if (u.call.state === 'ended') {
      this.close();
      return;
    }
    for (const p of u.call.participants) if (p.state !== 'joined' && this.#peers.has(p.user_id)) this.#drop(p.user_id);
    this.#offerToLaterJoiners(u.call);
  }

  /** Of two joined participants, the earlier one offers (equal times: the smaller user id). */
  #offerToLaterJoiners(call: CallInfo): void {
    const me = this.#me();
    const mine = call.participants.find((p) => p.user_id === me);
    if (!me || mine?.state !== 'joined' || mine.joined_at === null || call.state !== 'active') return;
    for (const p of call.participants) {
      if (p.user_id === me || p.state !== 'joined' || p.joined_at === null || this.#peers.has(p.user_id)) continue;
      const later = p.joined_at > mine.joined_at || (p.joined_at === mine.joined_at && p.user_id > me);
      if (later) void this.#offer(p.user_id);
    }
  }

  #peer(userId: string): Peer {
    const known = this.#peers.get(userId);
    if (known) return known;
    const Ctor = this.#o.RTCPeerConnection ?? (globalThis as unknown as { RTCPeerConnection?: PeerConnectionFactory }).RTCPeerConnection;
    if (!Ctor) throw new Error('No RTCPeerConnection here: pass options.RTCPeerConnection');
    const pc = new Ctor({ iceServers: this.#ice ?? [], iceTransportPolicy: this.#o.iceTransportPolicy ?? 'all' });
    const peer: Peer = { pc, connection: null, pending: [] };
    this.#peers.set(userId, peer);
    for (const t of this.#o.stream.getTracks()) pc.addTrack(t, this.#o.stream);
    pc.onicecandidate = (e) => {
      if (!e.candidate) return;
      const c = e.candidate.toJSON();
      if (!c.candidate) return;
      this.#send(userId, { kind: 'candidate', candidate: c });
    };
    pc.ontrack = (e) => {
      const stream = e.streams[0];
      if (stream) this.emit('track', { userId, stream, track: e.track });
    };
    pc.onconnectionstatechange = () => this.emit('state', { userId, state: pc.connectionState });
    return peer;
  }

  async #offer(userId: string): Promise<void> {
    try {
      const { pc } = this.#peer(userId);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this.#send(userId, { kind: 'offer', sdp: offer.sdp ?? '' });
    } catch (err) {
      this.#fail(err);
    }
  }

  async #onSignal(f: RtcEventFrame): Promise<void> {
    try {
      if (f.kind === 'offer') {
        // A new offer from them (they restarted): a fresh peer connection.
        if (this.#peers.get(f.from)?.pc.remoteDescription) this.#drop(f.from);
        const peer = this.#peer(f.from);
        peer.connection = f.from_connection;
        await peer.pc.setRemoteDescription({ type: 'offer', sdp: f.sdp ?? '' });
        await this.#flush(peer);
        const answer = await peer.pc.createAnswer();
        await peer.pc.setLocalDescription(answer);
        this.#send(f.from, { kind: 'answer', sdp: answer.sdp ?? '' });
      } else if (f.kind === 'answer') {
        const peer = this.#peers.get(f.from);
        if (!peer) return;
        peer.connection = f.from_connection;
        await peer.pc.setRemoteDescription({ type: 'answer', sdp: f.sdp ?? '' });
        await this.#flush(peer);
      } else if (f.candidate) {
        const peer = this.#peers.get(f.from) ?? this.#peer(f.from);
        if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(f.candidate);
        else peer.pending.push(f.candidate);
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  async #flush(peer: Peer): Promise<void> {
    const pending = peer.pending;
    peer.pending = [];
    for (const c of pending) await peer.pc.addIceCandidate(c);
  }

  #send(userId: string, s: { kind: 'offer' | 'answer' | 'candidate'; sdp?: string; candidate?: RtcCandidate }): void {
    if (this.#closed) return;
    const peer = this.#peers.get(userId);
    this.#calls.signal(this.callId, userId, s, peer?.connection ?? null).catch((err: unknown) => this.#fail(err));
  }

  #drop(userId: string): void {
    const peer = this.#peers.get(userId);
    if (!peer) return;
    this.#peers.delete(userId);
    peer.pc.onicecandidate = null;
    peer.pc.ontrack = null;
    peer.pc.onconnectionstatechange = null;
    peer.pc.close();
    this.emit('peerClosed', { userId });
  }

  #fail(err: unknown): void {
    this.#o.onError?.(err);
    this.emit('error', err);
  }
}
