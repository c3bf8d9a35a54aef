/** Seed 002's shapes of the front desk's records: messages, events and chats (docs/desk.md). */
import { MessageTypes } from '@careline/protocol';
import type { Message } from '../domain/types.ts';
import type { Ack, Chat } from './types.ts';
import { MID_RE } from './ids.ts';

export type SeedRole = 'user' | 'staff';

export interface SeedFrom {
  id: string;
  name: string;
  role: SeedRole;
}

/** `YYYY-MM-DD HH:mm:ss` in UTC; `""` for none. */
export function dateTime(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** The seed's role of a Careline user role. */
export const seedRole = (role: string | undefined): SeedRole => (role === undefined || role === 'patient' ? 'user' : 'staff');

/** The seed's message of a stored Careline message; `mid` is the desk's id (the message's client id) when it has one. */
export function seedMessage(tenantId: string, m: Message, sender: { name: string; role: string } | undefined): Record<string, unknown> {
  const t = Math.floor(m.created_at / 1000);
  const c = (m.content ?? {}) as Record<string, unknown>;
  const base = {
    cid: tenantId, mid: m.client_id !== null && MID_RE.test(m.client_id) ? m.client_id : m.id, t: { t0: t, t1: t },
    from: { id: m.sender_id, name: sender?.name ?? '', role: seedRole(sender?.role) },
    chat: { id: m.conversation_id },
    seq: m.seq,
  };
  if (m.type === MessageTypes.TEXT && typeof c['text'] === 'string') return { ...base, type: 'text', text: c['text'] };
  if (m.type === MessageTypes.IMAGE) {
    return { ...base, type: 'image', image: { src: c['url'] ?? c['storageId'] ?? '', width: c['width'] ?? 0, height: c['height'] ?? 0, size: 0 } };
  }
  if (m.type === MessageTypes.FILE) {
    return { ...base, type: 'file', file: { name: c['fileName'] ?? '', src: c['url'] ?? c['storageId'] ?? '', size: Number(c['fileSize'] ?? 0) } };
  }
  const type = Object.entries(MessageTypes).find(([, v]) => v === m.type)?.[0].toLowerCase() ?? String(m.type);
  return { ...base, type, content: m.content };
}

/** A desk event in the seed's message shape. */
export function seedEvent(tenantId: string, mid: string, type: string, from: SeedFrom, chatId: string, event: Record<string, unknown>, now: number): Record<string, unknown> {
  const t = Math.floor(now / 1000);
  return { cid: tenantId, mid, type, t: { t0: t, t1: t }, from, chat: { id: chatId }, event };
}

/** A chat as state init and the chat endpoints show it. */
export function seedChat(c: Chat, extra: { position: number; msgs?: unknown[]; acks?: Ack[]; staff?: boolean }): Record<string, unknown> {
  return {
    chat_id: c.id, id: c.id, gid: '', creator: c.visitor_id, staff_id: c.staff_id ?? '0',
    user_num: String(c.staff_id ? 2 : 1), state: c.state,
    created_at: dateTime(c.created_at), ended_at: dateTime(c.closed_at),
    team_id: c.team_id, position: extra.position, outcome: c.outcome ?? '',
    ...(extra.staff ? { note: c.note ?? '', escalated_at: c.escalated_at, claimed_at: c.claimed_at, first_response_at: c.first_response_at } : {}),
    ...(extra.acks ? { acked_by: extra.acks.filter((a) => a.chat_id === c.id).map((a) => ({ uid: a.user_id, at: a.at })) } : {}),
    ...(extra.msgs ? { msgs: extra.msgs } : {}),
  };
}
