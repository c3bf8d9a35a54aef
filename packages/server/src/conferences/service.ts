/**
 * Scheduled video conferences (seed 004, docs/conferences.md): the booking system's actions
 * (API key: create, info, update, open, cancel, finish, revoke, reissue, transitions), the
 * participant's (access token → conference token: exchange, info, open, join, leave, finish,
 * arrive, admit-next), the waiting room, and the scheduler's end of time.
 *
 * The state is in storage (`Storage.conferences`), so every node sees the same conference: a
 * change is computed by `machine.ts` from the conference as read and written only over that
 * version (another node first: read again and compute again), with its transition recorded in
 * the same write. Then `conference.changed` goes on the bus: every node tells its conference
 * sockets (`sock.ts`) and the Hub tells the participants who are Careline users.
 *
 * The end of time is a `conference.end` job at `ends_at`, enqueued before the conference is
 * stored (and again when the end moves), run by one node's runner (the job lease): it finishes
 * the conference if it is still running, then tears its room down (Janus room destroyed, the
 * participants' Janus tokens removed) and posts the summary to its conversation. An early end
 * (finish, cancel) enqueues the same job for now; the job at `ends_at` repeats the teardown, so
 * a node dying in between leaves no room behind. Every step is idempotent.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { MessageTypes } from '@careline/protocol';
import type {
  ConferenceAccess, ConferenceExchange, ConferenceIceServer, ConferenceInfo, ConferenceMedia, ConferenceQueue, ConferenceTransition,
} from '@careline/protocol';
import type { EventBus, Storage } from '../domain/ports.ts';
import type { Principal } from '../domain/types.ts';
import type { MemberDirectory } from '../domain/directory.ts';
import type { MessageService } from '../domain/messages.ts';
import { isCareTeamRole, requireAccess, requireApp } from '../domain/access.ts';
import { fail } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import * as machine from './machine.ts';
import type { JanusClient } from './janus.ts';
import type { Conference, ConferenceParticipant, ConferenceWrite } from './store.ts';
import { ACCESS_TOKEN_RE, hashAccessToken, janusToken, newAccessToken, signConferenceToken, verifyConferenceToken } from './tokens.ts';

export const CONFERENCE_END_JOB = 'conference.end';
/** Conversation type 12: a waiting room (seed 000). */
export const WAITING_ROOM_TYPE = 12;

export interface ConferenceSettings {
  openEarlySeconds: number;
  accessTtlAfterEndSeconds: number;
  tokenTtlSeconds: number;
  maxParticipants: number;
  linkBaseUrl: string;
  janusUrl: string;
  janusPublicUrl: string;
  janusPublicWsUrl: string;
  iceServers: string;
}

export interface ConferenceDeps {
  storage: Pick<Storage, 'conferences' | 'jobs' | 'users' | 'topics'>;
  bus: EventBus;
  directory: MemberDirectory;
  messages: Pick<MessageService, 'send'>;
  /** The Janus client; null: no media configured. */
  media: JanusClient | null;
  settings: ConferenceSettings;
  tokenSecret: string;
  nodeId: string;
  now?: () => number;
}

export interface ParticipantInput {
  user_id: string;
  name: string;
  role: 'client' | 'specialist';
}

export interface CreateInput {
  user_id: string;
  user_role: 'client' | 'specialist';
  info: {
    title: string;
    starts_at: number;
    duration_seconds: number;
    vertical: 'medicine' | 'general';
    language: 'ru' | 'en' | 'he' | 'zh';
    participants: ParticipantInput[];
    conversation_id?: string;
    topic_id?: string;
  };
}

export interface IssuedAccess {
  user_id: string;
  name: string;
  role: 'client' | 'specialist';
  access_token: string;
  link: string;
}

export interface CreateResult {
  conference: ConferenceInfo;
  access_token: string;
  participants: IssuedAccess[];
}

/** A conference token's holder, checked against storage. */
export interface Holder {
  conference: Conference;
  participant: ConferenceParticipant;
}

