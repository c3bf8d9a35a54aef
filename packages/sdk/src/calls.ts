/**
 * Calls (signalling; docs/calls.md), as `client.calls`: invite the other members of a
 * conversation, accept, refuse, cancel, hang up; events for every change. Actions go over
 * REST naming this client's connection (so this device gets the answer, and the user's other
 * devices `other_answer` / `other_refuse`); changes arrive as `call` frames on the connection.
 * While this device is in a call (the caller from the invite, a callee once it accepted) it
 * sends the call's heartbeat every `call.heartbeat_ms` (a `call` frame, or REST while
 * disconnected): a call whose participants stop beating ends on the server (`lost`).
 *
 * ```ts
 * client.calls.on('ringing', (call) => showIncoming(call));
 * client.calls.on('call', ({ status, call }) => render(status, call));
 * const call = await client.calls.invite(conversationId, { video: true });
 * ```
 */
import type { CallEventFrame, CallFrame, CallInfo, CallSignal, CallStatus, IceServer, RtcCandidate, RtcEventFrame } from '@careline/protocol';
import { Emitter } from './emitter.ts';
import type { CarelineApi } from './rest.ts';

/** A change of a call: its seed 003 status for this device, who acted, the call after it. */
export interface CallUpdate {
  status: CallStatus;
  by: string;
  call: CallInfo;
  content: CallSignal;
}

export interface CallEvents {
  /** Every change of a call this user is in (this device's own actions too). */
  call: CallUpdate;
  /** A call rings on this device (an invite to this user). */
  ringing: CallInfo;
  /** A call this user was in ended (`call.end_reason` says why). */
  ended: CallInfo;
  /** A heartbeat failed (the call is then usually over: see `ended`). */
  error: unknown;
  /** A WebRTC signal from another participant (docs/calls.md, "WebRTC"; `calls-rtc.ts` wires it to an `RTCPeerConnection`). */
  rtc: RtcEventFrame;
}

/** A WebRTC signal to send to another joined participant of a call. */
export interface RtcSignalOut {
  kind: 'offer' | 'answer' | 'candidate';
  sdp?: string;
  candidate?: RtcCandidate;
}

/** What `client.calls` needs of the client: its connection id and a way to send a frame. */
export interface CallLink {
  connectionId(): string | null;
  send(frame: CallFrame): boolean;
}

interface CallAnswer {
  call: CallInfo;
  status: CallStatus | null;
  ice_servers?: IceServer[];
}

export class CallsApi extends Emitter<CallEvents> {
  readonly #api: CarelineApi;
  readonly #link: CallLink;
  readonly #calls = new Map<string, CallInfo>();
  readonly #beats = new Map<string, ReturnType<typeof setInterval>>();
  readonly #ice = new Map<string, IceServer[]>();
  readonly #early = new Map<string, RtcEventFrame[]>();
  readonly #claimed = new Set<string>();
  #me: () => string | null;

  constructor(api: CarelineApi, link: CallLink, me: () => string | null) {
    super();
    this.#api = api;
    this.#link = link;
    this.#me = me;
  }

  /** The calls this client knows of that are not over. */
  get active(): CallInfo[] {
    return [...this.#calls.values()].filter((c) => c.state !== 'ended');
  }

  /** Calls the other members of the conversation (audio, or video with `{ video: true }`). */
  async invite(conversationId: string, opts: { video?: boolean } = {}): Promise<CallInfo> {
    const r = await this.#api.request<CallAnswer>('POST', '/calls', {
      body: { conversation_id: conversationId, av_type: opts.video ? 'video' : 'audio', ...this.#origin() },
    });
    return this.#own(r, 'invite');
  }

  /** The same as `invite`. */
  start(conversationId: string, opts: { video?: boolean } = {}): Promise<CallInfo> {
    return this.invite(conversationId, opts);
  }

  accept(callId: string): Promise<CallInfo> {
    return this.#act(callId, 'accept');
  }

  refuse(callId: string): Promise<CallInfo> {
    return this.#act(callId, 'refuse');
  }

  /** The caller stops a call nobody answered yet. */
  cancel(callId: string): Promise<CallInfo> {
    return this.#act(callId, 'cancel');
  }

  hangup(callId: string): Promise<CallInfo> {
    return this.#act(callId, 'hangup');
  }

  async get(callId: string): Promise<CallInfo> {
    const r = await this.#api.request<{ call: CallInfo }>('GET', `/calls/${encodeURIComponent(callId)}`);
    this.#track(r.call);
    return r.call;
  }

  /** The user's live calls on the server (ringing for them, or joined): what to show after starting up. */
  async live(): Promise<CallInfo[]> {
    const r = await this.#api.request<{ calls: CallInfo[] }>('GET', '/calls');
    for (const c of r.calls) this.#track(c);
    return r.calls;
  }

  /**
   * This user's STUN/TURN servers for a call's media (with a TURN credential that expires):
   * the ones handed out with the invite or the accept, else fetched (`GET /calls/:id/ice`).
   */
  async iceServers(callId: string, opts: { fresh?: boolean } = {}): Promise<IceServer[]> {
    const known = this.#ice.get(callId);
    if (known && !opts.fresh) return known;
    const r = await this.#api.request<{ ice_servers: IceServer[] }>('GET', `/calls/${encodeURIComponent(callId)}/ice`);
    this.#ice.set(callId, r.ice_servers);
    return r.ice_servers;
  }

