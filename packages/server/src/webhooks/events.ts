/**
 * What the integrator hears: domain events committed on this node turned into webhook events
 * (`docs/webhooks.md` lists them with their data). Each has a key naming the fact (a message
 * id, a topic id…) or, when the fact has no id, the event's own: a delivery's dedupe key is
 * the subscription and that key, so an event enqueued twice is delivered once.
 */
import { MessageTypes } from '@careline/protocol';
import type { DomainEvent } from '../domain/events.ts';
import type { Storage } from '../domain/ports.ts';
import { newId } from '../domain/ids.ts';
import type { WebhookEventType } from '../domain/webhooks.ts';

export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  tenant_id: string;
  /** Names the fact, for the dedupe key. */
  key: string;
  created_at: number;
  data: Record<string, unknown>;
}

/** The JSON body POSTed: `{id, type, tenant_id, created_at, data}`. */
export const eventBody = (e: WebhookEvent): string =>
  JSON.stringify({ id: e.id, type: e.type, tenant_id: e.tenant_id, created_at: e.created_at, data: e.data });

export function webhookEvent(type: WebhookEventType, tenantId: string, data: Record<string, unknown>, key: string | null, now: number): WebhookEvent {
  const id = `evt_${newId()}`;
  return { id, type, tenant_id: tenantId, key: key ?? id, created_at: now, data };
}

/**
 * The webhook events of a domain event, for a tenant whose subscriptions want `wanted` types.
 * Reads storage only for what a subscription wants (a topic's first reply).
 */
export async function eventsOf(
  e: DomainEvent, wanted: (type: WebhookEventType) => boolean, storage: Pick<Storage, 'topics'>, now: number,
): Promise<WebhookEvent[]> {
  const t = e.tenant_id;
  const out: WebhookEvent[] = [];
  const add = (type: WebhookEventType, data: Record<string, unknown>, key: string | null) => {
    if (wanted(type)) out.push(webhookEvent(type, t, data, key, now));
  };
  switch (e.kind) {
    case 'message.created': {
      const m = e.message;
      add('message.created', { conversation_id: m.conversation_id, message: m, recipients: e.recipients }, `message:${m.id}`);
      const data = (m.content as { data?: Record<string, unknown> } | null)?.data ?? {};
      const topicId = typeof data.topic_id === 'string' ? data.topic_id : null;
      if (m.type === MessageTypes.TOPIC_START && topicId !== null) {
        add('topic.started', { session_id: m.conversation_id, topic_id: topicId, name: data.name ?? null, patient_id: data.patient_id ?? null, message_id: m.id }, `topic.started:${topicId}`);
      } else if (m.type === MessageTypes.TOPIC_END && topicId !== null) {
        add('topic.ended', { session_id: m.conversation_id, topic_id: topicId, ended_by: data.ended_by ?? null, message_id: m.id }, `topic.ended:${topicId}`);
      } else if (m.sender_id !== 'system' && wanted('topic.replied')) {
        // The first care-team reply of an open topic sets first_reply_* to this message's sender and time (in its commit).
        const topic = await storage.topics.latest(t, m.conversation_id);
        if (topic && topic.first_reply_by === m.sender_id && topic.first_reply_at === m.created_at && m.seq >= topic.start_seq) {
          add('topic.replied', { session_id: m.conversation_id, topic_id: topic.id, replied_by: m.sender_id, replied_at: m.created_at, message_id: m.id }, `topic.replied:${topic.id}`);
        }
      }
      break;
    }
    case 'conversation.changed': {
      const base = { conversation_id: e.conversation_id, participants: e.recipients };
      if (e.event === 'participants') add('participants.changed', { ...base, added: e.added ?? [], removed: e.removed ?? [] }, null);
      else add(e.event === 'created' ? 'conversation.created' : e.event === 'removed' ? 'conversation.removed' : 'conversation.updated', base, null);
      break;
    }
    default:
      break;
  }
  return out;
}
