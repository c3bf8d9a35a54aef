/**
 * Catch-up: what a client missed, from storage (never from the bus). For each conversation
 * of the user: messages after the client's cursor; for conversations the client has no
 * cursor for and that the user joined after `since`, messages from the start of membership.
 */
import type { Storage } from './ports.ts';
import type { Membership, MessageText } from './types.ts';

export interface SyncPlanItem {
  conversation_id: string;
  from: number;
  to: number;
}

export function planSync(memberships: Membership[], cursors: Record<string, number>, since: number | undefined): SyncPlanItem[] {
  const plan: SyncPlanItem[] = [];
  for (const m of memberships) {
    const cursor = Object.hasOwn(cursors, m.id) ? cursors[m.id]! : since !== undefined && m.joined_at > since ? m.joined_seq : undefined;
    if (cursor !== undefined && m.last_seq > cursor) plan.push({ conversation_id: m.id, from: cursor, to: m.last_seq });
  }
  return plan;
}

/**
 * Pages through (from, to] of one conversation in ascending seq, each message as its JSON text
 * (sent on as it was stored, not parsed to be written again); `pageSize` may change between pages.
 */
export async function* readRange(
  storage: Pick<Storage, 'messages'>, tenantId: string, item: SyncPlanItem, pageSize: number | (() => number),
): AsyncGenerator<MessageText[]> {
  let after = item.from;
  while (after < item.to) {
    const size = typeof pageSize === 'number' ? pageSize : pageSize();
    const page = await storage.messages.historyText(tenantId, item.conversation_id, { after, limit: Math.min(size, item.to - after) });
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1]!.seq;
  }
}
