/**
 * Conversation ("session") actions: create (idempotent, deterministic ids), read, list,
 * rename, status, sticky, participants. Each action: check → write → emit after commit.
 */
import { BusinessTypes, isConversationType, type ConversationType } from '@careline/protocol';
import { deriveConversationId, type IdParts } from '@careline/protocol/ids';
import type { EventBus, Storage } from './ports.ts';
import type { Conversation, ConversationView, Participant, Principal } from './types.ts';
import type { MemberDirectory } from './directory.ts';
import type { SettingsService } from './settings.ts';
import { requireAccess, requireCreate, requireNoPatients, requireStaff, requireUser } from './access.ts';
import { fail } from './errors.ts';
import { ID_RE, newId } from './ids.ts';

export type ParticipantInput = string | { id: string; role?: string };

export interface CreateInput {
  session_id?: string;
  session_type: number;
  session_name?: string;
  business_type?: number;
  participants: ParticipantInput[];
  parts?: IdParts;
}

const DEFAULT_ROLE = 'member';

/** Parses `"id"`, `"id:role"` or `{ id, role }`. */
export function parseParticipant(input: ParticipantInput): { user_id: string; role: string } {
  let id: string;
  let role: string | undefined;
  if (typeof input === 'string') {
    const i = input.lastIndexOf(':');
    // ":doctor" is a role with an empty id: malformed, not an unknown user.
    [id, role] = i >= 0 ? [input.slice(0, i), input.slice(i + 1)] : [input, undefined];
  } else {
    ({ id, role } = input);
  }
  id = id.trim();
  if (!ID_RE.test(id) || (role !== undefined && (role.length === 0 || role.length > 32))) {
    throw fail('participant.invalid', undefined, { participant: input });
  }
  return { user_id: id, role: role ?? DEFAULT_ROLE };
}

function defaultName(names: string[]): string {
  const joined = names.join('、');
  return joined.length > 10 ? `${joined.slice(0, 10)}…` : joined;
}

export interface ConversationDeps {
  storage: Pick<Storage, 'conversations' | 'users' | 'messages'>;
  bus: EventBus;
  directory: MemberDirectory;
  /** The tenant's settings (`patient_to_patient`) for the creation policy. */
  settings: Pick<SettingsService, 'forTenant'>;
  now?: () => number;
}

export class ConversationService {
  readonly #d: ConversationDeps;
  readonly #now: () => number;

