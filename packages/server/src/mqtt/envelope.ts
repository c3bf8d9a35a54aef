/**
 * Seed 003's message envelope, `{id, from, to, tenantNo, target, type, content, timestamp,
 * isBackground}`, and its mapping onto Careline's messages. The MQTT transport turns an
 * envelope published on the send topic into a `send` frame (`toSend`), and a `message` frame
 * into the envelope each receiver gets (`toEnvelope`). One-to-one: `from` the sender, `to`
 * the receiver; group: sent with `to` = the group (the conversation id) and `target` = the
 * receivers, received re-addressed as `from` = the group, `to` = the receiver, `target` = the
 * sender. The `id` is the sender's own id for the message (Careline's `client_id`): the send
 * is idempotent by it, and receivers de-duplicate by it.
 */
import { ConversationTypes, MessageTypes, type Message, type SendFrame } from '@careline/protocol';
import { participantsHash } from '@careline/protocol/ids';
import { fail } from '../domain/errors.ts';

/** The envelope as it travels (received envelopes also carry Careline's ids: `messageId`, `conversationId`, `seq`). */
export interface Envelope {
  id: string;
  from: string;
  to: string;
  tenantNo: string;
  target: string | string[];
  type: string | number;
  content: Record<string, unknown>;
  timestamp: number;
  isBackground: boolean;
  messageId?: string;
  conversationId?: string;
  seq?: number;
}

/**
 * Seed 003's content types (its `MsgType` names) and the Careline message type each maps to,
 * one to one. `CALL` (call signalling: invite, refuse, cancel, timeout, busy…) has no type of
 * its own in Careline: it travels as `custom` (1100) content `{kind: "call", data: <the seed's
 * call content>}`, and comes back out as `CALL`.
 */
export const SeedTypes = {
  TEXT: MessageTypes.TEXT,
  IMAGE: MessageTypes.IMAGE,
  VOICE: MessageTypes.VOICE,
  VIDEO: MessageTypes.VIDEO,
  FILE: MessageTypes.FILE,
  LINK: MessageTypes.LINK,
  CALL: MessageTypes.CUSTOM,
  CUSTOM: MessageTypes.CUSTOM,
} as const;

const nameOfCode = new Map<number, string>([
  [MessageTypes.TEXT, 'TEXT'], [MessageTypes.IMAGE, 'IMAGE'], [MessageTypes.VOICE, 'VOICE'], [MessageTypes.VIDEO, 'VIDEO'],
  [MessageTypes.FILE, 'FILE'], [MessageTypes.LINK, 'LINK'], [MessageTypes.CUSTOM, 'CUSTOM'],
]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 128;

const invalid = (why: string) => fail('mqtt.envelope_invalid', `Invalid envelope: ${why}.`);

/** Whether the envelope is a group send: it names its receivers in `target`. */
function isGroup(target: unknown): boolean {
  return Array.isArray(target) ? target.length > 0 : typeof target === 'string' && target !== '';
}

/**
 * The `send` frame (without its `id`) of an envelope published by `userId` of `tenantId`.
 * Throws `mqtt.*` errors for what is not an envelope; the content itself is checked by the
 * send, as any other (`message.*`). `p2p` gives the one-to-one conversation id of `userId`
 * and a peer (the P2P rule; a transport keeps the ids of its peers).
 */
export function toSend(payload: Buffer, tenantId: string, userId: string, p2p: (peer: string) => string = (peer) => participantsHash([userId, peer])): Omit<SendFrame, 'id'> {
  let e: unknown;
  try {
    e = JSON.parse(payload.toString('utf8'));
  } catch {
    throw invalid('the payload is not JSON');
  }
  if (!isObject(e)) throw invalid('the payload is not a JSON object');
  if (typeof e.id !== 'string' || e.id.length < 1 || e.id.length > 64) throw invalid('id must be a string of 1 to 64 characters');
  if (!isId(e.to)) throw invalid('to must be the receiver (one-to-one) or the group (with target)');
  if (!isObject(e.content)) throw invalid('content must be a JSON object');
  if (e.from !== undefined && e.from !== '' && e.from !== userId) throw fail('mqtt.sender_mismatch', `from is "${String(e.from)}", but the connected user is "${userId}".`);
  if (e.tenantNo !== undefined && e.tenantNo !== '' && e.tenantNo !== tenantId) throw fail('mqtt.sender_mismatch', 'tenantNo is not the tenant of the connected user.');
  let type: number;
  let content = e.content;
  if (typeof e.type === 'string') {
    if (!Object.hasOwn(SeedTypes, e.type)) throw fail('mqtt.type_unknown', undefined, { type: e.type });
    type = SeedTypes[e.type as keyof typeof SeedTypes];
    if (e.type === 'CALL') content = { kind: 'call', data: e.content };
  } else if (typeof e.type === 'number' && Number.isInteger(e.type)) {
    type = e.type;
  } else {
    throw fail('mqtt.type_unknown', undefined, { type: e.type ?? null });
  }
  const conversation_id = isGroup(e.target) ? e.to : p2p(e.to);
  return { type: 'send', conversation_id, message: { client_id: e.id, type, content } };
}

/** What `toEnvelope` needs of the conversation: its type and members (from the member directory). */
export interface ConversationShape {
  type: number;
  members: ReadonlySet<string>;
}

/**
 * The envelope `receiver` gets for `m`. A one-to-one conversation (type 2, two members):
 * `from` the sender, `to` the other member (the receiver, or the peer on the sender's own
 * other devices), `target` empty. Any other: `from` the group, `to` the receiver, `target`
 * the sender.
 */
export function toEnvelope(m: Message, receiver: string, tenantId: string, conv: ConversationShape | null): Envelope {
  let type: string | number = nameOfCode.get(m.type) ?? m.type;
  let content: Record<string, unknown> = m.content ?? {};
  if (m.type === MessageTypes.CUSTOM && content.kind === 'call' && isObject(content.data)) {
    type = 'CALL';
    content = content.data;
  }
  const base = { id: m.client_id ?? m.id, tenantNo: tenantId, type, content, timestamp: m.created_at, isBackground: false };
  const ids = { messageId: m.id, conversationId: m.conversation_id, seq: m.seq };
  if (conv && conv.type === ConversationTypes.P2P && conv.members.size === 2) {
    let peer = receiver;
    if (receiver === m.sender_id) for (const u of conv.members) if (u !== receiver) peer = u;
    return { ...base, from: m.sender_id, to: peer, target: '', ...ids };
  }
  return { ...base, from: m.conversation_id, to: receiver, target: m.sender_id, ...ids };
}
