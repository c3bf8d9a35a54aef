/**
 * Typed domain events, emitted after the write they describe has committed. Adapters
 * (WebSocket hub, later push and webhooks) subscribe to them on the bus.
 */
import type { Message, Notification, UserRole } from './types.ts';
import type { CallInfo, RtcCandidate } from '@careline/protocol';
import type { ConferenceAction, ConferenceInfo, ConferenceStatus } from '@careline/protocol';

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
  | {
      kind: 'read.updated'; tenant_id: string; conversation_id: string; user_id: string; seq: number; recipients: readonly string[];
      /** The connection whose `read` frame moved it: it gets the receipt with `origin_request` as its id. */
      origin?: string;
      origin_request?: string;
    }
  | { kind: 'typing'; tenant_id: string; conversation_id: string; user_id: string; state: 'typing' | 'stopped'; recipients: readonly string[] }
  | {
      kind: 'conversation.changed';
      tenant_id: string;
      conversation_id: string;
      event: 'created' | 'updated' | 'participants' | 'removed';
      recipients: readonly string[];
      /** For `participants`: who joined and who left (S2C_TEAMMEMBER_ENTER / LEAVE). */
      added?: readonly string[];
      removed?: readonly string[];
    }
  | { kind: 'session.revoked'; tenant_id: string; session_id: string }
  /** A tenant's settings changed: nodes drop their cached copy. */
  | { kind: 'settings.changed'; tenant_id: string }
  | { kind: 'presence.changed'; tenant_id: string; user_id: string; online: boolean; last_seen: number | null }
  | {
      kind: 'notification.created';
      tenant_id: string;
      notification: Notification;
      /** Who gets it; null: every user of the tenant (a broadcast, fanned out in chunks). */
      recipients: readonly string[] | null;
    }
  | {
      /**
       * A user connected and the tenant's policy is `notify` or `kick`: their older connections
       * of the class get `S2C_DIFFERENT_CONNECTION`; under `kick` they are closed too (4503).
       */
      kind: 'connection.replaced';
      tenant_id: string;
      user_id: string;
      platform_class: string;
      /** The new connection, which stays. */
      keep: string;
      /** Absent (an older node): `kick`. */
      policy?: 'notify' | 'kick';
    }
  | {
      /**
       * The integrator updated a user: every node closes that user's connections if the user is
       * now disabled (4504) or has another role than the connection was opened with (4010).
       */
      kind: 'user.changed';
      tenant_id: string;
      user_id: string;
      role: UserRole;
      disabled: boolean;
    }
  | {
      /**
       * A call changed (docs/calls.md): every node sends its participants' connections a `call`
       * frame (`other_answer` / `other_refuse` to the actor's other devices), and seed 001's
       * `S2C_VIDEOCALL_INVITE` / `S2C_VIDEOCALL_END` events.
       */
      kind: 'call.changed';
      tenant_id: string;
      /** The call after the change, as clients see it. */
      call: CallInfo;
      status: 'invite' | 'accept' | 'refuse' | 'cancel' | 'timeout' | 'busy' | 'hangup' | 'end';
      /** Who acted (`system`: the server). */
      by: string;
      /** The connection that acted: it got its answer already. */
      origin?: string;
    }
  | {
      /**
       * A conference changed (docs/conferences.md): every node tells its conference sockets of
       * it (`conference.status`, `conference.info`; `revoked`: that participant's sockets are
       * closed), and the Hub sends a `conference` frame to the participants who are Careline users.
       */
      kind: 'conference.changed';
      tenant_id: string;
      conference: ConferenceInfo;
      event: 'status' | 'info' | 'revoked';
      /** For `status`. */
      previous?: ConferenceStatus | null;
      action?: ConferenceAction;
      by?: string;
      at: number;
      /** For `info`: what changed. */
      changed?: readonly string[];
      /** For `revoked`: whose access. */
      user_id?: string;
      /** The participants who are users of the tenant. */
      careline_users: readonly string[];
    }
  | {
      /** A waiting room's queue changed: its conferences in order (their clients' places). */
      kind: 'conference.queue';
      tenant_id: string;
      conversation_id: string;
      waiting: readonly string[];
      /** A conference just admitted (no longer waiting). */
      admitted?: string;
    }
  | {
      /** A front-desk event (docs/desk.md): a `desk` frame with it to every connection of the recipients. */
      kind: 'desk.event';
      tenant_id: string;
      recipients: readonly string[];
      event: Record<string, unknown>;
    }
  | {
      /**
       * A WebRTC signal between two joined participants of a call (docs/calls.md, "WebRTC"):
       * every node sends it to its connections of `to` (only `to_connection`, when named).
       */
      kind: 'call.rtc';
      tenant_id: string;
      call_id: string;
      from: string;
      from_connection: string | null;
      to: string;
      to_connection?: string;
      signal: 'offer' | 'answer' | 'candidate';
      sdp?: string;
      candidate?: RtcCandidate;
    };

export type DomainEventKind = DomainEvent['kind'];
