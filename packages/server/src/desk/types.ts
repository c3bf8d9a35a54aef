/**
 * The front desk's records and its store (`Storage.desk`: `storage/sqlite/desk.ts`,
 * `storage/postgres/desk.ts`; contract `test/desk/desk-contract.ts`). Times are ms since the
 * epoch. Every method takes the tenant (the organisation): another tenant's rows are not found.
 */

export type ChatState = 'request' | 'active' | 'closed';

export const OUTCOMES = ['resolved', 'booked', 'referred', 'consultation', 'no_response', 'spam', 'abandoned', 'visitor_left'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface WidgetKey {
  tenant_id: string;
  id: string;
  key_hash: string;
  name: string;
  origins: string[];
  created_at: number;
  revoked_at: number | null;
}

export interface Visit {
  url: string;
  title: string;
  referer: string;
  os: string;
  browser: string;
}

export interface Visitor {
  tenant_id: string;
  id: string;
  fp: string;
  created_at: number;
  seen_at: number;
  track_id: string | null;
  url: string | null;
  title: string | null;
  referer: string | null;
  os: string | null;
  browser: string | null;
  patient_id: string | null;
}

export interface DeskStaff {
  tenant_id: string;
  user_id: string;
  sid: string;
  created_at: number;
}

export interface Chat {
  tenant_id: string;
  id: string;
  visitor_id: string;
  team_id: string;
  state: ChatState;
  staff_id: string | null;
  created_at: number;
  queued_at: number;
  queue_round: number;
  claimed_at: number | null;
  first_response_at: number | null;
  closed_at: number | null;
  outcome: string | null;
  note: string | null;
  escalated_at: number | null;
  session_id: string | null;
  topic_id: string | null;
}

export interface DeskEventRecord {
  tenant_id: string;
  mid: string;
  chat_id: string;
  type: string;
  body: Record<string, unknown>;
  at: number;
}

export interface Ack {
  chat_id: string;
  user_id: string;
  at: number;
}

export interface Sla {
  team_id: string;
  sla_seconds: number;
  lead_id: string;
}

/** The answer of a conditional change: `ok` with the chat after it, or not, with the chat as it is (null: no such chat). */
export type ChatChange = { ok: true; chat: Chat } | { ok: false; chat: Chat | null };

export interface DeskStore {
  createKey(key: WidgetKey): Promise<void>;
  /** A key by the hash of its secret (revoked ones too). */
  keyByHash(hash: string): Promise<WidgetKey | null>;
  listKeys(tenantId: string): Promise<WidgetKey[]>;
  /** Marks a key revoked; false if there was no such key or it was revoked already. */
  revokeKey(tenantId: string, id: string, now: number): Promise<boolean>;

  createVisitor(v: Visitor): Promise<void>;
  getVisitor(tenantId: string, id: string): Promise<Visitor | null>;
  /** Visitors by id (those that exist). */
  getVisitors(tenantId: string, ids: readonly string[]): Promise<Visitor[]>;
  /** Records a visit (its row, and the visitor's latest page); false if there is no such visitor. */
  track(tenantId: string, visitorId: string, trackId: string, visit: Visit, now: number): Promise<boolean>;
  /** Visitors seen since `since`, newest first, at most `limit`. */
  recentVisitors(tenantId: string, since: number, limit: number): Promise<Visitor[]>;
  /** Marks a visitor seen (heartbeat, any call). */
  touchVisitor(tenantId: string, visitorId: string, now: number): Promise<void>;
  setPatient(tenantId: string, visitorId: string, patientId: string): Promise<boolean>;

  /** The staff row of a user, made with `sid` if there is none yet; returns the row as stored. */
  ensureStaff(tenantId: string, userId: string, sid: string, now: number): Promise<DeskStaff>;
  getStaff(tenantId: string, userId: string): Promise<DeskStaff | null>;
  /** Every desk staff member of the organisation. */
  listStaff(tenantId: string): Promise<DeskStaff[]>;

  /**
   * Opens a chat: inserted, or — when the visitor already has an open chat — that one, with
   * `created` false (one open chat per visitor, a unique index).
   */
  openChat(chat: Chat): Promise<{ chat: Chat; created: boolean }>;
  getChat(tenantId: string, id: string): Promise<Chat | null>;
  /** The visitor's chats, newest first, at most `limit`. */
  chatsOfVisitor(tenantId: string, visitorId: string, limit: number): Promise<Chat[]>;
  /** Every open chat (`request`, `active`) of the organisation, at most `limit`. */
  openChats(tenantId: string, limit: number): Promise<Chat[]>;
  /** The chats a staff member holds (`active`). */
  chatsOfStaff(tenantId: string, staffId: string): Promise<Chat[]>;
  /** Queued chats (`request`), in queue order (`queued_at`, id); of one team when `teamId` is given. */
  queue(tenantId: string, teamId?: string): Promise<Chat[]>;
  /** Claims a queued chat for `staffId`: a conditional update (state `request`), so exactly one of concurrent claims wins. */
  claim(tenantId: string, id: string, staffId: string, now: number): Promise<ChatChange>;
  /**
   * Hands a chat held by `fromStaff` on: to another staff member (stays active), or back to a
   * team's queue (state request, no holder, keeping `queued_at`, `queue_round` + 1, not escalated).
   */
  transfer(tenantId: string, id: string, fromStaff: string, to: { staff: string } | { team: string }, note: string | null, now: number): Promise<ChatChange>;
  /** Closes an open chat; with `holder` given, only while that is its holder (null: only while queued). */
  close(tenantId: string, id: string, outcome: string, note: string | null, now: number, holder?: string | null): Promise<ChatChange>;
  /** Sets the first-response time of an active chat if it has none; true if it set it. */
  firstResponse(tenantId: string, id: string, staffId: string, now: number): Promise<boolean>;
  /** Marks a chat escalated if it is still queued in round `round` and was not escalated; true if it marked it. */
  escalate(tenantId: string, id: string, round: number, now: number): Promise<boolean>;
  /** Records that the chat went on as a consultation topic. */
  link(tenantId: string, id: string, sessionId: string, topicId: string): Promise<void>;

  /** Records an acknowledgement; the first one of a user stays. Returns it as stored. */
  ack(tenantId: string, chatId: string, userId: string, now: number): Promise<Ack>;
  /** Acknowledgements of the chats, oldest first. */
  acks(tenantId: string, chatIds: readonly string[]): Promise<Ack[]>;

  appendEvent(e: DeskEventRecord): Promise<void>;
  /** A chat's events, in mid order. */
  events(tenantId: string, chatId: string): Promise<DeskEventRecord[]>;
  /** Events with mid > `after`, in mid order, of the chats given (null: every chat of the organisation), at most `limit`. */
  eventsAfter(tenantId: string, chatIds: readonly string[] | null, after: string, limit: number): Promise<DeskEventRecord[]>;

  putSla(tenantId: string, sla: Sla): Promise<void>;
  /** The SLA of a team ('' the organisation's default), or null. */
  getSla(tenantId: string, teamId: string): Promise<Sla | null>;

  /** Chats created in [since, until), of one team if given, at most `limit` (newest dropped). */
  chatsCreated(tenantId: string, since: number, until: number, teamId: string | undefined, limit: number): Promise<Chat[]>;
  /** Counts of open chats per state over every tenant (for monitoring). */
  openCounts(): Promise<{ request: number; active: number }>;
}