  constructor(deps: ConversationDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  async create(p: Principal, input: CreateInput): Promise<{ session: Conversation; created: boolean }> {
    const type = input.session_type;
    if (!isConversationType(type)) throw fail('conversation.type_unknown', undefined, { session_type: type });
    const participants = dedupe(input.participants.map(parseParticipant));
    if (p.kind === 'user' && !participants.some((x) => x.user_id === p.userId)) participants.push({ user_id: p.userId, role: DEFAULT_ROLE });
    if (participants.length === 0) throw fail('request.invalid', 'A conversation needs at least one participant.');

    const id = this.#resolveId(type, input, participants.map((x) => x.user_id));
    const users = await this.#d.storage.users.getUsers(p.tenantId, participants.map((x) => x.user_id));
    const found = new Map(users.map((u) => [u.id, u]));
    const missing = participants.filter((x) => !found.has(x.user_id)).map((x) => x.user_id);
    if (missing.length) throw fail('user.not_found', `Unknown users: ${missing.join(', ')}`, { missing });
    // The creation policy (access.ts) decides what is made; asking again for one that exists makes nothing.
    if (p.kind === 'user' && (await this.#d.directory.get(p.tenantId, id)) === null) {
      requireCreate(p, {
        type, id, members: participants.map((x) => ({ user_id: x.user_id, role: found.get(x.user_id)!.role })),
        patientToPatient: (await this.#d.settings.forTenant(p.tenantId)).patient_to_patient,
      });
    }

    const businessType = input.business_type ?? (users.some((u) => u.role === 'patient') ? BusinessTypes.WITH_PATIENT : BusinessTypes.NO_PATIENT);
    if (businessType !== 1 && businessType !== 2) throw fail('request.invalid', 'business_type must be 1 (no patient) or 2 (with patient).');
    const name = input.session_name ?? defaultName(participants.map((x) => found.get(x.user_id)!.name));

    const { conversation, created } = await this.#d.storage.conversations.createConversation(
      {
        tenant_id: p.tenantId, id, type, business_type: businessType, name, status: 0,
        created_by: p.kind === 'user' ? p.userId : 'system', participants,
      },
      this.#now(),
    );
    // An existing conversation is shown only to its participants (as isExist does).
    if (!created && p.kind === 'user' && !(await this.#d.storage.conversations.memberIds(p.tenantId, id)).includes(p.userId)) {
      throw fail('conversation.not_participant');
    }
    if (!created && conversation.type !== type) throw fail('conversation.conflict', undefined, { session_id: id, existing_type: conversation.type });
    if (created) {
      this.#d.bus.publish({
        kind: 'conversation.changed', tenant_id: p.tenantId, conversation_id: id, event: 'created', recipients: participants.map((x) => x.user_id),
      });
    }
    return { session: conversation, created };
  }

  #resolveId(type: ConversationType, input: CreateInput, participantIds: string[]): string {
    const given = input.session_id?.trim() || undefined;
    if (given !== undefined && !ID_RE.test(given)) throw fail('request.invalid', 'session_id must be 1–128 characters without spaces, "/", "?" or "#".');
    const parts: IdParts = { ...input.parts };
    if (type === 0 || type === 2) parts.participants = participantIds;
    const d = deriveConversationId(type, parts);
    if (d.ok === true) {
      if (given !== undefined && given !== d.id) {
        // Types 0 and 2 hash the participants; a host that gives its own id keeps it.
        if (type === 0 || type === 2) return given;
        if (input.parts && Object.keys(input.parts).length) throw fail('conversation.id_mismatch', undefined, { given, derived: d.id });
        return given;
      }
      return d.id;
    }
    if (given !== undefined) return given;
    if (d.ok === 'generate') return newId();
    if (d.ok === 'given') throw fail('conversation.id_required', `Type ${type} has no id rule: give session_id.`);
    throw fail('conversation.id_required', `Give session_id or these parts: ${d.missing.join(', ')}.`, { missing: d.missing });
  }

