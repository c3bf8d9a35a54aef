/**
 * Call signalling (docs/calls.md): invite, accept, refuse, cancel, hang up, heartbeat, and the
 * server's clock (ring timeouts, participants gone silent). The state is in storage
 * (`Storage.calls`), so every node sees the same call: each change is computed by
 * `machine.ts` from the call as read and written only over that version (another node's
 * change first: read again and recompute). Then `call.changed` goes on the bus and every node
 * tells its connections of the participants.
 *
 * The clock is a job (`call.timer`, `Storage.jobs`) at the call's next deadline, enqueued
 * before the change that needs it, so a node dying at any point leaves a job that another
 * node's runner claims: no call rings or stays "in progress" forever.
 *
 * The end of a call appends its record (type 1002, sent by the caller) to the conversation in
 * the same transaction as the end, so the history has exactly one record per call, in seq
 * order with the other messages; it reaches clients as any message, and offline members
 * through the push planner (`MessageService.onCreated`).
 */
import { MessageTypes, type CallContent, type CallInfo, type IceServer, type RtcCandidate } from '@careline/protocol';
import type { EventBus, Storage } from '../domain/ports.ts';
import type { Call, CallParticipant, NewMessage, Principal } from '../domain/types.ts';
import type { MemberDirectory } from '../domain/directory.ts';
import type { MessageService } from '../domain/messages.ts';
import { requireAccess, requireUser } from '../domain/access.ts';
import { fail } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import * as machine from './machine.ts';
import { callInfo, useTime } from './wire.ts';
import { iceServers, type IceSettings } from './ice.ts';

export const CALL_TIMER_JOB = 'call.timer';

export interface CallSettings {
  maxParticipants: number;
  ringTimeoutMs: number;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  /** STUN/TURN servers for the media (`ice.ts`); none without. */
  stun?: IceSettings['stun'];
  turn?: IceSettings['turn'];
}

/** A WebRTC signal to relay (the `rtc` frame; docs/calls.md, "WebRTC"). */
export interface RtcSignal {
  to: string;
  to_connection?: string | undefined;
  kind: 'offer' | 'answer' | 'candidate';
  sdp?: string | undefined;
  candidate?: RtcCandidate | undefined;
}

export interface CallDeps {
  storage: Pick<Storage, 'calls' | 'jobs'>;
  bus: EventBus;
  directory: MemberDirectory;
  /** Its `onCreated` (offline push) hears of call records too. */
  messages: Pick<MessageService, 'onCreated'>;
  settings: CallSettings;
  now?: () => number;
}

/** What an action answers: the call after it, and the status it caused (null: nothing changed, the action was done before). */
export interface CallResult {
  call: CallInfo;
  status: machine.ChangeStatus | 'heartbeat' | null;
  /** The acting user's STUN/TURN servers, on the answers to an invite and an accept. */
  ice_servers?: IceServer[];
}

/** Attempts of one change against other nodes' changes of the same call. */
const ATTEMPTS = 8;

export class CallService {
  readonly #d: CallDeps;
  readonly #now: () => number;
  /** A timer job was enqueued (the local runner looks at once). */
  onTimer: (() => void) | null = null;