const USER_ID_RE = /^[A-Za-z0-9_.@:-]{1,64}$/;
const ATTEMPTS = 8;
const invalid = (field: string, message: string) => fail('conference.invalid', message, { field });

export class ConferenceService {
  readonly #d: ConferenceDeps;
  readonly #now: () => number;
  readonly #ice: ConferenceIceServer[];
  /** A job was enqueued (the local runner looks at once). */
  onJob: (() => void) | null = null;

  constructor(deps: ConferenceDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#ice = parseIce(deps.settings.iceServers);
  }

  get media(): JanusClient | null {
    return this.#d.media;
  }

  // ---- the booking system (API key) -------------------------------------------------------

  async create(p: Principal, input: CreateInput, origin: string): Promise<CreateResult> {
    requireApp(p, 'creates conferences');
    const tenantId = p.tenantId;
    const info = input.info;
    const s = this.#d.settings;
    if (!USER_ID_RE.test(input.user_id)) throw invalid('user_id', 'user_id is 1–64 of A–Z a–z 0–9 _ . @ : -.');
    const parts = info.participants;
    if (parts.length < 1 || parts.length > s.maxParticipants) throw invalid('info.participants', `A conference has 1 to ${s.maxParticipants} participants.`);
    const seen = new Set<string>();
    for (const x of parts) {
      if (!USER_ID_RE.test(x.user_id)) throw invalid('info.participants.user_id', `Participant id ${JSON.stringify(x.user_id)}: 1–64 of A–Z a–z 0–9 _ . @ : -.`);
      if (seen.has(x.user_id)) throw invalid('info.participants.user_id', `Participant ${x.user_id} is listed twice.`);
      seen.add(x.user_id);
      if (x.name.trim() === '') throw invalid('info.participants.name', 'A participant\'s name is not empty.');
    }
    if (!parts.some((x) => x.role === 'specialist')) throw invalid('info.participants', 'A conference has at least one specialist.');
    const creator = parts.find((x) => x.user_id === input.user_id);
    if (!creator || creator.role !== input.user_role) {
      throw invalid('user_id', 'The creating user is one of the participants, with the role given in user_role.');
    }
    if (info.title.trim() === '') throw invalid('info.title', 'The title is not empty.');
    if (!Number.isSafeInteger(info.starts_at) || info.starts_at <= 0) throw invalid('info.starts_at', 'starts_at is a time in ms since the epoch.');
    if (!Number.isInteger(info.duration_seconds) || info.duration_seconds < 1 || info.duration_seconds > 86_400) throw invalid('info.duration_seconds', 'duration_seconds is 1 to 86400.');
    if (info.topic_id !== undefined && info.conversation_id === undefined) throw invalid('info.topic_id', 'A topic belongs to a conversation: give conversation_id too.');
    if (info.conversation_id !== undefined) {
      const entry = await this.#d.directory.get(tenantId, info.conversation_id);
      if (!entry) throw fail('conversation.not_found');
      if (info.topic_id !== undefined) {
        const topic = await this.#d.storage.topics.get(tenantId, info.topic_id);
        if (!topic || topic.session_id !== info.conversation_id) throw fail('topic.not_found');
      }
    }
    const now = this.#now();
    const users = await Promise.all(parts.map((x) => this.#d.storage.users.getUser(tenantId, x.user_id)));
    const tokens = parts.map(() => newAccessToken());
    const conf: Conference = {
      tenant_id: tenantId, id: `cf_${newId()}`, status: 'scheduled', title: info.title, starts_at: info.starts_at, duration_seconds: info.duration_seconds,
      ends_at: info.starts_at + info.duration_seconds * 1000, vertical: info.vertical, language: info.language,
      created_by: input.user_id, created_by_role: input.user_role, created_at: now, opened_at: null, started_at: null, ended_at: null, end_reason: null,
      conversation_id: info.conversation_id ?? null, topic_id: info.topic_id ?? null,
      room: randomInt(1, 2 ** 47), room_secret: randomBytes(18).toString('base64url'), room_pin: randomBytes(9).toString('base64url'),
      arrived_at: null, admitted_at: null, version: 1, info_version: 1,
      participants: parts.map((x, i) => ({
        user_id: x.user_id, name: x.name, role: x.role, careline_user: users[i] !== null && users[i]!.id !== 'system', token_version: 1, revoked_at: null,
        joined_at: null, left_at: null,
      })),
    };
    // The end of time first: if this node dies after the conference is stored, it still ends.
    await this.#endJob(conf, conf.ends_at);
    const stored = await this.#d.storage.conferences.create(conf, {
      transition: { from: null, to: 'scheduled', action: 'create', by: 'api', reason: null, at: now, node: this.#d.nodeId },
      issue: parts.map((x, i) => ({ hash: hashAccessToken(tokens[i]!), user_id: x.user_id, version: 1 })),
    });
    const base = (s.linkBaseUrl || origin).replace(/\/+$/, '');
    const issued = parts.map((x, i) => ({ user_id: x.user_id, name: x.name, role: x.role, access_token: tokens[i]!, link: `${base}/conf/${tokens[i]!}` }));
    return { conference: this.info(stored), access_token: issued.find((x) => x.user_id === input.user_id)!.access_token, participants: issued };
  }

  async get(p: Principal, id: string): Promise<ConferenceInfo> {
    requireApp(p, 'reads a conference by id');
    return this.info(await this.#read(p.tenantId, id));
  }

  async transitions(p: Principal, id: string): Promise<ConferenceTransition[]> {
    requireApp(p, 'reads a conference\'s transitions');
    await this.#read(p.tenantId, id);
    return this.#d.storage.conferences.transitions(p.tenantId, id);
  }

  async update(p: Principal, id: string, patch: machine.InfoPatch): Promise<{ conference: ConferenceInfo; changed: boolean }> {
    requireApp(p, 'changes a conference');
    if (patch.title !== undefined && patch.title.trim() === '') throw invalid('title', 'The title is not empty.');
    if (patch.duration_seconds !== undefined && (!Number.isInteger(patch.duration_seconds) || patch.duration_seconds < 1 || patch.duration_seconds > 86_400)) {
      throw invalid('duration_seconds', 'duration_seconds is 1 to 86400.');
    }
    const r = await this.#change(p.tenantId, id, (c) => machine.update(c, patch), async (ch) => {
      if (ch.changed?.includes('ends_at')) await this.#endJob(ch.next, ch.next.ends_at);
    });
    return { conference: this.info(r.conference), changed: r.changed };
  }

