/**
 * Consultations ("topics"): a patient's question to a care team inside a session, from start
 * to end, with the status/reply semantics of the family-doctor server:
 *   status 0 / reply 0  new, no care-team reply yet ("unreplied")
 *   status 0 / reply 1  a doctor has replied ("in progress")
 *   status 10 / reply 0 ended without a reply (counted in none of the three states, as the clinic asked)
 *   status 10 / reply 1 replied and ended ("replied")
 * "Replied" is set, in the same transaction, by the first message from a doctor or staff member
 * after the start (see MessageService). The topic id is the host's consult code, so starting
 * it twice is idempotent. Messages belong to a topic by seq (start_seq ≤ seq ≤ end_seq).
 */
import { MessageTypes } from '@careline/protocol';
import type { EventBus, Storage } from './ports.ts';
import type { Message, NewMessage, Principal, Topic, TopicQuery, TopicState, TopicStatsRow } from './types.ts';
import type { MemberDirectory } from './directory.ts';
import type { AuditLog } from './audit.ts';
import { requireAccess, requireApp, requireCareTeam, requireSeeTopic, requireStatistics, scopeTopics, type TeamMembership } from './access.ts';
import { fail } from './errors.ts';
import { ID_RE, newId } from './ids.ts';

export interface StartTopicInput {
  topic_id: string;
  name?: string;
  description?: string;
  patient_id?: string;
  team_id?: string;
  doctor_id?: string;
  consult_type?: string | number;
  /** Text of the start message (default: the topic's name). */
  text?: string;
}

/** A consultation as the host system knows it, for reconciliation. */
export interface HostTopic {
  id: string;
  session_id?: string;
  status?: number;
  reply?: number;
  patient_id?: string;
  team_id?: string;
  doctor_id?: string;
}

export interface TopicDeps {
  storage: Pick<Storage, 'topics' | 'conversations' | 'messages' | 'teams'>;
  bus: EventBus;
  directory: MemberDirectory;
  audit: AuditLog;
  historyPageMax: number;
  now?: () => number;
}


