/** A call as clients see it (`CallInfo`), and seed 003's call content of a status (`CallSignal`). */
import type { CallInfo, CallSignal, CallStatus } from '@careline/protocol';
import type { Call } from '../domain/types.ts';

export function callInfo(c: Call, heartbeatMs: number): CallInfo {
  return {
    id: c.id, conversation_id: c.conversation_id, caller_id: c.caller_id, av_type: c.av_type, state: c.state,
    participants: c.participants.map((p) => ({ user_id: p.user_id, state: p.state, joined_at: p.joined_at, left_at: p.left_at })),
    created_at: c.created_at, ring_until: c.ring_until, answered_at: c.answered_at, ended_at: c.ended_at, end_reason: c.end_reason,
    record: c.record_message_id !== null && c.record_seq !== null ? { message_id: c.record_message_id, seq: c.record_seq } : null,
    heartbeat_ms: heartbeatMs,
  };
}

/** Seconds from the answer to the end (or to now, for a call in progress); 0 when nobody answered. */
export function useTime(c: Pick<CallInfo, 'answered_at' | 'ended_at'>, now = Date.now()): number {
  if (c.answered_at === null) return 0;
  return Math.max(0, Math.round(((c.ended_at ?? now) - c.answered_at) / 1000));
}

export function callSignal(c: CallInfo, status: CallStatus): CallSignal {
  return { status, avType: c.av_type, uid: c.caller_id, roomId: c.id, timestamp: c.created_at, useTime: useTime(c) };
}