  async openByApi(p: Principal, id: string, reason?: string): Promise<{ conference: ConferenceInfo; changed: boolean }> {
    requireApp(p, 'opens a conference by id');
    const r = await this.#change(p.tenantId, id, (c, now) => machine.open(c, { by: 'api' }, now, this.#openEarlyMs, reason ?? null));
    return { conference: this.info(r.conference), changed: r.changed };
  }

  async cancel(p: Principal, id: string, reason?: string): Promise<{ conference: ConferenceInfo; changed: boolean }> {
    requireApp(p, 'cancels a conference');
    const r = await this.#change(p.tenantId, id, (c, now) => machine.cancel(c, { by: 'api' }, now, reason ?? null));
    return { conference: this.info(r.conference), changed: r.changed };
  }

  async finishByApi(p: Principal, id: string, reason?: string): Promise<{ conference: ConferenceInfo; changed: boolean }> {
    requireApp(p, 'finishes a conference by id');
    const r = await this.#change(p.tenantId, id, (c, now) => machine.finish(c, { by: 'api' }, now, reason ?? null));
    return { conference: this.info(r.conference), changed: r.changed };
  }

  async revoke(p: Principal, id: string, userId: string): Promise<ConferenceInfo> {
    requireApp(p, 'revokes a participant\'s access');
    const now = this.#now();
    const r = await this.#change(p.tenantId, id, (c) => machine.revoke(c, userId, now), undefined, () => ({ revokeTokensOf: [userId], at: now }));
    const c = r.conference;
    const part = c.participants.find((x) => x.user_id === userId)!;
    if (r.changed) {
      this.#d.bus.publish({ kind: 'conference.changed', tenant_id: c.tenant_id, conference: this.info(c), event: 'revoked', user_id: userId, at: now, careline_users: [] });
      await this.#disallow(c, [part]).catch(() => {});
    }
    return this.info(c);
  }

