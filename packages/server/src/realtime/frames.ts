/** Serialising frames that carry stored data, so that nothing stored can stop delivery. */
import { MessageTypes, unavailableContent, type ServerFrame } from '@careline/protocol';
import { wireNotification } from '../domain/notifications.ts';
import type { Message, Notification } from '../domain/types.ts';

/**
 * The `message` frame of `m`. Content that cannot be written as JSON (nested too deep for the
 * serialiser: only a row stored before the depth limit can be) goes out as the placeholder
 * of `unavailableContent`, at the message's own id and seq, so the client moves past it.
 */
export function messageFrame(m: Message): string {
  try {
    return JSON.stringify({ type: 'message', message: m } satisfies ServerFrame);
  } catch {
    return JSON.stringify({ type: 'message', message: { ...m, type: MessageTypes.SYSTEM, content: unavailableContent(m.type) } } satisfies ServerFrame);
  }
}

/** The `message` frame of a message given as its JSON text (`MessageStore.historyText`: the placeholder already in place). */
export const messageTextFrame = (json: string): string => `{"type":"message","message":${json}}`;

/** The `notification` frame of `n`: the protocol's fields only (the tenant's `seq` stays on the server). */
export function notificationFrame(n: Notification): string {
  return JSON.stringify({ type: 'notification', kind: n.kind, notification: wireNotification(n) } satisfies ServerFrame);
}
