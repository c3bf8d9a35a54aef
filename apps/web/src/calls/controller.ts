/**
 * The calls of one signed-in user in this tab: what the call screens show (nothing, an
 * incoming call that rings, an outgoing call, a call in progress), the local camera and
 * microphone, and the media of the call (`CallMedia` from the SDK: one `RTCPeerConnection` per
 * other participant, signalled over the Careline connection, with the call's STUN/TURN servers).
 *
 * Every signed-in device rings (`client.calls` emits `ringing` on each); the one that answers
 * takes the call, the others stop ringing (`other_answer`). `localStorage['careline:calls:ice']`
 * set to `relay` sends the media only through TURN (a network that allows nothing else).
 */
import { CallMedia, type CallInfo, type CallUpdate } from '@careline/sdk';
import type { Store } from '../store.ts';

export type CallPhase = 'idle' | 'incoming' | 'outgoing' | 'active';

export interface RemoteMedia {
  userId: string;
  stream: MediaStream;
}

export interface CallView {
  phase: CallPhase;
  call: CallInfo | null;
  /** The conversation being called (known before the invite's answer). */
  conversationId: string | null;
  video: boolean;
  local: MediaStream | null;
  remotes: RemoteMedia[];
  micOn: boolean;
  camOn: boolean;
  /** When the call was answered, on this device's clock (for the timer). */
  answeredAt: number | null;
  /** Why the last call closed (a short line under the chat), as an i18n key. */
  notice: string | null;
}

const IDLE: CallView = {
  phase: 'idle', call: null, conversationId: null, video: false, local: null, remotes: [], micOn: true, camOn: true, answeredAt: null, notice: null,
};

const ICE_KEY = 'careline:calls:ice';

function icePolicy(): 'all' | 'relay' {
  try {
    return localStorage.getItem(ICE_KEY) === 'relay' ? 'relay' : 'all';
  } catch {
    return 'all';
  }
}

/** A ring tone from the page itself (no audio file): two tones, one second on, two off. */
class Ringer {
  #ctx: AudioContext | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;