  async reissue(p: Principal, id: string, userId: string, origin: string): Promise<IssuedAccess> {
    requireApp(p, 'issues access tokens');
    const token = newAccessToken();
    const now = this.#now();
    const before = await this.#read(p.tenantId, id);
    const r = await this.#change(p.tenantId, id, (c) => machine.reissue(c, userId), undefined, (ch) => {
      const np = ch.next.participants.find((x) => x.user_id === userId)!;
      return { revokeTokensOf: [userId], issue: [{ hash: hashAccessToken(token), user_id: userId, version: np.token_version }], at: now };
    });
    const c = r.conference;
    const part = c.participants.find((x) => x.user_id === userId)!;
    const old = before.participants.find((x) => x.user_id === userId)!;
    this.#d.bus.publish({ kind: 'conference.changed', tenant_id: c.tenant_id, conference: this.info(c), event: 'revoked', user_id: userId, at: now, careline_users: [] });
    await this.#disallow(c, [old]).catch(() => {});
    if (c.status === 'started') await this.#allow(c, [part]).catch(() => {});
    const base = (this.#d.settings.linkBaseUrl || origin).replace(/\/+$/, '');
    return { user_id: part.user_id, name: part.name, role: part.role, access_token: token, link: `${base}/conf/${token}` };
  }

  // ---- the participant (access token, conference token) --------------------------------------

  /** The seed's `exchange(access_token)`: a conference token and what the page shows. 401 for a bad token. */
  async exchange(accessToken: string): Promise<ConferenceExchange> {
    if (typeof accessToken !== 'string' || !ACCESS_TOKEN_RE.test(accessToken)) throw fail('conference.access_denied');
    const h = await this.byAccessToken(accessToken);
    const now = this.#now();
    const expires = Math.min(now + this.#d.settings.tokenTtlSeconds * 1000, this.#accessExpiry(h.conference));
    const token = signConferenceToken(this.#d.tokenSecret, {
      t: h.conference.tenant_id, c: h.conference.id, u: h.participant.user_id, v: h.participant.token_version, e: expires,
    });
    return { conference_token: token, expires_at: expires, ...(await this.view(h)) };
  }

  /** The holder of an access token (401 when wrong, revoked or expired). */
  async byAccessToken(accessToken: string): Promise<Holder> {
    if (!ACCESS_TOKEN_RE.test(accessToken)) throw fail('conference.access_denied');
    const row = await this.#d.storage.conferences.token(hashAccessToken(accessToken));
    if (!row) throw fail('conference.access_denied');
    if (row.revoked_at !== null) throw fail('conference.access_revoked');
    const c = await this.#d.storage.conferences.get(row.tenant_id, row.conference_id);
    const part = c?.participants.find((x) => x.user_id === row.user_id);
    if (!c || !part) throw fail('conference.access_denied');
    if (part.revoked_at !== null || part.token_version !== row.version) throw fail('conference.access_revoked');
    if (this.#now() >= this.#accessExpiry(c)) throw fail('conference.access_expired');
    return { conference: c, participant: part };
  }

  /** The holder of a conference token (401 when wrong, revoked or expired). */
  async byConferenceToken(token: string | undefined): Promise<Holder> {
    if (!token) throw fail('conference.access_denied', 'Send the conference token: Authorization: Bearer <conference_token>.');
    const claims = verifyConferenceToken(this.#d.tokenSecret, token, this.#now());
    const c = await this.#d.storage.conferences.get(claims.t, claims.c);
    const part = c?.participants.find((x) => x.user_id === claims.u);
    if (!c || !part) throw fail('conference.access_denied');
    if (part.revoked_at !== null || part.token_version !== claims.v) throw fail('conference.access_revoked');
    if (this.#now() >= this.#accessExpiry(c)) throw fail('conference.access_expired');
    return { conference: c, participant: part };
  }

  async accessInfo(token: string | undefined): Promise<ConferenceAccess> {
    return this.view(await this.byConferenceToken(token));
  }

  async accessOpen(token: string | undefined): Promise<ConferenceAccess & { changed: boolean }> {
    const h = await this.byConferenceToken(token);
    const actor = { by: h.participant.user_id, role: h.participant.role };
    const r = await this.#change(h.conference.tenant_id, h.conference.id, (c, now) => machine.open(c, actor, now, this.#openEarlyMs));
    return { ...(await this.view({ conference: r.conference, participant: h.participant })), changed: r.changed };
  }

  async accessFinish(token: string | undefined): Promise<ConferenceAccess & { changed: boolean }> {
    const h = await this.byConferenceToken(token);
    const actor = { by: h.participant.user_id, role: h.participant.role };
    const r = await this.#change(h.conference.tenant_id, h.conference.id, (c, now) => machine.finish(c, actor, now));
    return { ...(await this.view({ conference: r.conference, participant: h.participant })), changed: r.changed };
  }

  /** Joins: the first join starts the conference; the Janus room is created before (idempotent). */
  async accessJoin(token: string | undefined): Promise<ConferenceAccess & { changed: boolean }> {
    const h = await this.byConferenceToken(token);
    const userId = h.participant.user_id;
    const waiting = await this.#isWaitingRoom(h.conference);
    // Checked here first so that a refused join creates no room.
    machine.join(h.conference, userId, this.#now(), { mustBeAdmitted: waiting });
    await this.#ensureRoom(h.conference);
    const r = await this.#change(h.conference.tenant_id, h.conference.id, (c, now) => machine.join(c, userId, now, { mustBeAdmitted: waiting }));
    return { ...(await this.view({ conference: r.conference, participant: h.participant })), changed: r.changed };
  }

  async accessLeave(token: string | undefined): Promise<ConferenceAccess & { changed: boolean }> {
    const h = await this.byConferenceToken(token);
    const r = await this.#change(h.conference.tenant_id, h.conference.id, (c, now) => machine.leave(c, h.participant.user_id, now));
    return { ...(await this.view({ conference: r.conference, participant: h.participant })), changed: r.changed };
  }

  /** A waiting-room client arrives: they join the queue (idempotent). */
  async accessArrive(token: string | undefined): Promise<ConferenceAccess & { changed: boolean }> {
    const h = await this.byConferenceToken(token);
    if (!(await this.#isWaitingRoom(h.conference))) throw fail('conference.not_waiting_room');
    if (h.participant.role !== 'client') throw fail('conference.invalid', 'Only the client arrives in the waiting room.', { field: 'role' });
    const r = await this.#change(h.conference.tenant_id, h.conference.id, (c, now) => machine.arrive(c, now));
    if (r.changed) await this.#publishQueue(r.conference.tenant_id, r.conference.conversation_id!);
    return { ...(await this.view({ conference: r.conference, participant: h.participant })), changed: r.changed };
  }

  /** A specialist of a conference in a waiting room admits the first client waiting there. */
  async accessAdmitNext(token: string | undefined): Promise<{ admitted: ConferenceInfo; queue_length: number }> {
    const h = await this.byConferenceToken(token);
    if (h.participant.role !== 'specialist') throw fail('conference.not_specialist', 'Only a specialist admits from the waiting room.');
    if (!(await this.#isWaitingRoom(h.conference))) throw fail('conference.not_waiting_room');
    return this.#admitNext(h.conference.tenant_id, h.conference.conversation_id!, h.participant.user_id);
  }

  // ---- the waiting room for Careline users -----------------------------------------------------

  async waitingRoom(p: Principal, conversationId: string): Promise<{ waiting: { conference_id: string; client: { user_id: string; name: string } | null; arrived_at: number; position: number }[] }> {
    await this.#requireRoomStaff(p, conversationId);
    const list = await this.#d.storage.conferences.waiting(p.tenantId, conversationId);
    return {
      waiting: list.map((c, i) => {
        const client = c.participants.find((x) => x.role === 'client');
        return { conference_id: c.id, client: client ? { user_id: client.user_id, name: client.name } : null, arrived_at: c.arrived_at!, position: i + 1 };
      }),
    };
  }

  async admitNextAsUser(p: Principal, conversationId: string): Promise<{ admitted: ConferenceInfo; queue_length: number }> {
    await this.#requireRoomStaff(p, conversationId);
    return this.#admitNext(p.tenantId, conversationId, p.kind === 'user' ? p.userId : 'api');
  }

  async #requireRoomStaff(p: Principal, conversationId: string): Promise<void> {
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    if (entry.conversation.type !== WAITING_ROOM_TYPE) throw fail('conference.not_waiting_room');
    if (p.kind === 'user' && !isCareTeamRole(p.role) && p.role !== 'admin') throw fail('auth.forbidden', 'Only the care team admits from the waiting room.');
  }

  async #admitNext(tenantId: string, conversationId: string, by: string): Promise<{ admitted: ConferenceInfo; queue_length: number }> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const list = await this.#d.storage.conferences.waiting(tenantId, conversationId);
      const first = list[0];
      if (!first) throw fail('conference.queue_empty');
      const ch = machine.admit(first, { by, role: 'specialist' }, this.#now());
      const written = await this.#write(first, ch);
      if (!written) continue;
      await this.#publishQueue(tenantId, conversationId, written.id);
      return { admitted: this.info(written), queue_length: list.length - 1 };
    }
    throw fail('server.unavailable', 'The waiting room kept changing; try again.');
  }

  async #publishQueue(tenantId: string, conversationId: string, admitted?: string): Promise<void> {
    const list = await this.#d.storage.conferences.waiting(tenantId, conversationId);
    this.#d.bus.publish({ kind: 'conference.queue', tenant_id: tenantId, conversation_id: conversationId, waiting: list.map((c) => c.id), ...(admitted ? { admitted } : {}) });
  }

  // ---- the scheduler ---------------------------------------------------------------------------

  /**
   * The `conference.end` job: at the end time a running conference finishes (`time`); an ended
   * one is torn down (its room destroyed, its Janus tokens removed, its summary posted).
   * Idempotent; runs on one node at a time (the job's lease).
   */
  async tick(tenantId: string, id: string): Promise<void> {
    let c = await this.#d.storage.conferences.get(tenantId, id);
    if (!c) return;
    if (!machine.FINAL.has(c.status)) {
      const r = await this.#change(tenantId, id, (x, now) => machine.expire(x, now), undefined, undefined, false);
      c = r.conference;
      if (!machine.FINAL.has(c.status)) return;
    }
    await this.#teardown(c);
  }

  async #teardown(c: Conference): Promise<void> {
    if (this.#d.media) {
      await this.#d.media.destroyRoom(c.room, c.room_secret);
      await this.#disallow(c, c.participants);
    }
    if (c.conversation_id !== null && c.end_reason !== 'cancelled') await this.#summary(c);
  }

  /** The summary of an ended conference, in its conversation (the open consultation gets it): once, by its client id. */
  async #summary(c: Conference): Promise<void> {
    const seconds = c.started_at !== null && c.ended_at !== null ? Math.max(0, Math.round((c.ended_at - c.started_at) / 1000)) : 0;
    const joined = c.participants.filter((x) => x.joined_at !== null);
    const minutes = Math.round(seconds / 60);
    const names = c.participants.map((x) => x.name).join(', ');
    const content = {
      text: `Video consultation ended: ${minutes} min, ${joined.length} participant${joined.length === 1 ? '' : 's'} (${names}).`,
      event: 'conference.ended',
      data: {
        conference_id: c.id, topic_id: c.topic_id, duration_seconds: seconds, end_reason: c.end_reason,
        participants: c.participants.map((x) => ({ user_id: x.user_id, name: x.name, role: x.role, joined: x.joined_at !== null })),
      },
    };
    const app: Principal = { kind: 'app', tenantId: c.tenant_id, appId: 'conferences' };
    try {
      await this.#d.messages.send(app, c.conversation_id!, { type: MessageTypes.SYSTEM, content, client_id: `conference:${c.id}` });
    } catch (err) {
      // The conversation went away meanwhile: nothing to post to.
      if ((err as { code?: string }).code === 'conversation.not_found') return;
      throw err;
    }
  }

  // ---- shared --------------------------------------------------------------------------------

  info(c: Conference): ConferenceInfo {
    return {
      id: c.id, status: c.status, title: c.title, starts_at: c.starts_at, duration_seconds: c.duration_seconds, ends_at: c.ends_at,
      vertical: c.vertical, language: c.language,
      participants: c.participants.map((x) => ({ user_id: x.user_id, name: x.name, role: x.role, careline_user: x.careline_user, joined_at: x.joined_at, left_at: x.left_at })),
      created_by: { user_id: c.created_by, role: c.created_by_role }, created_at: c.created_at, opened_at: c.opened_at, started_at: c.started_at,
      ended_at: c.ended_at, end_reason: c.end_reason, conversation_id: c.conversation_id, topic_id: c.topic_id, version: c.version, info_version: c.info_version,
    };
  }

  /** What a participant's page shows: the conference, who they are, their queue place, the media once started. */
  async view(h: Holder): Promise<ConferenceAccess> {
    const c = h.conference;
    const part = c.participants.find((x) => x.user_id === h.participant.user_id) ?? h.participant;
    const waiting = await this.#isWaitingRoom(c);
    return {
      conference: this.info(c),
      participant: { user_id: part.user_id, name: part.name, role: part.role },
      queue: waiting && part.role === 'client' ? await this.queueOf(c) : null,
      media: c.status === 'started' && (!waiting || part.role !== 'client' || c.admitted_at !== null) ? this.#mediaFor(c, part) : null,
      server_time: this.#now(),
    };
  }

  /** A waiting-room client's place. */
  async queueOf(c: Conference): Promise<ConferenceQueue> {
    const list = c.conversation_id !== null ? await this.#d.storage.conferences.waiting(c.tenant_id, c.conversation_id) : [];
    const i = list.findIndex((x) => x.id === c.id);
    return { position: i < 0 ? null : i + 1, waiting: list.length, admitted: c.admitted_at !== null };
  }

  async isWaitingRoom(c: Conference): Promise<boolean> {
    return this.#isWaitingRoom(c);
  }

  async #isWaitingRoom(c: Conference): Promise<boolean> {
    if (c.conversation_id === null) return false;
    const entry = await this.#d.directory.get(c.tenant_id, c.conversation_id);
    return entry?.conversation.type === WAITING_ROOM_TYPE;
  }

  #mediaFor(c: Conference, part: ConferenceParticipant): ConferenceMedia | null {
    const s = this.#d.settings;
    if (!this.#d.media) return null;
    return {
      janus: { http_url: s.janusPublicUrl || s.janusUrl, ws_url: s.janusPublicWsUrl },
      token: janusToken(this.#d.tokenSecret, c.tenant_id, c.id, part.user_id, part.token_version),
      room: c.room, pin: c.room_pin, display: part.name, ice_servers: this.#ice,
    };
  }

  #tokensOf(c: Conference, parts: readonly ConferenceParticipant[]): string[] {
    return parts.map((x) => janusToken(this.#d.tokenSecret, c.tenant_id, c.id, x.user_id, x.token_version));
  }

  /** The room exists with every participant's token allowed (idempotent; any node). */
  async #ensureRoom(c: Conference): Promise<void> {
    const media = this.#d.media;
    if (!media) return;
    const parts = c.participants.filter((x) => x.revoked_at === null);
    const tokens = this.#tokensOf(c, parts);
    await media.createRoom({ room: c.room, secret: c.room_secret, pin: c.room_pin, description: c.title, allowed: tokens, publishers: Math.max(2, c.participants.length) });
    await media.allow(c.room, c.room_secret, tokens);
  }

  async #allow(c: Conference, parts: readonly ConferenceParticipant[]): Promise<void> {
    if (this.#d.media) await this.#d.media.allow(c.room, c.room_secret, this.#tokensOf(c, parts));
  }

  async #disallow(c: Conference, parts: readonly ConferenceParticipant[]): Promise<void> {
    if (this.#d.media) await this.#d.media.disallow(this.#tokensOf(c, parts), { room: c.room, secret: c.room_secret });
  }

  get #openEarlyMs(): number {
    return this.#d.settings.openEarlySeconds * 1000;
  }

  #accessExpiry(c: Conference): number {
    return c.ends_at + this.#d.settings.accessTtlAfterEndSeconds * 1000;
  }

  async #read(tenantId: string, id: string): Promise<Conference> {
    const c = await this.#d.storage.conferences.get(tenantId, id);
    if (!c) throw fail('conference.not_found');
    return c;
  }

  /**
   * Computes a change over the conference as read and writes it over that version; another
   * node first: again. `before` runs before the write (a job the change needs), `extra` adds
   * token writes. Events are published after the write; an end enqueues the teardown now.
   */
  async #change(
    tenantId: string, id: string, fn: (c: Conference, now: number) => machine.Change | null,
    before?: (ch: machine.Change) => Promise<void>, extra?: (ch: machine.Change) => ConferenceWrite, teardownNow = true,
  ): Promise<{ conference: Conference; changed: boolean }> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const c = await this.#read(tenantId, id);
      const ch = fn(c, this.#now());
      if (!ch) return { conference: c, changed: false };
      await before?.(ch);
      const written = await this.#write(c, ch, extra?.(ch), teardownNow);
      if (written) return { conference: written, changed: true };
    }
    throw fail('server.unavailable', 'The conference kept changing; try again.');
  }

  async #write(c: Conference, ch: machine.Change, extra: ConferenceWrite = {}, teardownNow = true): Promise<Conference | null> {
    const next = { ...ch.next, version: c.version };
    const written = await this.#d.storage.conferences.update(next, {
      ...extra, ...(ch.transition ? { transition: { ...ch.transition, node: this.#d.nodeId } } : {}),
    });
    if (!written) return null;
    const careline = written.participants.filter((x) => x.careline_user).map((x) => x.user_id);
    const info = this.info(written);
    if (ch.transition) {
      const t = ch.transition;
      this.#d.bus.publish({
        kind: 'conference.changed', tenant_id: written.tenant_id, conference: info, event: 'status', previous: t.from, action: t.action, by: t.by, at: t.at, careline_users: careline,
      });
      if (machine.FINAL.has(written.status)) {
        if (written.conversation_id !== null && c.arrived_at !== null && c.admitted_at === null) await this.#publishQueue(written.tenant_id, written.conversation_id).catch(() => {});
        if (teardownNow) await this.#endJob(written, this.#now());
      }
    } else if (ch.changed?.length) {
      this.#d.bus.publish({ kind: 'conference.changed', tenant_id: written.tenant_id, conference: info, event: 'info', changed: ch.changed, at: this.#now(), careline_users: careline });
    }
    return written;
  }

  async #endJob(c: Pick<Conference, 'tenant_id' | 'id'>, at: number): Promise<void> {
    await this.#d.storage.jobs.enqueue([{
      tenant_id: c.tenant_id, kind: CONFERENCE_END_JOB, payload: { conference_id: c.id }, dedupe_key: `${c.id}:${at}`, run_at: at, max_attempts: 20,
    }], this.#now());
    this.onJob?.();
  }
}

function parseIce(text: string): ConferenceIceServer[] {
  if (!text.trim()) return [];
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('conferences.iceServers is not JSON (an array of RTCIceServer objects)');
  }
  if (!Array.isArray(v) || !v.every((x) => x && typeof x === 'object' && (typeof (x as { urls?: unknown }).urls === 'string' || Array.isArray((x as { urls?: unknown }).urls)))) {
    throw new Error('conferences.iceServers is an array of RTCIceServer objects ({urls, username?, credential?})');
  }
  return v as ConferenceIceServer[];
}
