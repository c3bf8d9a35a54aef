/**
 * Conferences as stored (`Storage.conferences`, docs/conferences.md): the conference with its
 * room's secrets, its participants with their token state, the access tokens (by their
 * SHA-256) and the transitions. Types and the store's port only: the stores are
 * `storage/sqlite/conferences.ts` and `storage/postgres/conferences.ts`.
 */
import type {
  ConferenceAction, ConferenceEndReason, ConferenceLanguage, ConferenceRole, ConferenceStatus, ConferenceTransition, ConferenceVertical,
} from '@careline/protocol';

export interface ConferenceParticipant {
  user_id: string;
  name: string;
  role: ConferenceRole;
  careline_user: boolean;
  /** The number of the participant's current access token; a conference token names it. */
  token_version: number;
  /** Revoked: no access token or conference token of theirs works (until a new one is issued). */
  revoked_at: number | null;
  joined_at: number | null;
  left_at: number | null;
}

export interface Conference {
  tenant_id: string;
  id: string;
  status: ConferenceStatus;
  title: string;
  starts_at: number;
  duration_seconds: number;
  ends_at: number;
  vertical: ConferenceVertical;
  language: ConferenceLanguage;
  created_by: string;
  created_by_role: ConferenceRole;
  created_at: number;
  opened_at: number | null;
  started_at: number | null;
  ended_at: number | null;
  end_reason: ConferenceEndReason | null;
  conversation_id: string | null;
  topic_id: string | null;
  /** The Janus videoroom: its id, its secret (server only) and its PIN. */
  room: number;
  room_secret: string;
  room_pin: string;
  /** Waiting room: when the client arrived, and when the specialist admitted them. */
  arrived_at: number | null;
  admitted_at: number | null;
  /** Grows with every write; `update` writes only over the version it read. */
  version: number;
  info_version: number;
  participants: ConferenceParticipant[];
}

/** A transition to record with a write. */
export interface NewTransition {
  from: ConferenceStatus | null;
  to: ConferenceStatus;
  action: ConferenceAction;
  by: string;
  reason: string | null;
  at: number;
  node: string;
}

/** An access token issued (its SHA-256, hex) for a participant, numbered `version`. */
export interface IssuedToken {
  hash: string;
  user_id: string;
  version: number;
}

/** An access token's row. */
export interface TokenRow {
  tenant_id: string;
  conference_id: string;
  user_id: string;
  version: number;
  revoked_at: number | null;
}

/** What a write does besides the conference's row and participants. */
export interface ConferenceWrite {
  /** Recorded with the write, numbered after the conference's last transition. */
  transition?: NewTransition;
  /** Marks every access token of these participants revoked (at `at`). */
  revokeTokensOf?: readonly string[];
  /** New access tokens. */
  issue?: readonly IssuedToken[];
  at?: number;
}

/**
 * Conferences, shared by every node. Guarantees, checked on every backend by
 * `test/conferences/conferences-contract.ts`:
 * - `create` stores the conference (version 1), its participants, its tokens and its first
 *   transition (seq 1) in one transaction.
 * - `update` applies only over the version it was computed from (`next.version`): it returns
 *   null, changing nothing, when another write came first; otherwise the conference, its
 *   participants, the tokens and the transition (next seq) are written together and the stored
 *   conference has version + 1.
 * - `token` finds an access token by its hash, revoked or not; a hash is unique.
 * - `waiting` lists a conversation's conferences whose client arrived and was not admitted,
 *   still `scheduled` or `open`, by arrival (then id).
 */
export interface ConferenceStore {
  create(c: Conference, w: ConferenceWrite & { transition: NewTransition }): Promise<Conference>;
  get(tenantId: string, id: string): Promise<Conference | null>;
  update(next: Conference, w?: ConferenceWrite): Promise<Conference | null>;
  token(hash: string): Promise<TokenRow | null>;
  transitions(tenantId: string, id: string): Promise<ConferenceTransition[]>;
  waiting(tenantId: string, conversationId: string): Promise<Conference[]>;
}
