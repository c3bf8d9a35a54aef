/**
 * Typed domain events, emitted after the write they describe has committed. Adapters
 * (WebSocket hub, later push and webhooks) subscribe to them on the bus.
 */
import type { Message } from './types.ts';

export type DomainEvent =
  | {
      kind: 'message.created';
      tenant_id: string;
      message: Message;
      /** Participants at commit time: who must get it. */
      recipients: readonly string[];
      /** The connection that sent it: it gets an `ack` (for `origin_request`) in place of the message. */
      origin?: string;
      origin_request?: string;
    }
  | { kind: 'read.updated'; tenant_id: string; conversation_id: string; user_id: string; seq: number; recipients: readonly string[] }
  | { kind: 'typing'; tenant_id: string; conversation_id: string; user_id: string; state: 'typing' | 'stopped'; recipients: readonly string[] }
  | {
      kind: 'conversation.changed';
      tenant_id: string;
      conversation_id: string;
      event: 'created' | 'updated' | 'participants' | 'removed';
      recipients: readonly string[];
    }
  | { kind: 'session.revoked'; tenant_id: string; session_id: string }
  | { kind: 'presence.changed'; tenant_id: string; user_id: string; online: boolean; last_seen: number | null };

export type DomainEventKind = DomainEvent['kind'];
