/**
 * The front desk's actions (docs/desk.md): visitors made by a widget key, seed 002's state
 * init, messages and visit tracking, the triage queue (claim, transfer, close, acknowledge),
 * SLA escalation and statistics. An organisation is a tenant; a visitor is a Careline user of
 * it (role patient) with a desk row; a chat is a Careline conversation (type 4, id = the chat
 * id) with a desk row holding its queue state. Chat messages go through `MessageService` (their
 * `mid` is the message's client id), so delivery, catch-up and push are Careline's; desk events
 * are stored (`desk_events`) and published on the bus (`desk.event`) to the organisation's
 * staff and the chat's visitor on every node.
 */
import { createHash } from 'node:crypto';
import { ConversationTypes, MessageTypes } from '@careline/protocol';
import type { Core } from '../core.ts';
import type { Principal } from '../domain/types.ts';
import { fail, isAppError } from '../domain/errors.ts';
import { newId, randomToken } from '../domain/ids.ts';
import type { NodeRegistry } from '../domain/ports.ts';
import { DeskLimits } from './limits.ts';
import { CHAT_ID_RE, isTidOf, MID_RE, newChatId, newMid, newSid, newTid, newVid } from './ids.ts';
import { OUTCOMES, type Ack, type Chat, type ChatChange, type DeskStaff, type Visit, type Visitor, type WidgetKey } from './types.ts';
import { seedChat, seedEvent, seedMessage, seedRole, type SeedFrom } from './wire.ts';

export const DESK_SLA_JOB = 'desk.sla';
export const DESK_ESCALATED_KIND = 'DESK_ESCALATED';
const STAFF_ROLES = new Set(['staff', 'doctor', 'admin']);
const TRACK_FIELD_MAX = 2048;
const TRACK_BODY_MAX = 8 * 1024;
const NOTE_MAX = 1000;
const STATE_MSGS = 50;
/** Visitors considered for the online list: seen within this long. */
const ONLINE_WINDOW_MS = 24 * 3600_000;
const ONLINE_MAX = 1000;
/** Most stored events one pull catches up; the rest come on the next pulls. */
export const CATCH_UP_MAX = 200;
/** `users_changed` events of an organisation are coalesced over this long. */
const USERS_CHANGED_MS = 300;

type UserPrincipal = Principal & { kind: 'user' };

export type Caller =
  | { kind: 'visitor'; p: UserPrincipal; visitor: Visitor; name: string }
  | { kind: 'staff'; p: UserPrincipal; staff: DeskStaff; name: string };

/** Seed 002's message body as posted (`mid` left out). */
export interface SeedBody {
  cid?: string;
  mid?: string;
  type: string;
  from?: { id?: string; name?: string; role?: string };
  chat?: { id?: string };
  text?: string;
  file?: { name?: string; src?: string; size?: number };
  image?: { src?: string; width?: number; height?: number; size?: number };
  event?: { chat?: { id?: string }; uids?: string[]; team_id?: string };
}

export interface TrackBody {
  uid?: string;
  fp?: string;
  cid?: string;
  url?: string;
  title?: string;
  referer?: string;
  os?: string;
  browser?: string;
}

export interface DeskStats {
  chats: number;
  claimed: number;
  closed: number;
  abandoned: number;
  waiting: { count: number; p50_ms: number | null; p90_ms: number | null };
  first_response: { count: number; p50_ms: number | null; p90_ms: number | null };
  per_staff: { uid: string; claimed: number; closed: number; first_response_p50_ms: number | null }[];
  queue_now: number;
}

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** The p-th percentile (nearest rank) of sorted numbers; null for none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A transfer event as its visitor sees it: without the staff's note. */
function withoutNote(body: Record<string, unknown>): Record<string, unknown> {
  const { note: _note, ...event } = body['event'] as Record<string, unknown>;
  return { ...body, event };
}

export class DeskService {
  readonly #core: Core;
  readonly #now: () => number;
  readonly #limits: DeskLimits;
  #registry: Pick<NodeRegistry, 'address' | 'lookup'> | null = null;
  /** Staff rows known on this node (tenant\0user → row): `ensureStaff` writes only the first time. */
  readonly #staff = new Map<string, DeskStaff>();
  /** Visitors whose visit changed, per organisation, told to staff together (`users_changed`). */
  readonly #changed = new Map<string, Set<string>>();
  /** Tenants whose escalation notification kind is registered (this process). */
  readonly #kinds = new Set<string>();
  /** A SLA job was enqueued (the local runner looks at once). */
  onSla: (() => void) | null = null;

  constructor(core: Core, now: () => number = Date.now) {
    this.#core = core;
    this.#now = now;
    this.#limits = new DeskLimits(core.redis, core.config.desk.rateWindowSeconds, now);
  }

  get store() {
    return this.#core.storage.desk;
  }

  /** The push-node registry (seed 002's `pushers`), known once the real-time layer runs. */
  attach(registry: Pick<NodeRegistry, 'address' | 'lookup'>): void {
    this.#registry = registry;
  }

