/**
 * The call state machine (docs/calls.md), as pure functions: each takes the call as stored and
 * returns the call to write and the status to tell, or null when nothing changes (the action
 * was already done: a retry), or throws the `call.*` error of an action that does not apply.
 * `CallService` writes the result conditionally on the version it read, and runs the function
 * again on a newer version when another node changed the call first.
 *
 *   ringing ──accept──▶ active ──hangup (fewer than two joined)──▶ ended (hangup)
 *      │ cancel (caller) / refuse (the last callee ringing) / timeout / busy (every callee) / lost
 *      └──────────────────────────────────────────────────────────────▶ ended
 */
import type { Call, CallEndReason, CallParticipant } from '../domain/types.ts';
import { fail } from '../domain/errors.ts';

export type ChangeStatus = 'invite' | 'accept' | 'refuse' | 'cancel' | 'timeout' | 'busy' | 'hangup' | 'end';

export interface Change {
  next: Call;
  status: ChangeStatus;
}

function copy(c: Call): Call {
  return { ...c, participants: c.participants.map((p) => ({ ...p })) };
}

function participant(c: Call, userId: string): CallParticipant {
  const p = c.participants.find((x) => x.user_id === userId);
  if (!p) throw fail('call.not_participant');
  return p;
}

function notEnded(c: Call): void {
  if (c.state === 'ended') throw fail('call.invalid_state', 'The call has ended.', { state: c.state, end_reason: c.end_reason });
}

/** Ends the call: the callees still ringing missed it, the joined ones left. */
export function end(c: Call, reason: CallEndReason, now: number): Call {
  c.state = 'ended';
  c.ended_at = now;
  c.end_reason = reason;
  for (const p of c.participants) {
    if (p.state === 'ringing') p.state = 'missed';
    else if (p.state === 'joined') {
      p.state = 'left';
      p.left_at = now;
    }
  }
  return c;
}

const count = (c: Call, state: CallParticipant['state']) => c.participants.filter((p) => p.state === state).length;

/** Right after `create`: every callee was busy (in another call). */
export function allBusy(call: Call, now: number): Change | null {
  if (call.state !== 'ringing' || count(call, 'ringing') > 0) return null;
  return { next: end(copy(call), 'busy', now), status: 'busy' };
}

export function accept(call: Call, userId: string, now: number): Change | null {
  notEnded(call);
  const c = copy(call);
  const p = participant(c, userId);
  if (p.state === 'joined') return null;
  if (p.state !== 'ringing') throw fail('call.invalid_state', `The user is ${p.state} in this call.`, { state: c.state, participant: p.state });
  p.state = 'joined';
  p.joined_at = now;
  p.seen_at = now;
  c.state = 'active';
  c.answered_at ??= now;
  return { next: c, status: 'accept' };
}

export function refuse(call: Call, userId: string, now: number): Change | null {
  notEnded(call);
  const c = copy(call);
  const p = participant(c, userId);
  if (p.state === 'refused') return null;
  if (p.state !== 'ringing') throw fail('call.invalid_state', `The user is ${p.state} in this call.`, { state: c.state, participant: p.state });
  p.state = 'refused';
  p.left_at = now;
  // Nobody left to answer and nobody but the caller in it: the call is over.
  if (c.state === 'ringing' && count(c, 'ringing') === 0) end(c, 'refuse', now);
  return { next: c, status: 'refuse' };
}

export function cancel(call: Call, userId: string, now: number): Change | null {
  participant(call, userId);
  if (call.caller_id !== userId) throw fail('call.not_caller');
  if (call.state === 'ended' && call.end_reason === 'cancel') return null;
  if (call.state !== 'ringing') throw fail('call.invalid_state', 'Only a ringing call is cancelled; hang up a call in progress.', { state: call.state });
  return { next: end(copy(call), 'cancel', now), status: 'cancel' };
}

export function hangup(call: Call, userId: string, now: number): Change | null {
  const c = copy(call);
  const p = participant(c, userId);
  if (c.state === 'ended') return null;
  // The caller hanging up before anyone answered: a cancel.
  if (c.state === 'ringing' && userId === c.caller_id) return { next: end(c, 'cancel', now), status: 'cancel' };
  if (p.state === 'left') return null;
  if (p.state !== 'joined') throw fail('call.invalid_state', `The user is ${p.state} in this call; a ringing call is refused.`, { state: c.state, participant: p.state });
  p.state = 'left';
  p.left_at = now;
  if (count(c, 'joined') < 2) end(c, 'hangup', now);
  return { next: c, status: 'hangup' };
}

/**
 * The server's clock: callees still ringing at `ring_until` missed the call; joined
 * participants not seen for `heartbeatTimeoutMs` left. A ringing call with nobody left to
 * answer ends (timeout), as does one whose caller is gone (lost); an active call with fewer
 * than two joined ends (lost).
 */
export function tick(call: Call, now: number, heartbeatTimeoutMs: number): Change | null {
  if (call.state === 'ended') return null;
  const c = copy(call);
  let missed = 0;
  let lost = 0;
  for (const p of c.participants) {
    if (p.state === 'ringing' && now >= c.ring_until) {
      p.state = 'missed';
      missed++;
    } else if (p.state === 'joined' && now - p.seen_at >= heartbeatTimeoutMs) {
      p.state = 'left';
      p.left_at = now;
      lost++;
    }
  }
  if (missed === 0 && lost === 0) return null;
  if (c.state === 'ringing') {
    const caller = c.participants.find((p) => p.user_id === c.caller_id);
    if (caller?.state !== 'joined') end(c, 'lost', now);
    else if (count(c, 'ringing') === 0) end(c, 'timeout', now);
  } else if (count(c, 'joined') < 2) {
    end(c, 'lost', now);
  }
  const status: ChangeStatus = c.state === 'ended' ? (c.end_reason === 'timeout' ? 'timeout' : 'end') : missed > 0 ? 'timeout' : 'hangup';
  return { next: c, status };
}

/** When the server's clock next has something to check on a live call (null: ended). */
export function nextCheck(c: Call, heartbeatTimeoutMs: number): number | null {
  if (c.state === 'ended') return null;
  let at = Infinity;
  for (const p of c.participants) {
    if (p.state === 'ringing') at = Math.min(at, c.ring_until);
    else if (p.state === 'joined') at = Math.min(at, p.seen_at + heartbeatTimeoutMs);
  }
  return Number.isFinite(at) ? at : null;
}
