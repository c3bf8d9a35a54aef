/**
 * A missed call (issue: a call that does not ring is the complaint filed most) becomes an
 * unread item and a notification: its record (type 1002, sent by the caller, `answered:
 * false`) is an unread message for the callees by itself; here, from the after-commit outbox,
 * each callee also gets a `S2C_MISSED_CALL` notification (mode `each`; registered for the
 * tenant on first use) with ids only — `call_id`, `conversation_id`, `av_type`, `caller_id`
 * — which reaches the app live or by push like any notification. If the outbox job runs twice
 * (a node died right after this), a callee may get the notification twice.
 */
import { MessageTypes, type CallContent } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { Message } from '../domain/types.ts';

export const MISSED_CALL_KIND = 'S2C_MISSED_CALL';
/** The app named as the sender of missed-call notifications. */
const CALLS_APP = 'careline-calls';

export async function missedCalls(core: Pick<Core, 'notifications' | 'storage'>, tenantId: string, messages: readonly Message[]): Promise<void> {
  for (const m of messages) {
    if (m.type !== MessageTypes.CALL) continue;
    const c = m.content as Partial<CallContent> | null;
    if (!c || c.answered !== false) continue;
    const members = await core.storage.conversations.memberIds(tenantId, m.conversation_id);
    const callees = members.filter((u) => u !== m.sender_id && u !== 'system');
    if (!callees.length) continue;
    const p = { kind: 'app' as const, tenantId, appId: CALLS_APP };
    await core.notifications.registerKind(p, MISSED_CALL_KIND, 'each', { display_name: 'Missed call', display_names: { en: 'Missed call', zh: '未接来电' } })
      .catch(() => {});
    await core.notifications.send(p, {
      kind: MISSED_CALL_KIND, title: 'Missed call', body: null,
      data: { call_id: c.roomId ?? null, conversation_id: m.conversation_id, av_type: c.avType ?? null, caller_id: m.sender_id, message_id: m.id },
      target: { users: callees },
    });
  }
}