  start(): void {
    if (this.#timer) return;
    try {
      this.#ctx = new AudioContext();
    } catch {
      return;
    }
    const ring = () => {
      const ctx = this.#ctx;
      if (!ctx) return;
      const gain = ctx.createGain();
      gain.gain.value = 0.08;
      gain.connect(ctx.destination);
      for (const f of [440, 480]) {
        const o = ctx.createOscillator();
        o.frequency.value = f;
        o.connect(gain);
        o.start();
        o.stop(ctx.currentTime + 1);
      }
    };
    ring();
    this.#timer = setInterval(ring, 3000);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    void this.#ctx?.close().catch(() => undefined);
    this.#ctx = null;
  }
}

export class CallController {
  readonly #store: Store;
  #view: CallView = IDLE;
  readonly #listeners = new Set<() => void>();
  #media: CallMedia | null = null;
  readonly #ringer = new Ringer();
  #noticeTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(store: Store) {
    this.#store = store;
    const calls = store.client.calls;
    calls.on('ringing', (call) => this.#onRinging(call));
    calls.on('call', (u) => this.#onUpdate(u));
    calls.on('ended', (call) => {
      if (call.id === this.#view.call?.id) this.#finish(`calls.ended.${call.end_reason ?? 'hangup'}`);
    });
  }

  #phase(): CallPhase {
    return this.#view.phase;
  }

  get view(): CallView {
    return this.#view;
  }

  subscribe = (fn: () => void): (() => void) => {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  };

  /** After a reload: a call still ringing for this user rings here again. */
  async restore(): Promise<void> {
    try {
      const me = this.#store.client.calls.me;
      for (const c of await this.#store.client.calls.live()) {
        if (c.participants.some((p) => p.user_id === me && p.state === 'ringing')) this.#onRinging(c);
      }
    } catch {
      // Not connected yet; a new invite still rings.
    }
  }

  /** Calls the other members of the conversation. */
  async start(conversationId: string, video: boolean): Promise<void> {
    if (this.#view.phase !== 'idle') return;
    this.#set({ ...IDLE, phase: 'outgoing', conversationId, video });
    let local: MediaStream;
    try {
      local = await this.#getMedia(video);
    } catch (err) {
      this.#store.toast(err);
      this.#set(IDLE);
      return;
    }
    this.#set({ local });
    try {
      const call = await this.#store.client.calls.invite(conversationId, { video });
      if (this.#phase() !== 'outgoing') {
        // Cancelled while the invite was on its way.
        void this.#store.client.calls.hangup(call.id).catch(() => undefined);
        return;
      }
      this.#set({ call: this.#newest(call) });
      if (call.state === 'ended') return this.#finish(`calls.ended.${call.end_reason ?? 'hangup'}`);
      await this.#attach(call.id, local);
      if (this.#view.call?.state === 'active') this.#set({ phase: 'active', answeredAt: this.#view.answeredAt ?? Date.now() });
    } catch (err) {
      this.#store.toast(err);
      this.#finish(null);
    }
  }

  async accept(): Promise<void> {
    const call = this.#view.call;
    if (this.#view.phase !== 'incoming' || !call) return;
    this.#ringer.stop();
    let local: MediaStream;
    try {
      local = await this.#getMedia(call.av_type === 'video');
    } catch (err) {
      this.#store.toast(err);
      await this.refuse();
      return;
    }
    this.#set({ phase: 'active', local, answeredAt: Date.now() });
    try {
      // The media first: it keeps the caller's offer, which can come before the accept's answer.
      const media = this.#wire(new CallMedia(this.#store.client.calls, call.id, { stream: local, iceTransportPolicy: icePolicy() }));
      const after = await this.#store.client.calls.accept(call.id);
      this.#set({ call: this.#newest(after) });
      await media.start();
    } catch (err) {
      this.#store.toast(err);
      this.#finish(null);
    }
  }

  async refuse(): Promise<void> {
    const call = this.#view.call;
    if (!call) return;
    this.#ringer.stop();
    this.#finish(null);
    await this.#store.client.calls.refuse(call.id).catch((err: unknown) => this.#store.toast(err));
  }

  /** Hangs up (or cancels a call nobody answered yet). */
  async hangup(): Promise<void> {
    const call = this.#view.call;
    this.#finish('calls.ended.hangup');
    if (call) await this.#store.client.calls.hangup(call.id).catch((err: unknown) => this.#store.toast(err));
  }

  toggleMic(): void {
    const on = !this.#view.micOn;
    for (const t of this.#view.local?.getAudioTracks() ?? []) t.enabled = on;
    this.#set({ micOn: on });
  }

  toggleCam(): void {
    const on = !this.#view.camOn;
    for (const t of this.#view.local?.getVideoTracks() ?? []) t.enabled = on;
    this.#set({ camOn: on });
  }

  #onRinging(call: CallInfo): void {
    if (this.#view.phase !== 'idle' || call.state === 'ended') return;
    this.#set({ ...IDLE, phase: 'incoming', call, conversationId: call.conversation_id, video: call.av_type === 'video' });
    this.#ringer.start();
  }

  #onUpdate(u: CallUpdate): void {
    const v = this.#view;
    if (u.call.id !== v.call?.id) return;
    if (v.phase === 'incoming' && (u.status === 'other_answer' || u.status === 'other_refuse')) {
      this.#finish(u.status === 'other_answer' ? 'calls.answeredElsewhere' : null);
      return;
    }
    const call = this.#newest(u.call);
    this.#set({ call });
    if (v.phase === 'outgoing' && call.state === 'active') this.#set({ phase: 'active', answeredAt: Date.now() });
  }

  /** The newer of the call as known and as given (frames and answers can cross). */
  #newest(c: CallInfo): CallInfo {
    const known = this.#view.call;
    if (!known || known.id !== c.id) return c;
    const rank = (x: CallInfo) => (x.state === 'ended' ? 2 : x.state === 'active' ? 1 : 0);
    return rank(c) >= rank(known) ? c : known;
  }

  async #attach(callId: string, local: MediaStream): Promise<void> {
    const media = this.#wire(new CallMedia(this.#store.client.calls, callId, { stream: local, iceTransportPolicy: icePolicy() }));
    await media.start();
  }

  #wire(media: CallMedia): CallMedia {
    this.#media?.close();
    this.#media = media;
    media.on('track', ({ userId, stream }) => {
      if (this.#media !== media) return;
      const others = this.#view.remotes.filter((r) => r.userId !== userId);
      this.#set({ remotes: [...others, { userId, stream: stream as unknown as MediaStream }] });
    });
    media.on('peerClosed', ({ userId }) => {
      if (this.#media === media) this.#set({ remotes: this.#view.remotes.filter((r) => r.userId !== userId) });
    });
    media.on('error', (err) => this.#store.toast(err));
    return media;
  }

  async #getMedia(video: boolean): Promise<MediaStream> {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error('navigator.mediaDevices is not available (a secure page is needed)');
    return navigator.mediaDevices.getUserMedia({ audio: true, video });
  }

  /** Back to idle: the media closed, the camera and microphone released. */
  #finish(notice: string | null): void {
    this.#ringer.stop();
    this.#media?.close();
    this.#media = null;
    for (const t of this.#view.local?.getTracks() ?? []) t.stop();
    this.#set({ ...IDLE, notice });
    if (this.#noticeTimer) clearTimeout(this.#noticeTimer);
    if (notice) this.#noticeTimer = setTimeout(() => this.#set({ notice: null }), 4000);
  }

  #set(patch: Partial<CallView>): void {
    this.#view = { ...this.#view, ...patch };
    for (const fn of this.#listeners) fn();
  }
}

const controllers = new WeakMap<Store, CallController>();

/** The call controller of a store (one per signed-in client). */
export function callsOf(store: Store): CallController {
  let c = controllers.get(store);
  if (!c) controllers.set(store, (c = new CallController(store)));
  return c;
}