  async get(p: Principal, id: string): Promise<ConversationView> {
    await requireAccess(this.#d.directory, p, id);
    if (p.kind === 'user') {
      const view = await this.#d.storage.conversations.viewForUser(p.tenantId, p.userId, id);
      if (!view) throw fail('conversation.not_participant');
      return view;
    }
    // The directory's copy is only for membership: read the row itself, it moves with every message.
    const c = await this.#d.storage.conversations.getConversation(p.tenantId, id);
    if (!c) throw fail('conversation.not_found');
    const last = c.last_seq > 0 ? ((await this.#d.storage.messages.history(p.tenantId, id, { limit: 1 }))[0] ?? null) : null;
    return { ...c, read_seq: 0, unread: 0, sticky: false, last_message: last };
  }

  async list(p: Principal, q: { type?: number; business_type?: number; limit: number; cursor?: string }) {
    const userId = requireUser(p);
    const { items, next_cursor } = await this.#d.storage.conversations.listForUser(p.tenantId, userId, q);
    return { sessions: items, next_cursor };
  }

  async count(p: Principal, q: { type?: number; business_type?: number }): Promise<number> {
    return this.#d.storage.conversations.countForUser(p.tenantId, requireUser(p), q);
  }

  /** Whether a conversation exists (and the caller is in it). Reads only: moves no read cursor. */
  async exists(p: Principal, q: { session_id?: string; session_type?: number; participants?: string[] }): Promise<{ exists: boolean; session_id: string | null }> {
    let id = q.session_id;
    if (id === undefined) {
      if (q.session_type === undefined || !q.participants?.length) throw fail('request.invalid', 'Give session_id, or session_type with participants.');
      if (!isConversationType(q.session_type)) throw fail('conversation.type_unknown');
      const d = deriveConversationId(q.session_type, { participants: q.participants.map((x) => parseParticipant(x).user_id) });
      if (d.ok !== true) throw fail('conversation.id_required');
      id = d.id;
    }
    const entry = await this.#d.directory.get(p.tenantId, id);
    const visible = entry !== null && (p.kind === 'app' || entry.members.has(p.userId));
    return { exists: visible, session_id: visible ? id : null };
  }

  async update(p: Principal, id: string, patch: { name?: string; status?: number }): Promise<Conversation> {
    await requireAccess(this.#d.directory, p, id);
    const c = await this.#d.storage.conversations.updateConversation(p.tenantId, id, patch, this.#now());
    if (!c) throw fail('conversation.not_found');
    this.#d.directory.invalidate(p.tenantId, id);
    const members = await this.#d.storage.conversations.memberIds(p.tenantId, id);
    this.#d.bus.publish({ kind: 'conversation.changed', tenant_id: p.tenantId, conversation_id: id, event: 'updated', recipients: members });
    return c;
  }

  async setSticky(p: Principal, id: string, sticky: boolean): Promise<boolean> {
    const userId = requireUser(p);
    await requireAccess(this.#d.directory, p, id);
    await this.#d.storage.conversations.setSticky(p.tenantId, id, userId, sticky, this.#now());
    return sticky;
  }

  async participants(p: Principal, id: string, userIds?: string[]): Promise<Participant[]> {
    await requireAccess(this.#d.directory, p, id);
    const list = await this.#d.storage.conversations.getParticipants(p.tenantId, id, userIds);
    if (userIds && list.length === 0) throw fail('participant.not_found', undefined, { participant_id: userIds });
    return list;
  }

  /**
   * Changes the participants: `participants` replaces the whole list (removes the old ones
   * absent from it, adds the new ones); `add` and `remove` change it partially.
   */
  async changeParticipants(
    p: Principal, id: string, change: { participants?: ParticipantInput[]; add?: ParticipantInput[]; remove?: string[] },
  ): Promise<Participant[]> {
    requireStaff(p);
    const entry = await requireAccess(this.#d.directory, p, id);
    const parse = (list: ParticipantInput[]) =>
      list.map((x) => ({ ...parseParticipant(x), explicit: typeof x === 'string' ? x.lastIndexOf(':') > 0 : x.role !== undefined }));
    let add = parse(change.add ?? []);
    let remove = change.remove ?? [];
    if (change.participants) {
      const next = dedupe(parse(change.participants));
      const keep = new Set(next.map((x) => x.user_id));
      remove = [...remove, ...entry.list.filter((u) => !keep.has(u))];
      add = [...add, ...next];
    }
    // Someone already in it who stays, named without a role, keeps the role they have.
    const removing = new Set(remove);
    add = dedupe(add).filter((x) => x.explicit || !entry.members.has(x.user_id) || removing.has(x.user_id));
    const users = await this.#d.storage.users.getUsers(p.tenantId, add.map((x) => x.user_id));
    const known = new Set(users.map((u) => u.id));
    const missing = add.filter((x) => !known.has(x.user_id)).map((x) => x.user_id);
    if (missing.length) throw fail('user.not_found', `Unknown users: ${missing.join(', ')}`, { missing });
    if (p.kind === 'user') requireNoPatients(entry.conversation.type, users.map((u) => ({ user_id: u.id, role: u.role })));
    const before = entry.list;
    const { added, removed } = await this.#d.storage.conversations.changeParticipants(p.tenantId, id, { add, remove }, this.#now());
    this.#d.directory.invalidate(p.tenantId, id);
    if (added.length || removed.length) {
      const recipients = [...new Set([...before, ...added])];
      this.#d.bus.publish({ kind: 'conversation.changed', tenant_id: p.tenantId, conversation_id: id, event: 'participants', recipients, added, removed });
    }
    return this.#d.storage.conversations.getParticipants(p.tenantId, id);
  }
}

function dedupe<T extends { user_id: string; role: string }>(list: T[]): T[] {
  const m = new Map<string, T>();
  for (const x of list) m.set(x.user_id, x);
  return [...m.values()];
}