  #app(tenantId: string): Principal {
    return { kind: 'app', tenantId, appId: 'desk' };
  }

  // ---- who calls ---------------------------------------------------------------------------

  /** The desk identity of a signed-in user: staff (role staff, doctor, admin) or a visitor; `desk.not_staff` otherwise. */
  async caller(p: UserPrincipal, name = ''): Promise<Caller> {
    if (STAFF_ROLES.has(p.role)) return { kind: 'staff', p, staff: await this.#ensureStaff(p.tenantId, p.userId), name };
    const visitor = await this.store.getVisitor(p.tenantId, p.userId);
    if (!visitor) throw fail('desk.not_staff', 'This user is neither staff nor a visitor of the organisation.');
    return { kind: 'visitor', p, visitor, name };
  }

  async staffCaller(p: UserPrincipal, name = ''): Promise<Caller & { kind: 'staff' }> {
    if (!STAFF_ROLES.has(p.role)) throw fail('desk.not_staff');
    return { kind: 'staff', p, staff: await this.#ensureStaff(p.tenantId, p.userId), name };
  }

  async #ensureStaff(tenantId: string, userId: string): Promise<DeskStaff> {
    const k = `${tenantId}\0${userId}`;
    const known = this.#staff.get(k);
    if (known) return known;
    let row = await this.store.getStaff(tenantId, userId);
    if (!row) {
      row = await this.store.ensureStaff(tenantId, userId, newSid(), this.#now());
    }
    if (this.#staff.size > 50_000) this.#staff.clear();
    this.#staff.set(k, row);
    return row;
  }

  /** `cid`, when given, must be the caller's organisation. */
  checkOrganisation(tenantId: string, cid: string | undefined): void {
    if (cid !== undefined && cid !== '' && cid !== tenantId) throw fail('desk.wrong_organisation', undefined, { cid });
  }

  // ---- widget keys ---------------------------------------------------------------------------

  async createKey(tenantId: string, input: { name?: string; origins?: string[] }): Promise<{ key: string; record: WidgetKey }> {
    const key = `dwk_${randomToken(32)}`;
    const record: WidgetKey = {
      tenant_id: tenantId, id: newId(), key_hash: hashKey(key), name: input.name ?? '', origins: input.origins ?? [], created_at: this.#now(), revoked_at: null,
    };
    await this.store.createKey(record);
    return { key, record };
  }

  async revokeKey(tenantId: string, id: string): Promise<void> {
    if (!(await this.store.revokeKey(tenantId, id, this.#now()))) throw fail('desk.key_invalid', 'No such live widget key.');
  }

  /** The organisation of a widget key; `desk.key_invalid`, or `desk.key_forbidden` for an origin the key does not allow. */
  async keyTenant(key: string, origin: string | undefined): Promise<WidgetKey> {
    const k = /^dwk_[A-Za-z0-9_-]{20,100}$/.test(key) ? await this.store.keyByHash(hashKey(key)) : null;
    if (!k || k.revoked_at !== null) throw fail('desk.key_invalid');
    if (k.origins.length > 0 && (origin === undefined || !k.origins.includes(origin))) throw fail('desk.key_forbidden', undefined, { origin: origin ?? null });
    return k;
  }

  // ---- state init ----------------------------------------------------------------------------

  /** A new visitor of the key's organisation (rate-limited per address and fingerprint), signed in. */
  async createVisitor(key: WidgetKey, fp: string, ip: string): Promise<{ p: UserPrincipal; token: string; expiresAt: number; visitor: Visitor }> {
    const cfg = this.#core.config.desk;
    await this.#limits.hit(`ip:${key.tenant_id}:${ip}`, cfg.visitorsPerIp);
    await this.#limits.hit(`fp:${key.tenant_id}:${fp}`, cfg.visitorsPerFingerprint);
    const now = this.#now();
    const vid = newVid();
    await this.#core.storage.users.upsertUser(key.tenant_id, { id: vid, role: 'patient', name: '', avatar: null, disabled: false }, now);
    const visitor: Visitor = {
      tenant_id: key.tenant_id, id: vid, fp, created_at: now, seen_at: now, track_id: null, url: null, title: null, referer: null, os: null, browser: null, patient_id: null,
    };
    await this.store.createVisitor(visitor);
    const login = await this.#core.auth.login(key.tenant_id, vid, { platform: 'web', device_id: fp.slice(0, 128) });
    return { p: { kind: 'user', tenantId: key.tenant_id, userId: vid, role: 'patient', sessionId: login.session_id }, token: login.token, expiresAt: login.expires_at, visitor };
  }

  /** Seed 002's state: the caller's chats with their last messages, and the version (a mid taken before the reads). */
  async stateInit(c: Caller, trackId: string | undefined): Promise<Record<string, unknown>> {
    const version = newMid(this.#now());
    const tenantId = c.p.tenantId;
    const owner = c.kind === 'visitor' ? c.visitor.id : c.staff.sid;
    const track = trackId !== undefined && isTidOf(trackId, owner) ? trackId : newTid(owner, this.#now());
    let chats: Chat[];
    if (c.kind === 'visitor') {
      const all = await this.store.chatsOfVisitor(tenantId, c.visitor.id, 10);
      const open = all.filter((x) => x.state !== 'closed');
      const lastClosed = all.find((x) => x.state === 'closed');
      chats = lastClosed && open.length === 0 ? [lastClosed] : open;
    } else {
      chats = await this.store.chatsOfStaff(tenantId, c.p.userId);
    }
    const positions = await this.#positions(tenantId, chats);
    const out = [];
    for (const chat of chats) {
      out.push(seedChat(chat, { position: positions.get(chat.id) ?? 0, msgs: await this.#msgs(c.p, chat), staff: c.kind === 'staff' }));
    }
    const addr = (await this.#registry?.lookup(tenantId, c.p.userId).catch(() => null)) ?? this.#registry?.address ?? '';
    return {
      code: 0, uid: c.p.userId, addr, track_id: track, role: c.kind === 'visitor' ? 'user' : 'staff', cid: tenantId,
      state: { chats: out, version },
    };
  }

  async #msgs(p: Principal, chat: Chat): Promise<unknown[]> {
    try {
      const { messages } = await this.#core.messages.history(p, chat.id, { limit: STATE_MSGS });
      const senders = new Map((await this.#core.storage.users.getUsers(p.tenantId, [...new Set(messages.map((m) => m.sender_id))])).map((u) => [u.id, u]));
      return messages.slice().sort((a, b) => a.seq - b.seq).map((m) => seedMessage(p.tenantId, m, senders.get(m.sender_id)));
    } catch (err) {
      // A staff member who handed the chat on is no longer a member.
      if (isAppError(err) && (err.code === 'conversation.not_participant' || err.code === 'conversation.not_found')) return [];
      throw err;
    }
  }

  /** Place in the queue (1 = next) of each queued chat of `chats`. */
  async #positions(tenantId: string, chats: readonly Chat[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const teams = new Set(chats.filter((c) => c.state === 'request').map((c) => c.team_id));
    for (const team of teams) {
      const q = await this.store.queue(tenantId, team);
      q.forEach((c, i) => out.set(c.id, i + 1));
    }
    return out;
  }

  // ---- messages ------------------------------------------------------------------------------

  /** `POST /api/message`: one of seed 002's bodies. */
  async message(c: Caller, body: SeedBody): Promise<{ code: 0; mid: string; msg: 'ok'; chat?: { id: string } }> {
    const tenantId = c.p.tenantId;
    this.checkOrganisation(tenantId, body.cid);
    if (body.from?.id !== undefined && body.from.id !== c.p.userId) throw fail('desk.uid_mismatch', undefined, { uid: body.from.id });
    if (body.from?.role !== undefined && body.from.role !== (c.kind === 'visitor' ? 'user' : 'staff')) {
      throw fail('desk.invalid_message', `from.role must be "${c.kind === 'visitor' ? 'user' : 'staff'}" for this caller.`);
    }
    if (body.mid !== undefined && !MID_RE.test(body.mid)) throw fail('desk.invalid_message', 'mid, when given, is a 20-character id made by the server.');
    switch (body.type) {
      case 'text':
      case 'file':
      case 'image':
        return this.#chatMessage(c, body);
      case 'request_chat': {
        if (c.kind !== 'visitor') throw fail('desk.invalid_message', 'Only a visitor requests a chat.');
        const uids = body.event?.uids;
        if (uids !== undefined && (uids.length !== 1 || uids[0] !== c.p.userId)) throw fail('desk.uid_mismatch', 'event.uids must be [the visitor\'s own uid].');
        const r = await this.requestChat(c, body.event?.team_id);
        return { code: 0, mid: r.mid, msg: 'ok', chat: { id: r.chat.id } };
      }
      case 'join_chat': {
        const id = body.event?.chat?.id ?? body.chat?.id;
        if (typeof id !== 'string') throw fail('desk.invalid_message', 'join_chat needs event.chat.id.');
        if (c.kind === 'visitor') {
          const chat = await this.#chatOf(tenantId, id);
          if (chat.visitor_id !== c.p.userId) throw fail('desk.not_in_chat');
          return { code: 0, mid: newMid(this.#now()), msg: 'ok', chat: { id } };
        }
        const r = await this.claim(c, id);
        return { code: 0, mid: r.mid, msg: 'ok', chat: { id } };
      }
      default:
        throw fail('desk.invalid_message', 'type must be text, file, image, request_chat or join_chat.', { type: body.type });
    }
  }

  async #chatOf(tenantId: string, id: string): Promise<Chat> {
    const chat = CHAT_ID_RE.test(id) ? await this.store.getChat(tenantId, id) : null;
    if (!chat) throw fail('desk.chat_not_found', undefined, { chat_id: id });
    return chat;
  }

  async #chatMessage(c: Caller, body: SeedBody): Promise<{ code: 0; mid: string; msg: 'ok' }> {
    const id = body.chat?.id;
    if (typeof id !== 'string') throw fail('desk.invalid_message', 'A chat message needs chat.id.');
    const chat = await this.#chatOf(c.p.tenantId, id);
    if (chat.state === 'closed') throw fail('desk.chat_closed');
    const mine = c.kind === 'visitor' ? chat.visitor_id === c.p.userId : chat.staff_id === c.p.userId;
    if (!mine) throw fail('desk.not_in_chat');
    let type: number;
    let content: Record<string, unknown>;
    if (body.type === 'text') {
      if (typeof body.text !== 'string' || body.text.length === 0 || body.text.length > 16_000) throw fail('desk.invalid_message', 'text is 1–16000 characters.');
      type = MessageTypes.TEXT;
      content = { text: body.text };
    } else if (body.type === 'file') {
      const f = body.file;
      if (!f || typeof f.src !== 'string' || f.src === '' || typeof f.name !== 'string' || f.name === '') throw fail('desk.invalid_message', 'file needs name and src.');
      type = MessageTypes.FILE;
      content = { storageId: f.src, url: f.src, fileName: f.name, fileSize: Math.max(0, Math.floor(f.size ?? 0)) };
    } else {
      const i = body.image;
      if (!i || typeof i.src !== 'string' || i.src === '') throw fail('desk.invalid_message', 'image needs src.');
      type = MessageTypes.IMAGE;
      content = { storageId: i.src, url: i.src, ...(i.width ? { width: Math.floor(i.width) } : {}), ...(i.height ? { height: Math.floor(i.height) } : {}) };
    }
    const mid = body.mid ?? newMid(this.#now());
    try {
      await this.#core.messages.send(c.p, chat.id, { type, content, client_id: mid });
    } catch (err) {
      if (isAppError(err) && (err.code.startsWith('message.') || err.code.startsWith('file.'))) throw fail('desk.invalid_message', err.message, { cause: err.code });
      if (isAppError(err) && err.code === 'conversation.not_participant') throw fail('desk.not_in_chat');
      throw err;
    }
    if (c.kind === 'staff' && chat.first_response_at === null) await this.store.firstResponse(c.p.tenantId, chat.id, c.p.userId, this.#now());
    return { code: 0, mid, msg: 'ok' };
  }

  /** A visitor asks for a chat: made on the server (conversation and queue entry), or the open one returned. */
  async requestChat(c: Caller & { kind: 'visitor' }, teamId: string | undefined): Promise<{ chat: Chat; mid: string; created: boolean }> {
    const tenantId = c.p.tenantId;
    const team = teamId ?? '';
    if (team !== '' && !(await this.#core.storage.teams.getTeam(tenantId, team))) throw fail('desk.team_not_found', undefined, { team_id: team });
    const open = (await this.store.chatsOfVisitor(tenantId, c.visitor.id, 5)).find((x) => x.state !== 'closed');
    if (open) return { chat: open, mid: newMid(this.#now()), created: false };
    const now = this.#now();
    const id = newChatId();
    await this.#core.conversations.create(this.#app(tenantId), {
      session_type: ConversationTypes.DISCUSSION, session_id: id, session_name: 'Front desk', participants: [c.visitor.id],
    } as never);
    const r = await this.store.openChat({
      tenant_id: tenantId, id, visitor_id: c.visitor.id, team_id: team, state: 'request', staff_id: null, created_at: now, queued_at: now, queue_round: 1,
      claimed_at: null, first_response_at: null, closed_at: null, outcome: null, note: null, escalated_at: null, session_id: null, topic_id: null,
    });
    if (!r.created) return { chat: r.chat, mid: newMid(now), created: false };
    const position = (await this.store.queue(tenantId, team)).findIndex((x) => x.id === id) + 1;
    const mid = await this.#emit(r.chat, 'request_chat', this.#from(c), { chat: { id }, uids: [c.visitor.id], team_id: team, position }, 'all');
    await this.#scheduleSla(r.chat);
    return { chat: r.chat, mid, created: true };
  }

  #from(c: Caller): SeedFrom {
    return { id: c.p.userId, name: c.name, role: c.kind === 'visitor' ? 'user' : 'staff' };
  }

  // ---- triage --------------------------------------------------------------------------------

  /** Claims a queued chat: exactly one staff member wins (a conditional update); the others get `desk.already_claimed`. */
  async claim(c: Caller & { kind: 'staff' }, chatId: string): Promise<{ mid: string; chat: Chat }> {
    const tenantId = c.p.tenantId;
    await this.#chatOf(tenantId, chatId);
    const r = await this.store.claim(tenantId, chatId, c.p.userId, this.#now());
    if (!r.ok) {
      const chat = r.chat;
      if (!chat) throw fail('desk.chat_not_found', undefined, { chat_id: chatId });
      if (chat.state === 'closed') throw fail('desk.chat_closed');
      if (chat.staff_id === c.p.userId) return { mid: newMid(this.#now()), chat };
      throw fail('desk.already_claimed', undefined, { staff_id: chat.staff_id });
    }
    await this.#core.conversations.changeParticipants(this.#app(tenantId), chatId, { add: [`${c.p.userId}:staff`] });
    const mid = await this.#emit(r.chat, 'join_chat', this.#from(c), { chat: { id: chatId }, staff_id: c.p.userId }, 'all');
    await this.#positionsChanged(tenantId, r.chat.team_id);
    return { mid, chat: r.chat };
  }

  async transfer(c: Caller & { kind: 'staff' }, chatId: string, input: { to_staff?: string; to_team?: string; note?: string }): Promise<{ mid: string; chat: Chat }> {
    const tenantId = c.p.tenantId;
    const hasStaff = input.to_staff !== undefined && input.to_staff !== '';
    const hasTeam = input.to_team !== undefined;
    if (hasStaff === hasTeam || input.to_staff === c.p.userId) throw fail('desk.invalid_transfer');
    if (input.note !== undefined && input.note.length > NOTE_MAX) throw fail('desk.invalid_transfer', `note is at most ${NOTE_MAX} characters.`);
    const chat = await this.#chatOf(tenantId, chatId);
    if (chat.state === 'closed') throw fail('desk.chat_closed');
    if (chat.staff_id !== c.p.userId) throw fail('desk.not_holder', undefined, { staff_id: chat.staff_id });
    let to: { staff: string } | { team: string };
    if (hasStaff) {
      const u = await this.#core.storage.users.getUser(tenantId, input.to_staff!);
      if (!u || u.disabled || !STAFF_ROLES.has(u.role)) throw fail('desk.staff_not_found', undefined, { uid: input.to_staff });
      await this.#ensureStaff(tenantId, u.id);
      to = { staff: u.id };
    } else {
      if (input.to_team !== '' && !(await this.#core.storage.teams.getTeam(tenantId, input.to_team!))) throw fail('desk.team_not_found', undefined, { team_id: input.to_team });
      to = { team: input.to_team! };
    }
    const note = input.note ?? null;
    const r = await this.store.transfer(tenantId, chatId, c.p.userId, to, note, this.#now());
    if (!r.ok) this.#refused(r, c.p.userId);
    const ok = r as { ok: true; chat: Chat };
    await this.#core.conversations.changeParticipants(this.#app(tenantId), chatId, {
      ...('staff' in to ? { add: [`${to.staff}:staff`] } : {}), remove: [c.p.userId],
    });
    const event = { chat: { id: chatId }, from_staff: c.p.userId, to_staff: 'staff' in to ? to.staff : null, to_team: 'team' in to ? to.team : null, note };
    const mid = await this.#emit(ok.chat, 'transfer_chat', this.#from(c), event, 'staff');
    await this.#send(ok.chat, [ok.chat.visitor_id], withoutNote(seedEvent(tenantId, mid, 'transfer_chat', this.#from(c), chatId, event, this.#now())));
    if ('team' in to) {
      await this.#scheduleSla(ok.chat);
      await this.#positionsChanged(tenantId, ok.chat.team_id);
    }
    return { mid, chat: ok.chat };
  }

  #refused(r: ChatChange, self: string): never {
    if (!r.chat) throw fail('desk.chat_not_found');
    if (r.chat.state === 'closed') throw fail('desk.chat_closed');
    throw fail('desk.not_holder', undefined, { staff_id: r.chat.staff_id === self ? null : r.chat.staff_id });
  }

  async close(c: Caller, chatId: string, input: { outcome?: string; note?: string }): Promise<{ mid: string; chat: Chat }> {
    const tenantId = c.p.tenantId;
    const chat = await this.#chatOf(tenantId, chatId);
    if (chat.state === 'closed') throw fail('desk.chat_closed');
    if (input.note !== undefined && input.note.length > NOTE_MAX) throw fail('desk.invalid_message', `note is at most ${NOTE_MAX} characters.`);
    let r: ChatChange;
    if (c.kind === 'visitor') {
      if (chat.visitor_id !== c.p.userId) throw fail('desk.not_in_chat');
      const outcome = chat.state === 'request' ? 'abandoned' : 'visitor_left';
      r = await this.store.close(tenantId, chatId, outcome, null, this.#now());
    } else {
      const outcome = input.outcome ?? 'resolved';
      if (!(OUTCOMES as readonly string[]).includes(outcome)) throw fail('desk.invalid_message', `outcome is one of ${OUTCOMES.join(', ')}.`);
      // A queued chat may be closed by any staff member (spam, no answer); an active one by its holder.
      r = await this.store.close(tenantId, chatId, outcome, input.note ?? null, this.#now(), chat.state === 'request' ? null : c.p.userId);
    }
    if (!r.ok) this.#refused(r, c.p.userId);
    const closed = (r as { ok: true; chat: Chat }).chat;
    const mid = await this.#emit(closed, 'close_chat', this.#from(c), { chat: { id: chatId }, outcome: closed.outcome }, 'all');
    if (chat.state === 'request') await this.#positionsChanged(tenantId, chat.team_id);
    return { mid, chat: closed };
  }

  /** "Seen, will handle": recorded and shown in the queue; claims nothing, reads nothing. */
  async ack(c: Caller & { kind: 'staff' }, chatId: string): Promise<{ mid: string; ack: Ack }> {
    const chat = await this.#chatOf(c.p.tenantId, chatId);
    if (chat.state === 'closed') throw fail('desk.chat_closed');
    const ack = await this.store.ack(c.p.tenantId, chatId, c.p.userId, this.#now());
    const mid = await this.#emit(chat, 'ack_chat', this.#from(c), { chat: { id: chatId }, uid: c.p.userId, at: ack.at }, 'staff');
    return { mid, ack };
  }

  /** The queue (oldest first) with each chat's position, wait and acknowledgements. */
  async queue(c: Caller & { kind: 'staff' }, teamId: string | undefined): Promise<Record<string, unknown>[]> {
    const now = this.#now();
    const q = await this.store.queue(c.p.tenantId, teamId);
    const acks = await this.store.acks(c.p.tenantId, q.map((x) => x.id));
    const perTeam = new Map<string, number>();
    return q.map((x) => {
      const position = (perTeam.get(x.team_id) ?? 0) + 1;
      perTeam.set(x.team_id, position);
      return {
        chat_id: x.id, creator: x.visitor_id, team_id: x.team_id, state: x.state, created_at: x.created_at, waiting_ms: Math.max(0, now - x.queued_at),
        position, acked_by: acks.filter((a) => a.chat_id === x.id).map((a) => ({ uid: a.user_id, at: a.at })), escalated_at: x.escalated_at,
      };
    });
  }

  /** One chat: for staff of the organisation, or its visitor. */
  async chat(c: Caller, chatId: string): Promise<Record<string, unknown>> {
    const chat = await this.#chatOf(c.p.tenantId, chatId);
    if (c.kind === 'visitor' && chat.visitor_id !== c.p.userId) throw fail('desk.chat_not_found', undefined, { chat_id: chatId });
    const positions = await this.#positions(c.p.tenantId, [chat]);
    const member = c.kind === 'visitor' || chat.staff_id === c.p.userId;
    return seedChat(chat, {
      position: positions.get(chat.id) ?? 0, staff: c.kind === 'staff',
      msgs: member ? await this.#msgs(c.p, chat) : await this.#msgs(this.#app(c.p.tenantId), chat),
      ...(c.kind === 'staff' ? { acks: await this.store.acks(c.p.tenantId, [chat.id]) } : {}),
    });
  }

  async position(c: Caller, chatId: string): Promise<{ position: number; state: string }> {
    const chat = await this.#chatOf(c.p.tenantId, chatId);
    if (c.kind === 'visitor' && chat.visitor_id !== c.p.userId) throw fail('desk.chat_not_found', undefined, { chat_id: chatId });
    return { position: (await this.#positions(c.p.tenantId, [chat])).get(chat.id) ?? 0, state: chat.state };
  }

  /** Tells each waiting visitor of a queue its place, after the queue moved. */
  async #positionsChanged(tenantId: string, teamId: string): Promise<void> {
    const q = await this.store.queue(tenantId, teamId);
    const now = this.#now();
    for (const [i, x] of q.entries()) {
      const ev = seedEvent(tenantId, newMid(now), 'queue_position', { id: 'system', name: '', role: 'staff' }, x.id, { chat: { id: x.id }, position: i + 1 }, now);
      this.#core.bus.publish({ kind: 'desk.event', tenant_id: tenantId, recipients: [x.visitor_id], event: ev });
    }
  }

  // ---- visits, online lists ----------------------------------------------------------------

  async track(c: Caller, body: TrackBody, rawBytes: number): Promise<{ code: 0; msg: 'ok'; track_id: string }> {
    if (c.kind !== 'visitor') throw fail('desk.not_staff', 'Visits are a visitor\'s.');
    if (body.uid !== undefined && body.uid !== c.p.userId) throw fail('desk.uid_mismatch', undefined, { uid: body.uid });
    this.checkOrganisation(c.p.tenantId, body.cid);
    const fields = ['url', 'title', 'referer', 'os', 'browser', 'fp'] as const;
    if (rawBytes > TRACK_BODY_MAX || fields.some((f) => typeof body[f] === 'string' && body[f].length > TRACK_FIELD_MAX)) {
      throw fail('desk.track_too_large', undefined, { max_field: TRACK_FIELD_MAX, max_bytes: TRACK_BODY_MAX });
    }
    if (typeof body.url !== 'string' || body.url === '') throw fail('desk.invalid_message', 'url is required.');
    const now = this.#now();
    const tid = newTid(c.visitor.id, now);
    const visit: Visit = { url: body.url, title: body.title ?? '', referer: body.referer ?? '', os: body.os ?? '', browser: body.browser ?? '' };
    await this.store.track(c.p.tenantId, c.visitor.id, tid, visit, now);
    this.#usersChanged(c.p.tenantId, c.visitor.id);
    return { code: 0, msg: 'ok', track_id: tid };
  }

  async usersOnline(c: Caller & { kind: 'staff' }): Promise<Record<string, unknown>[]> {
    const tenantId = c.p.tenantId;
    const recent = await this.store.recentVisitors(tenantId, this.#now() - ONLINE_WINDOW_MS, ONLINE_MAX);
    const status = await Promise.all(recent.map((v) => this.#core.presence.status(tenantId, v.id).catch(() => ({ online: false, last_seen: null, connections: 0 }))));
    const online = recent.filter((_, i) => status[i]!.online);
    const chats = new Map<string, Chat>((await this.store.openChats(tenantId, 10_000)).map((x) => [x.visitor_id, x]));
    return online.map((v) => ({
      uid: v.id, fp: v.fp, track_id: v.track_id ?? '', url: v.url ?? '', title: v.title ?? '', referer: v.referer ?? '', os: v.os ?? '', browser: v.browser ?? '',
      online: true, last_seen: v.seen_at, first_seen: v.created_at, chat_id: chats.get(v.id)?.id ?? '', chat_state: chats.get(v.id)?.state ?? '', patient_id: v.patient_id ?? '',
    }));
  }

  async staffOnline(c: Caller): Promise<Record<string, unknown>[]> {
    const tenantId = c.p.tenantId;
    const staff = await this.store.listStaff(tenantId);
    const status = await Promise.all(staff.map((s) => this.#core.presence.status(tenantId, s.user_id).catch(() => ({ online: false, last_seen: null, connections: 0 }))));
    const online = staff.filter((_, i) => status[i]!.online);
    const users = new Map((await this.#core.storage.users.getUsers(tenantId, online.map((s) => s.user_id))).map((u) => [u.id, u]));
    const held = new Map<string, number>();
    if (c.kind === 'staff') for (const x of await this.store.openChats(tenantId, 10_000)) if (x.staff_id) held.set(x.staff_id, (held.get(x.staff_id) ?? 0) + 1);
    const out = [];
    for (const s of online) {
      const u = users.get(s.user_id);
      if (!u || u.disabled || !STAFF_ROLES.has(u.role)) continue;
      out.push({ uid: s.user_id, staff_id: s.sid, name: u.name, online: true, ...(c.kind === 'staff' ? { active_chats: held.get(s.user_id) ?? 0 } : {}) });
    }
    return out;
  }

  async staffInfo(c: Caller & { kind: 'staff' }, trackId: string | undefined): Promise<Record<string, unknown>> {
    const u = await this.#core.storage.users.getUser(c.p.tenantId, c.p.userId);
    return {
      code: 0, msg: '', cid: c.p.tenantId, staff_id: c.staff.sid,
      track_id: trackId !== undefined && isTidOf(trackId, c.staff.sid) ? trackId : newTid(c.staff.sid, this.#now()),
      staff: { name: u?.name ?? '', gender: '' },
    };
  }

  /** The organisation's desk staff (user ids): read each time, so staff who joined on another node are told at once. */
  async #staffOf(tenantId: string): Promise<string[]> {
    return (await this.store.listStaff(tenantId)).map((s) => s.user_id);
  }

  /** Tells the organisation's staff that visitors changed: at most one event per organisation per USERS_CHANGED_MS on this node, with every vid since. */
  #usersChanged(tenantId: string, vid: string): void {
    let set = this.#changed.get(tenantId);
    if (set) {
      set.add(vid);
      return;
    }
    this.#changed.set(tenantId, (set = new Set([vid])));
    setTimeout(() => {
      this.#changed.delete(tenantId);
      void this.#staffOf(tenantId).then((staff) => {
        const now = this.#now();
        const ev = seedEvent(tenantId, newMid(now), 'users_changed', { id: 'system', name: '', role: 'staff' }, '', { uids: [...set] }, now);
        this.#core.bus.publish({ kind: 'desk.event', tenant_id: tenantId, recipients: staff, event: ev });
      }, () => {});
    }, USERS_CHANGED_MS).unref();
  }

  // ---- events --------------------------------------------------------------------------------

  /** Stores a chat's event and sends it: to every staff member of the organisation, and (`all`) the chat's visitor. Returns its mid. */
  async #emit(chat: Chat, type: string, from: SeedFrom, event: Record<string, unknown>, to: 'all' | 'staff'): Promise<string> {
    const now = this.#now();
    const mid = newMid(now);
    const body = seedEvent(chat.tenant_id, mid, type, from, chat.id, event, now);
    await this.store.appendEvent({ tenant_id: chat.tenant_id, mid, chat_id: chat.id, type, body, at: now });
    const staff = await this.#staffOf(chat.tenant_id);
    const recipients = to === 'all' ? [...new Set([...staff, chat.visitor_id])] : staff;
    this.#core.bus.publish({ kind: 'desk.event', tenant_id: chat.tenant_id, recipients, event: body });
    return mid;
  }

  async #send(chat: Chat, recipients: string[], event: Record<string, unknown>): Promise<void> {
    this.#core.bus.publish({ kind: 'desk.event', tenant_id: chat.tenant_id, recipients, event });
  }

  /**
   * The stored events a poller missed: those after `version` (a mid), of the visitor's chats or,
   * for staff, of every chat of the organisation; at most `CATCH_UP_MAX` (a full page: more follow).
   */
  async eventsAfter(p: UserPrincipal, version: string): Promise<Record<string, unknown>[]> {
    if (!MID_RE.test(version)) return [];
    let chatIds: string[] | null;
    if (STAFF_ROLES.has(p.role)) chatIds = null;
    else {
      chatIds = (await this.store.chatsOfVisitor(p.tenantId, p.userId, 10)).map((c) => c.id);
      if (chatIds.length === 0) return [];
    }
    const rows = await this.store.eventsAfter(p.tenantId, chatIds, version, CATCH_UP_MAX);
    if (chatIds === null) return rows.map((r) => r.body);
    // A visitor never sees the staff's acknowledgements, escalations or hand-over notes.
    return rows.filter((r) => r.type !== 'ack_chat' && r.type !== 'chat_escalated').map((r) => (r.type === 'transfer_chat' ? withoutNote(r.body) : r.body));
  }

  /** The chats a user's first pull starts from: a visitor's recent chats, the chats a staff member holds. */
  async chatIdsOf(p: UserPrincipal): Promise<string[]> {
    const chats = STAFF_ROLES.has(p.role) ? await this.store.chatsOfStaff(p.tenantId, p.userId) : await this.store.chatsOfVisitor(p.tenantId, p.userId, 3);
    return chats.map((c) => c.id);
  }

  // ---- SLA ------------------------------------------------------------------------------------

  async #sla(tenantId: string, teamId: string): Promise<{ seconds: number; lead: string | null }> {
    const s = (teamId !== '' ? await this.store.getSla(tenantId, teamId) : null) ?? (await this.store.getSla(tenantId, ''));
    return { seconds: s?.sla_seconds ?? this.#core.config.desk.slaSeconds, lead: s?.lead_id ?? null };
  }

  async putSla(tenantId: string, input: { team_id?: string; sla_seconds: number; lead_id: string }): Promise<{ team_id: string; sla_seconds: number; lead_id: string }> {
    const team = input.team_id ?? '';
    if (team !== '' && !(await this.#core.storage.teams.getTeam(tenantId, team))) throw fail('desk.team_not_found', undefined, { team_id: team });
    const lead = await this.#core.storage.users.getUser(tenantId, input.lead_id);
    if (!lead || !STAFF_ROLES.has(lead.role)) throw fail('desk.staff_not_found', undefined, { uid: input.lead_id });
    const s = { team_id: team, sla_seconds: input.sla_seconds, lead_id: input.lead_id };
    await this.store.putSla(tenantId, s);
    return s;
  }

  async #scheduleSla(chat: Chat): Promise<void> {
    const { seconds } = await this.#sla(chat.tenant_id, chat.team_id);
    await this.#core.storage.jobs.enqueue([{
      tenant_id: chat.tenant_id, kind: DESK_SLA_JOB, payload: { chat_id: chat.id, round: chat.queue_round },
      dedupe_key: `${chat.id}:${chat.queue_round}`, run_at: this.#now() + seconds * 1000, max_attempts: 20,
    }], this.#now());
    this.onSla?.();
  }

  /**
   * The SLA job of a queue entry: if the chat is still waiting in that round, marks it escalated
   * (a conditional update: one node acts, however many run the job), notifies the team lead and
   * tells the staff. Idempotent.
   */
  async slaDue(tenantId: string, chatId: string, round: number): Promise<boolean> {
    const now = this.#now();
    const chat = await this.store.getChat(tenantId, chatId);
    if (!chat || chat.state !== 'request' || chat.queue_round !== round) return false;
    if (!(await this.store.escalate(tenantId, chatId, round, now))) return false;
    const { lead } = await this.#sla(tenantId, chat.team_id);
    const waited = now - chat.queued_at;
    if (lead) {
      const app = this.#app(tenantId);
      if (!this.#kinds.has(tenantId)) {
        await this.#core.notifications.registerKind(app, DESK_ESCALATED_KIND, 'each', { display_name: 'Front desk: a chat waits' }).catch((err: unknown) => {
          if (!(isAppError(err) && err.code === 'notification.kind_exists')) throw err;
        });
        this.#kinds.add(tenantId);
      }
      await this.#core.notifications.send(app, {
        kind: DESK_ESCALATED_KIND, target: { user: lead }, title: 'A front-desk chat waits past its SLA',
        data: { chat_id: chatId, team_id: chat.team_id, waited_ms: waited },
      });
    }
    await this.#emit(chat, 'chat_escalated', { id: 'system', name: '', role: 'staff' }, { chat: { id: chatId }, team_id: chat.team_id, lead_id: lead, waited_ms: waited }, 'staff');
    return true;
  }

  // ---- statistics ------------------------------------------------------------------------------

  async stats(tenantId: string, q: { since?: number; until?: number; team_id?: string }): Promise<DeskStats> {
    const until = q.until ?? this.#now() + 1;
    const since = q.since ?? until - 24 * 3600_000;
    const chats = await this.store.chatsCreated(tenantId, since, until, q.team_id, 100_000);
    const waits = chats.filter((c) => c.claimed_at !== null).map((c) => c.claimed_at! - c.created_at).sort((a, b) => a - b);
    const firsts = chats.filter((c) => c.first_response_at !== null).map((c) => c.first_response_at! - c.created_at).sort((a, b) => a - b);
    const per = new Map<string, { claimed: number; closed: number; firsts: number[] }>();
    for (const c of chats) {
      if (c.staff_id === null) continue;
      let s = per.get(c.staff_id);
      if (!s) per.set(c.staff_id, (s = { claimed: 0, closed: 0, firsts: [] }));
      if (c.claimed_at !== null) s.claimed++;
      if (c.state === 'closed') s.closed++;
      if (c.first_response_at !== null) s.firsts.push(c.first_response_at - c.created_at);
    }
    const queue = await this.store.queue(tenantId, q.team_id);
    return {
      chats: chats.length,
      claimed: chats.filter((c) => c.claimed_at !== null).length,
      closed: chats.filter((c) => c.state === 'closed').length,
      abandoned: chats.filter((c) => c.state === 'closed' && c.claimed_at === null).length,
      waiting: { count: waits.length, p50_ms: percentile(waits, 50), p90_ms: percentile(waits, 90) },
      first_response: { count: firsts.length, p50_ms: percentile(firsts, 50), p90_ms: percentile(firsts, 90) },
      per_staff: [...per.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([uid, s]) => ({
        uid, claimed: s.claimed, closed: s.closed, first_response_p50_ms: percentile(s.firsts.sort((a, b) => a - b), 50),
      })),
      queue_now: queue.length,
    };
  }

  // ---- identified visitors ----------------------------------------------------------------------

  /** Links the visitor to the patient whose Careline token (from the host's login) it shows. */
  async identify(c: Caller, token: string): Promise<{ patient_id: string }> {
    if (c.kind !== 'visitor') throw fail('desk.not_staff', 'Only a visitor identifies.');
    let patient: UserPrincipal;
    try {
      patient = await this.#core.auth.authenticateToken(token);
    } catch {
      throw fail('desk.identify_failed');
    }
    if (patient.tenantId !== c.p.tenantId || patient.role !== 'patient' || patient.userId === c.p.userId) throw fail('desk.identify_failed');
    await this.store.setPatient(c.p.tenantId, c.visitor.id, patient.userId);
    return { patient_id: patient.userId };
  }

  /**
   * The chat goes on as a consultation topic in the patient's session with the family doctor
   * (seed 000): the topic is started (or found), the chat's transcript copied in as one message,
   * the chat closed with outcome `consultation`.
   */
  async continueAsConsultation(c: Caller & { kind: 'staff' }, chatId: string, input: { session_id: string; topic_id: string }): Promise<{ session_id: string; topic_id: string; copied: number }> {
    const tenantId = c.p.tenantId;
    const chat = await this.#chatOf(tenantId, chatId);
    if (chat.state === 'closed') throw fail('desk.chat_closed');
    if (chat.staff_id !== c.p.userId) throw fail('desk.not_holder', undefined, { staff_id: chat.staff_id });
    const visitor = await this.store.getVisitor(tenantId, chat.visitor_id);
    if (!visitor?.patient_id) throw fail('desk.not_identified');
    const app = this.#app(tenantId);
    const members = await this.#core.storage.conversations.memberIds(tenantId, input.session_id);
    if (!members.includes(visitor.patient_id)) throw fail('participant.not_found', 'The patient is not a member of that session.', { patient_id: visitor.patient_id });
    await this.#core.topics.start(app, input.session_id, { topic_id: input.topic_id, patient_id: visitor.patient_id, name: 'Front desk' } as never);
    const { messages } = await this.#core.messages.history(app, chatId, { limit: 200 });
    const senders = new Map((await this.#core.storage.users.getUsers(tenantId, [...new Set(messages.map((m) => m.sender_id))])).map((u) => [u.id, u]));
    const lines = messages.slice().sort((a, b) => a.seq - b.seq).map((m) => {
      const s = seedMessage(tenantId, m, senders.get(m.sender_id));
      const who = m.sender_id === chat.visitor_id ? 'Patient' : (senders.get(m.sender_id)?.name || m.sender_id);
      const what = typeof s['text'] === 'string' ? s['text'] : `[${String(s['type'])}]`;
      return `${who}: ${what}`;
    });
    let text = `Front desk chat ${chatId}:\n${lines.join('\n')}`;
    if (text.length > 16_000) text = `${text.slice(0, 15_990)}…`;
    await this.#core.messages.send(app, input.session_id, { type: MessageTypes.TEXT, content: { text }, client_id: `desk:${chatId}` });
    await this.store.link(tenantId, chatId, input.session_id, input.topic_id);
    await this.#emit(chat, 'chat_linked', this.#from(c), { chat: { id: chatId }, patient_id: visitor.patient_id, session_id: input.session_id, topic_id: input.topic_id }, 'all');
    await this.close(c, chatId, { outcome: 'consultation' });
    return { session_id: input.session_id, topic_id: input.topic_id, copied: lines.length };
  }

  /** For monitoring: chats waiting and active over every organisation. */
  async monitorStats(): Promise<{ name: string; value: number }[]> {
    const n = await this.store.openCounts();
    return [{ name: 'desk_queue', value: n.request }, { name: 'desk_active', value: n.active }];
  }
}

export { seedRole };