export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export class TopicService {
  readonly #d: TopicDeps;
  readonly #now: () => number;
  readonly #inTeam: TeamMembership;

  constructor(deps: TopicDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#inTeam = async (tenantId, teamId, userId) => (await deps.storage.teams.getTeam(tenantId, teamId))?.members.includes(userId) ?? false;
  }

  #system(p: Principal, sessionId: string, type: number, content: Record<string, unknown>, at: number): NewMessage {
    return {
      tenant_id: p.tenantId, conversation_id: sessionId, id: newId(), sender_id: 'system', type, content,
      content_json: JSON.stringify(content), client_id: null, created_at: at, forward: null,
    };
  }

  #publish(p: Principal, messages: Message[], recipients: readonly string[], sessionId: string): void {
    for (const message of messages) this.#d.bus.publish({ kind: 'message.created', tenant_id: p.tenantId, message, recipients });
    this.#d.directory.invalidate(p.tenantId, sessionId);
    this.#d.bus.publish({ kind: 'conversation.changed', tenant_id: p.tenantId, conversation_id: sessionId, event: 'updated', recipients });
  }

  /** Starts a consultation in a session (idempotent by topic id): writes its type-6 start message. */
  async start(p: Principal, sessionId: string, input: StartTopicInput): Promise<{ topic: Topic; created: boolean }> {
    if (!ID_RE.test(input.topic_id)) throw fail('request.invalid', 'topic_id must be 1–128 characters without spaces, "/", "?" or "#".');
    const entry = await requireAccess(this.#d.directory, p, sessionId);
    const existing = await this.#d.storage.topics.get(p.tenantId, input.topic_id);
    if (existing) {
      if (existing.session_id !== sessionId) throw fail('topic.session_mismatch', undefined, { topic_id: existing.id, session_id: existing.session_id });
      return { topic: existing, created: false };
    }
    const participants = await this.#d.storage.conversations.getParticipants(p.tenantId, sessionId);
    const patientId = input.patient_id ?? (p.kind === 'user' && p.role === 'patient' ? p.userId : participants.find((x) => x.user_role === 'patient')?.user_id);
    if (patientId !== undefined && !participants.some((x) => x.user_id === patientId)) {
      throw fail('participant.not_found', `The patient ${patientId} is not a participant of the session.`, { patient_id: patientId });
    }
    const now = this.#now();
    const name = input.name ?? 'Consultation';
    const start = this.#system(p, sessionId, MessageTypes.TOPIC_START, {
      text: input.text ?? name,
      event: 'topic.started',
      data: { topic_id: input.topic_id, name, ...(input.description !== undefined ? { description: input.description } : {}), ...(patientId ? { patient_id: patientId } : {}) },
    }, now);
    const r = await this.#d.storage.topics.start(p.tenantId, {
      id: input.topic_id, session_id: sessionId, name, description: input.description ?? null, patient_id: patientId ?? null,
      team_id: input.team_id ?? null, doctor_id: input.doctor_id ?? null,
      consult_type: input.consult_type === undefined ? null : String(input.consult_type),
      created_at: now, created_by: p.kind === 'user' ? p.userId : 'system',
    }, start);
    if (r.created && r.message) this.#publish(p, [r.message], entry.list, sessionId);
    return { topic: r.topic, created: r.created };
  }

  /** The topic `topicId` of `sessionId`; `current` means the session's newest topic. */
  async #resolve(p: Principal, sessionId: string, topicId: string): Promise<Topic> {
    const t = topicId === 'current' ? await this.#d.storage.topics.latest(p.tenantId, sessionId) : await this.#d.storage.topics.get(p.tenantId, topicId);
    if (!t || t.session_id !== sessionId) throw fail('topic.not_found', undefined, { session_id: sessionId, topic_id: topicId });
    // Callers checked the session's membership first: a patient still sees only their own.
    await requireSeeTopic(p, t, true, this.#inTeam);
    return t;
  }

  /** Ends a consultation (care team only): writes the type-7 end message and the type-10 closing message. */
  async end(p: Principal, sessionId: string, topicId: string, opts: { text?: string } = {}): Promise<Topic> {
    const entry = await requireAccess(this.#d.directory, p, sessionId);
    requireCareTeam(p, 'end a consultation');
    const t = await this.#resolve(p, sessionId, topicId);
    if (t.status !== 0) throw fail('topic.already_ended', undefined, { topic_id: t.id });
    const now = this.#now();
    const by = p.kind === 'user' ? p.userId : 'system';
    const data = { topic_id: t.id, ended_by: by };
    const r = await this.#d.storage.topics.end(p.tenantId, t.id, now, by, [
      this.#system(p, sessionId, MessageTypes.TOPIC_END, { event: 'topic.ended', data }, now),
      this.#system(p, sessionId, MessageTypes.TOPIC_END_NOTICE, { text: opts.text ?? 'This consultation has ended.', event: 'topic.end_notice', data }, now),
    ]);
    if (!r) throw fail('topic.already_ended', undefined, { topic_id: t.id });
    this.#publish(p, r.messages, entry.list, sessionId);
    return r.topic;
  }

  /** The patient enters the consultation: a type-14 message from the system. */
  async enter(p: Principal, sessionId: string, topicId: string): Promise<Topic> {
    const entry = await requireAccess(this.#d.directory, p, sessionId);
    const t = await this.#resolve(p, sessionId, topicId);
    if (p.kind === 'user' && p.userId !== t.patient_id) throw fail('topic.not_patient');
    if (t.status !== 0) throw fail('topic.already_ended', undefined, { topic_id: t.id });
    const now = this.#now();
    const r = await this.#d.storage.topics.enter(p.tenantId, t.id, now, this.#system(p, sessionId, MessageTypes.TOPIC_ENTER, {
      event: 'topic.entered', data: { topic_id: t.id, patient_id: t.patient_id },
    }, now));
    if (!r) throw fail('topic.already_ended', undefined, { topic_id: t.id });
    this.#publish(p, [r.message], entry.list, sessionId);
    return r.topic;
  }

  /** One topic by id: for the integrator, its patient, and the clinic's users in its session or its care team (access.ts). */
  async get(p: Principal, topicId: string): Promise<Topic> {
    const t = await this.#d.storage.topics.get(p.tenantId, topicId);
    if (!t) throw fail('topic.not_found');
    const entry = await this.#d.directory.get(p.tenantId, t.session_id);
    const inSession = entry !== null && (p.kind === 'app' || entry.members.has(p.userId));
    await requireSeeTopic(p, t, inSession, this.#inTeam);
    return t;
  }

  async ended(p: Principal, sessionId: string, topicId: string): Promise<{ ended: boolean; topic: Topic }> {
    await requireAccess(this.#d.directory, p, sessionId);
    const topic = await this.#resolve(p, sessionId, topicId);
    return { ended: topic.status === 10, topic };
  }

  /** Narrows a query to what the caller may see (the policy is `scopeTopics` in access.ts). */
  #scope<Q extends Omit<TopicQuery, 'limit' | 'cursor'>>(p: Principal, q: Q, aggregate: boolean): Promise<Q> {
    return scopeTopics(p, q, this.#inTeam, aggregate);
  }

  async list(p: Principal, q: TopicQuery): Promise<{ topics: Topic[]; next_cursor: string | null }> {
    const { limit, cursor, ...filters } = q;
    const scoped = await this.#scope(p, filters, false);
    if (q.session_id !== undefined) await requireAccess(this.#d.directory, p, q.session_id);
    const { items, next_cursor } = await this.#d.storage.topics.list(p.tenantId, { ...scoped, limit, ...(cursor ? { cursor } : {}) });
    return { topics: items, next_cursor };
  }

  async countByState(p: Principal, q: Omit<TopicQuery, 'limit' | 'cursor' | 'state'>): Promise<Record<TopicState, number>> {
    return this.#d.storage.topics.countByState(p.tenantId, await this.#scope(p, q, true));
  }

  /** The messages of a topic (from its start message to its end), paged like history. */
  async messages(p: Principal, topicId: string, q: { before?: number; after?: number; limit?: number }, sessionId?: string): Promise<{ messages: Message[]; has_more: boolean; topic: Topic }> {
    const t = sessionId !== undefined ? await this.#resolve(p, sessionId, topicId) : await this.get(p, topicId);
    const entry = await requireAccess(this.#d.directory, p, t.session_id);
    const limit = Math.min(q.limit ?? 50, this.#d.historyPageMax);
    const lo = t.start_seq - 1;
    const hi = (t.end_seq ?? entry.conversation.last_seq) + 1;
    const after = Math.max(q.after ?? lo, lo);
    const before = t.end_seq === null && q.before === undefined ? undefined : Math.min(q.before ?? hi, hi);
    const forward = q.after !== undefined || q.before === undefined;
    const rows = await this.#d.storage.messages.history(p.tenantId, t.session_id, forward
      ? { after, ...(before !== undefined ? { before } : {}), limit: limit + 1 }
      : { before: before!, limit: limit + 1 });
    const inRange = rows.filter((m) => m.seq > after && (before === undefined || m.seq < before));
    const has_more = inRange.length > limit;
    const messages = has_more ? (forward ? inRange.slice(0, limit) : inRange.slice(1)) : inRange;
    await this.#d.audit.read(p, entry.conversation, 'topic.messages', { topic_id: t.id, count: messages.length });
    return { messages, has_more, topic: t };
  }

  /** Consultation counts and first-response times per team or per doctor over a period. */
  async stats(p: Principal, groupBy: 'team' | 'doctor', q: { since?: number; until?: number; team_id?: string; doctor_id?: string }) {
    requireStatistics(p);
    const rows = await this.#d.storage.topics.stats(p.tenantId, groupBy, await this.#scope(p, q, true));
    return rows.map((r) => summarise(r, groupBy));
  }

  /** How consultations were answered: counts by state and first-response times (TopicReplyCount). */
  async replyCount(p: Principal, q: { since?: number; until?: number; team_id?: string; doctor_id?: string }) {
    const scoped = await this.#scope(p, q, true);
    const [counts, rows] = await Promise.all([this.#d.storage.topics.countByState(p.tenantId, scoped), this.#d.storage.topics.stats(p.tenantId, 'team', scoped)]);
    const all = rows.flatMap((r) => r.response_ms).sort((a, b) => a - b);
    return { ...counts, total: counts.unreplied + counts.in_progress + counts.replied + counts.ended_unreplied, first_response_ms: responseSummary(all) };
  }

  /** A user's consultation times: how many, the newest start and end, the open one. */
  async consultTime(p: Principal, userId: string) {
    if (p.kind === 'user' && p.role === 'patient' && p.userId !== userId) throw fail('auth.forbidden', 'A patient sees only their own consultation times.');
    // The care team counts the consultations they see (access.ts), not every one of the tenant.
    const scoped = await this.#scope(p, { patient_id: userId }, false);
    const { items } = await this.#d.storage.topics.list(p.tenantId, { ...scoped, limit: 1 });
    const counts = await this.#d.storage.topics.countByState(p.tenantId, scoped);
    const last = items[0] ?? null;
    return {
      user_id: userId,
      total: counts.unreplied + counts.in_progress + counts.replied + counts.ended_unreplied,
      last_topic_id: last?.id ?? null,
      last_started_at: last?.created_at ?? null,
      last_ended_at: last?.ended_at ?? null,
      open_topic_id: last && last.status === 0 ? last.id : null,
    };
  }

  /**
   * Compares the host system's consultations of a period with ours: which are missing here,
   * which are here but not in the host's list, and which differ (session, status, reply,
   * patient, team, doctor).
   */
  async reconcile(p: Principal, since: number, until: number, host: HostTopic[]) {
    requireApp(p, 'reconciles');
    const ours = await this.#d.storage.topics.created(p.tenantId, since, until);
    const byId = new Map(ours.map((t) => [t.id, t]));
    const hostIds = new Set(host.map((h) => h.id));
    const missing_here: string[] = [];
    const different: { id: string; field: string; host: unknown; here: unknown }[] = [];
    for (const h of host) {
      const t = byId.get(h.id) ?? (await this.#d.storage.topics.get(p.tenantId, h.id));
      if (!t) {
        missing_here.push(h.id);
        continue;
      }
      for (const field of ['session_id', 'status', 'reply', 'patient_id', 'team_id', 'doctor_id'] as const) {
        const hv = h[field];
        if (hv !== undefined && hv !== t[field]) different.push({ id: h.id, field, host: hv, here: t[field] });
      }
    }
    const missing_in_host = ours.filter((t) => !hostIds.has(t.id)).map((t) => t.id);
    return { since, until, checked: host.length, here: ours.length, missing_here, missing_in_host, different };
  }
}

function responseSummary(sorted: number[]) {
  return {
    count: sorted.length,
    avg: sorted.length ? Math.round(sorted.reduce((a, b) => a + b, 0) / sorted.length) : null,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    max: sorted.length ? sorted[sorted.length - 1]! : null,
  };
}

function summarise(r: TopicStatsRow, groupBy: 'team' | 'doctor') {
  return {
    [groupBy === 'team' ? 'team_id' : 'doctor_id']: r.key,
    count: r.count, unreplied: r.unreplied, in_progress: r.in_progress, replied: r.replied, ended_unreplied: r.ended_unreplied,
    first_response_ms: responseSummary(r.response_ms),
  };
}
