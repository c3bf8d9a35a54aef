/**
 * The `call` frame (docs/calls.md): one frame type, its `action` naming the step. The answer
 * (a `call` frame with the frame's id, when it has one) goes to this connection; the change
 * reaches every other connection of the participants through `call.changed` (the Hub), this
 * one excepted.
 */
import type { CallFrame, RtcFrame, ServerFrame } from '@careline/protocol';
import { fail } from '../domain/errors.ts';
import { callSignal } from '../calls/wire.ts';
import type { CallResult } from '../calls/service.ts';
import type { Connection } from './connection.ts';

export async function handleCall(c: Connection, f: CallFrame): Promise<void> {
  const calls = c.ctx.core.calls;
  const p = c.principal;
  let r: CallResult;
  if (f.action === 'invite') {
    if (f.conversation_id === undefined || f.av_type === undefined) throw fail('call.invalid', 'invite needs conversation_id and av_type.');
    r = await calls.invite(p, f.conversation_id, f.av_type, c.id);
  } else {
    if (f.call_id === undefined) throw fail('call.invalid', `${f.action} needs call_id.`);
    switch (f.action) {
      case 'accept': r = await calls.accept(p, f.call_id, c.id); break;
      case 'refuse': r = await calls.refuse(p, f.call_id, c.id); break;
      case 'cancel': r = await calls.cancel(p, f.call_id, c.id); break;
      case 'hangup': r = await calls.hangup(p, f.call_id, c.id); break;
      case 'heartbeat': r = await calls.heartbeat(p, f.call_id); break;
    }
  }
  // A heartbeat without an id needs no answer (one every few seconds per participant).
  if (f.action === 'heartbeat' && f.id === undefined) return;
  const status = r.status ?? (f.action === 'invite' ? 'invite' : f.action);
  c.send({
    type: 'call', ...(f.id !== undefined ? { id: f.id } : {}), status, by: p.userId, call: r.call,
    content: { ...callSignal(r.call, status), ...(r.ice_servers?.length ? { iceServers: r.ice_servers } : {}) },
  } satisfies ServerFrame);
}

/** The `rtc` frame (docs/calls.md, "WebRTC"): a signal relayed to another joined participant. */
export async function handleRtc(c: Connection, f: RtcFrame): Promise<void> {
  await c.ctx.core.calls.relay(c.principal, f.call_id, f, c.id);
  if (f.id !== undefined) c.send({ type: 'rtc_sent', id: f.id, call_id: f.call_id } satisfies ServerFrame);
}
