/**
 * Scheduled video conferences (seed 004, docs/conferences.md) as the REST API and the
 * conference WebSocket give them: shared by the server and the SDK. Times in ms since the epoch.
 */

/** `scheduled` → `open` (the specialist opened it) → `started` (someone joined) → `finished`; or `cancelled`. */
export type ConferenceStatus = 'scheduled' | 'open' | 'started' | 'finished' | 'cancelled';

export const CONFERENCE_STATUSES: readonly ConferenceStatus[] = ['scheduled', 'open', 'started', 'finished', 'cancelled'];

export type ConferenceRole = 'client' | 'specialist';
export type ConferenceVertical = 'medicine' | 'general';
export type ConferenceLanguage = 'ru' | 'en' | 'he' | 'zh';
/** Why it ended: finished (by the specialist or the booking system), its time ran out, or cancelled. */
export type ConferenceEndReason = 'finished' | 'time' | 'cancelled';
/** What caused a transition. */
export type ConferenceAction = 'create' | 'open' | 'join' | 'cancel' | 'finish' | 'time';

export interface ConferenceParticipantInfo {
  user_id: string;
  name: string;
  role: ConferenceRole;
  /** The user id is a Careline user of the tenant: they also get `conference` frames on their Careline connections. */
  careline_user: boolean;
  joined_at: number | null;
  left_at: number | null;
}

export interface ConferenceInfo {
  id: string;
  status: ConferenceStatus;
  title: string;
  starts_at: number;
  duration_seconds: number;
  ends_at: number;
  vertical: ConferenceVertical;
  language: ConferenceLanguage;
  participants: ConferenceParticipantInfo[];
  created_by: { user_id: string; role: ConferenceRole };
  created_at: number;
  opened_at: number | null;
  started_at: number | null;
  ended_at: number | null;
  end_reason: ConferenceEndReason | null;
  /** A conversation it belongs to (a waiting room when of type 12), and a consultation of it. */
  conversation_id: string | null;
  topic_id: string | null;
  version: number;
  info_version: number;
}

/** Who a conference token is for. */
export interface ConferenceParticipantView {
  user_id: string;
  name: string;
  role: ConferenceRole;
}

/** A waiting-room client's place (null `position`: not waiting). */
export interface ConferenceQueue {
  position: number | null;
  waiting: number;
  admitted: boolean;
}

export interface ConferenceIceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** What a conference token unlocks once the conference has started: the Janus videoroom. */
export interface ConferenceMedia {
  janus: { http_url: string; ws_url: string };
  /** This participant's Janus token (API `token`, and the room's ACL token in `join`). */
  token: string;
  room: number;
  pin: string;
  display: string;
  ice_servers: ConferenceIceServer[];
}

/** The answer of exchange, info and the participant's actions. */
export interface ConferenceAccess {
  conference: ConferenceInfo;
  participant: ConferenceParticipantView;
  queue: ConferenceQueue | null;
  media: ConferenceMedia | null;
  server_time: number;
}

export interface ConferenceExchange extends ConferenceAccess {
  conference_token: string;
  expires_at: number;
}

export interface ConferenceTransition {
  seq: number;
  from: ConferenceStatus | null;
  to: ConferenceStatus;
  action: ConferenceAction;
  /** A participant's user id, `api` (the booking system) or `system` (the scheduler). */
  by: string;
  reason: string | null;
  at: number;
  /** The node that made it. */
  node: string;
}

/** Frames of `/api/v2/conference-access/ws`. */
export type ConferenceSockFrame =
  | { type: 'conference.hello'; conference: ConferenceInfo; participant: ConferenceParticipantView; queue: ConferenceQueue | null; server_time: number }
  | {
      type: 'conference.status'; conference_id: string; status: ConferenceStatus; previous: ConferenceStatus | null;
      action: ConferenceAction; by: string; at: number; conference: ConferenceInfo;
    }
  | { type: 'conference.info'; conference_id: string; changed: string[]; conference: ConferenceInfo }
  | { type: 'conference.queue'; conference_id: string; queue: ConferenceQueue }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string };

/** WebSocket close code of a refused or revoked conference socket. */
export const CONFERENCE_SOCK_UNAUTHORIZED = 4401;