  /**
   * Relays a WebRTC signal to another joined participant of the call (`toConnection`: only
   * that connection of theirs, the `from_connection` of a signal they sent).
   */
  async signal(callId: string, to: string, s: RtcSignalOut, toConnection?: string | null): Promise<void> {
    await this.#api.request<{ sent: boolean }>('POST', `/calls/${encodeURIComponent(callId)}/rtc`, {
      body: { to, ...(toConnection ? { to_connection: toConnection } : {}), ...s, ...this.#origin() },
    });
  }

  /** An `rtc` frame from the server (kept for a while when no `CallMedia` has claimed its call yet). */
  onRtc(f: RtcEventFrame): void {
    if (!this.#claimed.has(f.call_id)) {
      const kept = this.#early.get(f.call_id) ?? [];
      if (kept.length < 256) kept.push(f);
      this.#early.set(f.call_id, kept);
      const t = setTimeout(() => this.#early.delete(f.call_id), 60_000) as unknown as { unref?: () => void };
      t.unref?.();
    }
    this.emit('rtc', f);
  }

  /**
   * The signals of a call that came before anything claimed it, and from now on none are kept
   * (`CallMedia` claims its call; `release` when done).
   */
  claimRtc(callId: string): RtcEventFrame[] {
    this.#claimed.add(callId);
    const kept = this.#early.get(callId) ?? [];
    this.#early.delete(callId);
    return kept;
  }

  releaseRtc(callId: string): void {
    this.#claimed.delete(callId);
  }

  /** The signed-in user's id (null before the first connection). */
  get me(): string | null {
    return this.#me();
  }

  /** The id of this client's real-time connection (what other participants answer to). */
  get connectionId(): string | null {
    return this.#link.connectionId();
  }

  /** Stops the heartbeats (the client closes). */
  stop(): void {
    for (const t of this.#beats.values()) clearInterval(t);
    this.#beats.clear();
  }

  /** A `call` frame from the server. */
  onFrame(f: CallEventFrame): void {
    if (f.id !== undefined) return;
    if (f.content.iceServers) this.#ice.set(f.call.id, f.content.iceServers);
    this.#update({ status: f.status, by: f.by, call: f.call, content: f.content });
  }

  async #act(callId: string, action: 'accept' | 'refuse' | 'cancel' | 'hangup'): Promise<CallInfo> {
    const r = await this.#api.request<CallAnswer>('POST', `/calls/${encodeURIComponent(callId)}/${action}`, { body: this.#origin() });
    return this.#own(r, action);
  }

  #origin(): { connection_id?: string } {
    const id = this.#link.connectionId();
    return id ? { connection_id: id } : {};
  }

  #own(r: CallAnswer, action: CallStatus): CallInfo {
    const status = r.status ?? action;
    const c = r.call;
    if (r.ice_servers) this.#ice.set(c.id, r.ice_servers);
    this.#update({ status, by: this.#me() ?? c.caller_id, call: c, content: { status, avType: c.av_type, uid: c.caller_id, roomId: c.id, timestamp: c.created_at, useTime: 0 } });
    return c;
  }

  #update(u: CallUpdate): void {
    const before = this.#calls.get(u.call.id);
    this.#track(u.call);
    this.emit('call', u);
    const me = this.#me();
    const mine = u.call.participants.find((p) => p.user_id === me);
    if (u.status === 'invite' && mine?.state === 'ringing' && u.by !== me) this.emit('ringing', u.call);
    if (u.call.state === 'ended' && before?.state !== 'ended') this.emit('ended', u.call);
  }

  /** Keeps the newest state of a call and beats for it while this user is joined and this device took part. */
  #track(c: CallInfo): void {
    this.#calls.set(c.id, c);
    const me = this.#me();
    const joined = c.state !== 'ended' && c.participants.some((p) => p.user_id === me && p.state === 'joined');
    const beating = this.#beats.get(c.id);
    if (joined && !beating) {
      const t = setInterval(() => this.#beat(c.id), Math.max(200, c.heartbeat_ms));
      this.#beats.set(c.id, t);
    } else if (!joined && beating) {
      clearInterval(beating);
      this.#beats.delete(c.id);
    }
    if (c.state === 'ended') {
      // Kept a little for late frames of the same call, then forgotten.
      const t = setTimeout(() => {
        if (this.#calls.get(c.id)?.state === 'ended') {
          this.#calls.delete(c.id);
          this.#ice.delete(c.id);
        }
      }, 60_000) as unknown as { unref?: () => void };
      t.unref?.();
    }
  }

  #beat(callId: string): void {
    if (this.#link.send({ type: 'call', action: 'heartbeat', call_id: callId })) return;
    this.#api.request<CallAnswer>('POST', `/calls/${encodeURIComponent(callId)}/heartbeat`, { body: {} })
      .then((r) => this.#track(r.call))
      .catch((err: unknown) => {
        this.emit('error', err);
        // An ended or unknown call: stop beating for it.
        const code = (err as { code?: string }).code;
        if (code === 'call.invalid_state' || code === 'call.not_found' || code === 'call.not_participant') {
          clearInterval(this.#beats.get(callId));
          this.#beats.delete(callId);
        }
      });
  }
}
