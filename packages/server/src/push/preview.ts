/**
 * Previews: where a tenant turned them on for a conversation type
 * (`TenantPushSettings.preview_conversation_types`), a push carries a line of the message —
 * the text of a text message (at most 100 characters), a label for other types — and nothing
 * else (no sender name). Off by default: pushes carry ids and generic text only.
 */
import { MessageTypes } from '@careline/protocol';
import type { Message } from '../domain/types.ts';

export const PREVIEW_MAX_CHARS = 100;

const LABELS: Record<number, string> = {
  [MessageTypes.IMAGE]: '[Image]', [MessageTypes.FORWARDED_IMAGE]: '[Image]', [MessageTypes.VOICE]: '[Voice message]', [MessageTypes.VIDEO]: '[Video]',
};

/** The preview line of a message. */
export function previewOf(m: Message): string {
  const text = (m.content as { text?: unknown } | null)?.text;
  if ((m.type === MessageTypes.TEXT || m.type === MessageTypes.FORWARDED_TEXT) && typeof text === 'string') {
    const chars = [...text.replace(/\s+/g, ' ').trim()];
    return chars.length > PREVIEW_MAX_CHARS ? `${chars.slice(0, PREVIEW_MAX_CHARS - 1).join('')}…` : chars.join('');
  }
  return LABELS[m.type] ?? '[Message]';
}
