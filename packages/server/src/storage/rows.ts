/**
 * Row ↔ model mapping shared by the storage backends (SQLite, PostgreSQL): the same columns,
 * the same SQL for a conversation as a user sees it, the same placeholder for content stored
 * too deep.
 */
import { MAX_CONTENT_DEPTH, MessageTypes, jsonNestsDeeperThan, unavailableContent } from '@careline/protocol/constants';
import type { Conversation, ConversationView, ForwardInfo, Message, MessageText, NewMessage, Notification, TopicStatsRow } from '../domain/types.ts';

export interface MessageRow {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  type: number;
  content: string | null;
  client_id: string | null;
  created_at: number;
  recalled_at: number | null;
  forward: string | null;
}

export const MESSAGE_COLS = 'id, conversation_id, seq, sender_id, type, content, client_id, created_at, recalled_at, forward';

/**
 * A row as a message. Content nested deeper than `MAX_CONTENT_DEPTH` (stored before the limit
 * existed) is served as the type-0 placeholder of `unavailableContent`: whatever reads it —
 * catch-up, history, conversation lists — can serialise it, and clients move past its seq.
 */
export function toMessage(r: MessageRow): Message {
  if (r.content !== null && jsonNestsDeeperThan(r.content, MAX_CONTENT_DEPTH)) {
    return { ...toMessage({ ...r, content: null }), type: MessageTypes.SYSTEM, content: unavailableContent(r.type) };
  }
  return {
    id: r.id,
    conversation_id: r.conversation_id,
    seq: r.seq,
    sender_id: r.sender_id,
    type: r.type,
    content: r.content === null ? null : (JSON.parse(r.content) as Record<string, unknown>),
    client_id: r.client_id,
    created_at: r.created_at,
    recalled_at: r.recalled_at,
    forward: r.forward === null ? null : (JSON.parse(r.forward) as ForwardInfo),
  };
}

/**
 * A row as the JSON text of its message, without parsing it: the content and the forward are
 * embedded as stored (the JSON text the server wrote). The same message as `toMessage` gives,
 * with the same placeholder for content stored too deep; for history pages, where parsing
 * each content only to write it again cost more than the page's own read.
 */
export function messageJson(r: MessageRow): string {
  if (r.content !== null && jsonNestsDeeperThan(r.content, MAX_CONTENT_DEPTH)) return JSON.stringify(toMessage(r));
  return `{"id":${quoted(r.id)},"conversation_id":${quoted(r.conversation_id)},"seq":${r.seq},"sender_id":${quoted(r.sender_id)},"type":${r.type},`
    + `"content":${r.content ?? 'null'},"client_id":${r.client_id === null ? 'null' : quoted(r.client_id)},"created_at":${r.created_at},`
    + `"recalled_at":${r.recalled_at ?? 'null'},"forward":${r.forward ?? 'null'}}`;
}

/** Strings that JSON writes as they are, between quotes (ids mostly are). */
const PLAIN = /^[\w.:@+-]*$/;
/** `s` as a JSON string: as it is when nothing in it needs escaping, else as `JSON.stringify` writes it. */
const quoted = (s: string) => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

export const toMessageText = (r: MessageRow): MessageText => ({ seq: r.seq, id: r.id, json: messageJson(r) });

export const CONVERSATION_COLS = 'c.id, c.type, c.business_type, c.name, c.status, c.created_at, c.updated_at, c.last_seq, c.last_message_at';

export function toConversation(r: Conversation): Conversation {
  return {
    id: r.id, type: r.type, business_type: r.business_type, name: r.name, status: r.status,
    created_at: r.created_at, updated_at: r.updated_at, last_seq: r.last_seq, last_message_at: r.last_message_at,
  };
}

