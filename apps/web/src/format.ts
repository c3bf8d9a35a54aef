/** Formatting helpers: times, sizes, durations, one-line previews of messages, safe links. */
import { MessageTypes, type Message } from '@careline/sdk';
import { hasKey, type Lang, type T } from './i18n.ts';
import { callPreview } from './calls/record.tsx';

const DAY = 24 * 3600 * 1000;

function startOfDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** A message time: the clock today, "Yesterday", the weekday within a week, else the date. */
export function shortTime(ms: number, lang: Lang, t: T, now = Date.now()): string {
  const today = startOfDay(now);
  if (ms >= today) return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(ms);
  if (ms >= today - DAY) return t('time.yesterday');
  if (ms >= today - 6 * DAY) return new Intl.DateTimeFormat(lang, { weekday: 'short' }).format(ms);
  return new Intl.DateTimeFormat(lang, { year: 'numeric', month: 'short', day: 'numeric' }).format(ms);
}

/** A full date and time, for tooltips and `<time>` labels. */
export function fullTime(ms: number, lang: Lang): string {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(ms);
}

/** The clock time of a message in the chat. */
export function clock(ms: number, lang: Lang): string {
  return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(ms);
}

/** A day heading in the chat. */
export function dayLabel(ms: number, lang: Lang): string {
  return new Intl.DateTimeFormat(lang, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }).format(ms);
}

export function sameDay(a: number, b: number): boolean {
  return startOfDay(a) === startOfDay(b);
}

export function fileSize(size: unknown, lang: Lang): string {
  const n = typeof size === 'string' ? Number(size) : typeof size === 'number' ? size : NaN;
  if (!Number.isFinite(n) || n < 0) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: i === 0 ? 0 : 1 }).format(v)} ${units[i]}`;
}

/** Seconds as m:ss (or h:mm:ss). */
export function duration(seconds: unknown): string {
  const s = typeof seconds === 'number' && Number.isFinite(seconds) ? Math.max(0, Math.round(seconds)) : 0;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** Only http(s) links and same-origin paths are followed or loaded (no `javascript:` or `data:` links). */
export function safeUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const u = new URL(value, location.origin);
    if (u.protocol === 'https:' || u.protocol === 'http:') return u.href;
  } catch {
    // Not a URL.
  }
  return undefined;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined;
}

export function isRecallNotice(m: Pick<Message, 'type' | 'content'>): boolean {
  return m.type === MessageTypes.SYSTEM && m.content?.event === 'message.recalled';
}

/** The server's text of the closing notice (type 10) written with a consultation's end (type 7). */
export const DEFAULT_END_NOTICE = 'This consultation has ended.';

export const TOPIC_TYPES: ReadonlySet<number> = new Set([MessageTypes.TOPIC_START, MessageTypes.TOPIC_END, MessageTypes.TOPIC_END_NOTICE, MessageTypes.TOPIC_ENTER]);

/** The label of a card type (business cards, articles, links), or undefined. */
export function cardLabel(type: number, t: T): string | undefined {
  const key = `card.${type}`;
  return hasKey(key) ? t(key) : undefined;
}

/**
 * One line describing a message, for the conversation list and notifications of new
 * messages. `nameOf` resolves a sender id to a display name.
 */
export function preview(m: Message, t: T, nameOf: (id: string) => string, me: string | undefined): string {
  const who = m.sender_id === me ? t('chat.you') : nameOf(m.sender_id);
  if (m.content === null) return m.sender_id === me ? t('msg.youRecalled') : t('msg.recalledBy', { name: who });
  const c = m.content;
  if (isRecallNotice(m)) {
    const by = str((c.data as Record<string, unknown> | undefined)?.by) ?? m.sender_id;
    return by === me ? t('msg.youRecalled') : t('msg.recalledBy', { name: nameOf(by) });
  }
  const body = contentPreview(m.type, c, t);
  const system = m.sender_id === 'system' || m.type === MessageTypes.SYSTEM || TOPIC_TYPES.has(m.type);
  return system ? body : `${who}: ${body}`;
}

function contentPreview(type: number, c: Record<string, unknown>, t: T): string {
  switch (type) {
    case MessageTypes.TEXT:
    case MessageTypes.FORWARDED_TEXT:
      return str(c.text) ?? '';
    case MessageTypes.IMAGE:
    case MessageTypes.FORWARDED_IMAGE:
      return `[${t('msg.image')}]`;
    case MessageTypes.VOICE:
      return `[${t('msg.voice')}] ${duration(c.duration)}`;
    case MessageTypes.VIDEO:
      return `[${t('msg.video')}] ${duration(c.duration)}`;
    case MessageTypes.FILE:
      return `[${t('msg.file')}] ${str(c.fileName) ?? ''}`;
    case MessageTypes.PERSONAL_CARD:
      return `[${t('msg.contact')}] ${str(c.name) ?? ''}`;
    case MessageTypes.FORWARD: {
      const inner = c.content && typeof c.content === 'object' ? contentPreview(Number(c.type), c.content as Record<string, unknown>, t) : '';
      return `[${t('msg.forwarded')}] ${inner}`;
    }
    case MessageTypes.CALL:
      return callPreview(c, t);
    case MessageTypes.CUSTOM:
      return t('msg.custom', { kind: str(c.kind) ?? '?' });
    case MessageTypes.TOPIC_START:
      return t('msg.topicStart', { name: str((c.data as Record<string, unknown> | undefined)?.name) ?? str(c.text) ?? '' });
    case MessageTypes.TOPIC_END:
      return t('msg.topicEnd');
    case MessageTypes.TOPIC_ENTER:
      return t('msg.topicEnter');
    case MessageTypes.TOPIC_END_NOTICE:
      // The server's own closing text says no more than "ended": say it in the reader's language.
      return c.event === 'topic.end_notice' && c.text === DEFAULT_END_NOTICE ? t('msg.topicEnd') : str(c.text) ?? t('msg.topicEnd');
    case MessageTypes.SYSTEM:
      return str(c.text) ?? t('msg.system');
  }
  if (typeof c.title === 'string') return `[${cardLabel(type, t) ?? t('msg.card')}] ${c.title}`;
  return t('msg.unsupported', { type });
}

/** The payload of a JWT (not verified: only to name the local storage of the account). */
export function tokenClaims(token: string): { sub?: string; tid?: string; exp?: number } {
  try {
    const part = token.split('.')[1];
    if (!part) return {};
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' ? (v as { sub?: string; tid?: string; exp?: number }) : {};
  } catch {
    return {};
  }
}

/** Initials for an avatar: the first letters of the first two words, or the first character. */
export function initials(name: string): string {
  const words = name.replace(/^(dr\.?|prof\.?)\s+/i, '').trim().split(/[\s·]+/).filter(Boolean);
  if (words.length === 0) return '?';
  if (/[\u3400-\u9fff]/.test(words[0]!)) return words[0]!.slice(0, 1);
  return words.slice(0, 2).map((w) => w[0]!.toUpperCase()).join('');
}