  constructor(deps: CallDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  get settings(): CallSettings {
    return this.#d.settings;
  }

  info(c: Call): CallInfo {
    return callInfo(c, this.#d.settings.heartbeatMs);
  }

  /** Rings every device of every other member of the conversation. */
  async invite(p: Principal, conversationId: string, avType: 'audio' | 'video', origin?: string): Promise<CallResult> {
    const userId = requireUser(p);
    if (avType !== 'audio' && avType !== 'video') throw fail('call.invalid', 'av_type is audio or video.');
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    const callees = entry.list.filter((u) => u !== userId && u !== 'system');
    if (callees.length === 0) throw fail('call.no_callee');
    if (callees.length + 1 > this.#d.settings.maxParticipants) {
      throw fail('call.too_many_participants', undefined, { max: this.#d.settings.maxParticipants, members: callees.length + 1 });
    }
    const now = this.#now();
    const part = (user_id: string, state: CallParticipant['state']): CallParticipant => ({
      user_id, state, joined_at: state === 'joined' ? now : null, left_at: null, seen_at: now,
    });
    const call: Call = {
      tenant_id: p.tenantId, id: newId(), conversation_id: conversationId, caller_id: userId, av_type: avType, state: 'ringing',
      participants: [part(userId, 'joined'), ...callees.map((u) => part(u, 'ringing'))],
      created_at: now, ring_until: now + this.#d.settings.ringTimeoutMs, answered_at: null, ended_at: null, end_reason: null, version: 1,
      record_message_id: null, record_seq: null,
    };
    // The timer first: if this node dies after the call is stored, the call still times out.
    await this.#timer(call.tenant_id, call.id, call.ring_until);
    const stored = await this.#d.storage.calls.create(call);
    this.#publish(stored, 'invite', userId, origin);
    const busy = machine.allBusy(stored, now);
    if (busy) return this.#apply(stored, busy, userId, origin);
    return { call: this.info(stored), status: 'invite', ice_servers: this.iceServers(userId) };
  }

  async accept(p: Principal, callId: string, origin?: string): Promise<CallResult> {
    const userId = requireUser(p);
    // The heartbeat check, before the change that makes it needed.
    await this.#read(p, callId);
    await this.#timer(p.tenantId, callId, this.#now() + this.#d.settings.heartbeatTimeoutMs);
    const r = await this.#change(p, callId, (c, now) => machine.accept(c, userId, now), userId, origin);
    return { ...r, ice_servers: this.iceServers(userId) };
  }

  async refuse(p: Principal, callId: string, origin?: string): Promise<CallResult> {
    const userId = requireUser(p);
    return this.#change(p, callId, (c, now) => machine.refuse(c, userId, now), userId, origin);
  }

  async cancel(p: Principal, callId: string, origin?: string): Promise<CallResult> {
    const userId = requireUser(p);
    return this.#change(p, callId, (c, now) => machine.cancel(c, userId, now), userId, origin);
  }

  async hangup(p: Principal, callId: string, origin?: string): Promise<CallResult> {
    const userId = requireUser(p);
    return this.#change(p, callId, (c, now) => machine.hangup(c, userId, now), userId, origin);
  }

  /** A participant's sign of life: a joined one stays in the call (`calls.heartbeatTimeoutMs`). */
  async heartbeat(p: Principal, callId: string): Promise<CallResult> {
    const userId = requireUser(p);
    const call = await this.#read(p, callId);
    const me = call.participants.find((x) => x.user_id === userId);
    if (!me) throw fail('call.not_participant');
    if (call.state === 'ended') throw fail('call.invalid_state', 'The call has ended.', { state: call.state, end_reason: call.end_reason });
    if (me.state === 'joined') await this.#d.storage.calls.beat(p.tenantId, callId, userId, this.#now());
    return { call: this.info(call), status: 'heartbeat' };
  }

  async get(p: Principal, callId: string): Promise<CallInfo> {
    return this.info(await this.#read(p, callId));
  }

  /** The user's live calls (ringing for them, or joined): what a device that just connected should show. */
  async live(p: Principal): Promise<CallInfo[]> {
    const userId = requireUser(p);
    const calls = await this.#d.storage.calls.liveForUser(p.tenantId, userId);
    const mine: CallInfo[] = [];
    for (const c of calls) {
      const entry = await this.#d.directory.get(p.tenantId, c.conversation_id);
      if (entry?.members.has(userId)) mine.push(this.info(c));
    }
    return mine;
  }

  /** A user's STUN/TURN servers (`calls.stun`, `calls.turn.*`), with a TURN credential of their own. */
  iceServers(userId: string): IceServer[] {
    const s = this.#d.settings;
    return s.turn ? iceServers({ stun: s.stun ?? '', turn: s.turn }, userId, this.#now()) : iceServers(undefined, userId);
  }

  /** The servers for one call's media, for a participant of it (`call.not_participant` otherwise). */
  async ice(p: Principal, callId: string): Promise<IceServer[]> {
    const userId = requireUser(p);
    const call = await this.#read(p, callId);
    if (!call.participants.some((x) => x.user_id === userId)) throw fail('call.not_participant');
    return this.iceServers(userId);
  }

  /**
   * Relays a WebRTC signal (an SDP offer or answer, an ICE candidate) to another participant
   * of the call: both must be joined in the call in progress. Nothing is stored; the signal goes
   * on the bus and every node hands it to its connections of the receiver.
   */
  async relay(p: Principal, callId: string, s: RtcSignal, fromConnection: string | null): Promise<void> {
    const userId = requireUser(p);
    const needsSdp = s.kind !== 'candidate';
    if (needsSdp ? s.sdp === undefined || s.candidate !== undefined : s.candidate === undefined || s.sdp !== undefined) {
      throw fail('call.rtc_invalid', needsSdp ? `An ${s.kind} carries sdp (and no candidate).` : 'A candidate carries candidate (and no sdp).', { kind: s.kind });
    }
    if (s.to === userId) throw fail('call.rtc_invalid', 'A signal goes to another participant.', { to: s.to });
    const call = await this.#read(p, callId);
    const me = call.participants.find((x) => x.user_id === userId);
    if (!me) throw fail('call.not_participant');
    if (call.state !== 'active' || me.state !== 'joined') {
      throw fail('call.rtc_not_joined', 'The sender is not joined in a call in progress.', { user_id: userId, state: call.state, participant: me.state });
    }
    const peer = call.participants.find((x) => x.user_id === s.to);
    if (!peer) throw fail('call.not_participant', 'The receiver is not a participant of this call.', { user_id: s.to });
    if (peer.state !== 'joined') throw fail('call.rtc_not_joined', 'The receiver is not joined in the call.', { user_id: s.to, participant: peer.state });
    this.#d.bus.publish({
      kind: 'call.rtc', tenant_id: p.tenantId, call_id: callId, from: userId, from_connection: fromConnection, to: s.to,
      ...(s.to_connection !== undefined ? { to_connection: s.to_connection } : {}), signal: s.kind,
      ...(s.sdp !== undefined ? { sdp: s.sdp } : {}), ...(s.candidate !== undefined ? { candidate: s.candidate } : {}),
    });
  }

  /** The `call.timer` job: applies what is due, then sets the next check. Idempotent. */
  async tick(tenantId: string, callId: string): Promise<void> {
    const hb = this.#d.settings.heartbeatTimeoutMs;
    for (let i = 0; i < ATTEMPTS; i++) {
      const call = await this.#d.storage.calls.get(tenantId, callId);
      if (!call) return;
      const change = machine.tick(call, this.#now(), hb);
      let current = call;
      if (change) {
        const r = await this.#write(change, 'system');
        if (!r) continue;
        current = r;
      }
      const next = machine.nextCheck(current, hb);
      if (next !== null) await this.#timer(tenantId, callId, Math.max(next, this.#now() + 1));
      return;
    }
    throw fail('server.unavailable', 'The call kept changing; the timer runs again.');
  }

  async #read(p: Principal, callId: string): Promise<Call> {
    const call = await this.#d.storage.calls.get(p.tenantId, callId);
    if (!call) throw fail('call.not_found');
    await requireAccess(this.#d.directory, p, call.conversation_id);
    return call;
  }

  async #change(p: Principal, callId: string, fn: (c: Call, now: number) => machine.Change | null, by: string, origin?: string): Promise<CallResult> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const call = await this.#read(p, callId);
      const change = fn(call, this.#now());
      if (!change) return { call: this.info(call), status: null };
      const written = await this.#write(change, by, origin);
      if (written) return { call: this.info(written), status: change.status };
    }
    throw fail('server.unavailable', 'The call kept changing; try again.');
  }

  async #apply(call: Call, change: machine.Change, by: string, origin?: string): Promise<CallResult> {
    const written = await this.#write(change, by, origin);
    if (written) return { call: this.info(written), status: change.status };
    const now = await this.#d.storage.calls.get(call.tenant_id, call.id);
    return { call: this.info(now ?? call), status: null };
  }

  /** Writes a change over the version it was computed from (null: another change came first), then tells everyone. */
  async #write(change: machine.Change, by: string, origin?: string): Promise<Call | null> {
    const next = change.next;
    const record = next.state === 'ended' ? this.#record(next) : undefined;
    const r = await this.#d.storage.calls.update(next, record);
    if (!r) return null;
    this.#publish(r.call, change.status, by, origin);
    if (r.record) {
      const entry = await this.#d.directory.get(r.call.tenant_id, r.call.conversation_id);
      const recipients = entry?.list ?? r.call.participants.map((x) => x.user_id);
      this.#d.bus.publish({ kind: 'message.created', tenant_id: r.call.tenant_id, message: r.record, recipients });
      this.#d.messages.onCreated?.(r.call.tenant_id, r.record, recipients);
    }
    return r.call;
  }

  #publish(call: Call, status: machine.ChangeStatus, by: string, origin?: string): void {
    this.#d.bus.publish({ kind: 'call.changed', tenant_id: call.tenant_id, call: this.info(call), status, by, ...(origin ? { origin } : {}) });
  }

  /** The call's record in the history: who called (the sender), audio or video, answered or not, how long. */
  #record(c: Call): NewMessage {
    const seconds = useTime({ answered_at: c.answered_at, ended_at: c.ended_at });
    const content: CallContent = {
      status: c.end_reason!, avType: c.av_type, uid: c.caller_id, roomId: c.id, timestamp: c.created_at, useTime: seconds,
      answered: c.answered_at !== null, duration: seconds,
    };
    return {
      tenant_id: c.tenant_id, conversation_id: c.conversation_id, id: newId(), sender_id: c.caller_id, type: MessageTypes.CALL,
      content, content_json: JSON.stringify(content), client_id: `call:${c.id}`, created_at: c.ended_at ?? this.#now(), forward: null,
    };
  }

  async #timer(tenantId: string, callId: string, at: number): Promise<void> {
    await this.#d.storage.jobs.enqueue([{
      tenant_id: tenantId, kind: CALL_TIMER_JOB, payload: { call_id: callId }, dedupe_key: `${callId}:${at}`, run_at: at, max_attempts: 20,
    }], this.#now());
    this.onTimer?.();
  }
}