/** A conversation row joined with the viewer's participant row and the newest message (m_* columns). */
export interface ViewRow extends Conversation {
  read_seq: number;
  sticky_at: number | null;
  m_id: string | null;
  m_seq: number | null;
  m_sender_id: string | null;
  m_type: number | null;
  m_content: string | null;
  m_client_id: string | null;
  m_created_at: number | null;
  m_recalled_at: number | null;
  m_forward: string | null;
}

export const VIEW_SELECT = `SELECT ${CONVERSATION_COLS}, p.read_seq, p.sticky_at,
  m.id AS m_id, m.seq AS m_seq, m.sender_id AS m_sender_id, m.type AS m_type, m.content AS m_content,
  m.client_id AS m_client_id, m.created_at AS m_created_at, m.recalled_at AS m_recalled_at, m.forward AS m_forward
FROM participants p
JOIN conversations c ON c.tenant_id = p.tenant_id AND c.id = p.conversation_id
LEFT JOIN messages m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.seq = c.last_seq`;

export function toView(r: ViewRow): ConversationView {
  const last: Message | null =
    r.m_id === null
      ? null
      : toMessage({
          id: r.m_id, conversation_id: r.id, seq: r.m_seq!, sender_id: r.m_sender_id!, type: r.m_type!, content: r.m_content,
          client_id: r.m_client_id, created_at: r.m_created_at!, recalled_at: r.m_recalled_at, forward: r.m_forward,
        });
  return {
    ...toConversation(r),
    read_seq: r.read_seq,
    unread: Math.max(0, r.last_seq - r.read_seq),
    sticky: r.sticky_at !== null,
    last_message: last,
  };
}

/** The message `m` as stored at `seq`: its content is the object sent, not a parsed copy. */
export function storedMessage(m: NewMessage, seq: number): Message {
  return {
    id: m.id, conversation_id: m.conversation_id, seq, sender_id: m.sender_id, type: m.type,
    content: m.content, client_id: m.client_id, created_at: m.created_at, recalled_at: null, forward: m.forward,
  };
}

/** A notification row as both backends read it (PostgreSQL may hand BIGINTs over as strings). */
export interface NotificationRow {
  id: string;
  tenant_seq: number | string;
  kind: string;
  title: string;
  body: string | null;
  data: string | null;
  sender_id: string | null;
  audience: Notification['audience'];
  audience_id: string | null;
  created_at: number | string;
  read_at: number | string | null;
}

export function toNotification(r: NotificationRow): Notification {
  return {
    id: r.id,
    kind: r.kind,
    title: r.title,
    body: r.body,
    // Data nested deeper than the limit (stored before it existed) cannot be served: left out.
    data: r.data === null || jsonNestsDeeperThan(r.data, MAX_CONTENT_DEPTH) ? null : (JSON.parse(r.data) as Record<string, unknown>),
    sender_id: r.sender_id,
    audience: r.audience,
    audience_id: r.audience_id,
    created_at: Number(r.created_at),
    read_at: r.read_at === null ? null : Number(r.read_at),
    seq: Number(r.tenant_seq),
  };
}

/** One topic as the statistics read it: its group key, status, reply flag and first-response time. */
export interface TopicStatInput {
  key: string | null;
  status: number;
  reply: number;
  response_ms: number | null;
}

/** Topic statistics per group key, from rows ordered by key and response time (both backends read them so). */
export function groupTopicStats(rows: readonly TopicStatInput[]): TopicStatsRow[] {
  const out = new Map<string | null, TopicStatsRow>();
  for (const r of rows) {
    let s = out.get(r.key);
    if (!s) out.set(r.key, (s = { key: r.key, count: 0, replied: 0, unreplied: 0, in_progress: 0, ended_unreplied: 0, response_ms: [] }));
    s.count++;
    if (r.status === 0 && r.reply === 0) s.unreplied++;
    else if (r.status === 0) s.in_progress++;
    else if (r.reply === 1) s.replied++;
    else s.ended_unreplied++;
    if (r.response_ms !== null) s.response_ms.push(r.response_ms);
  }
  return [...out.values()];
}
