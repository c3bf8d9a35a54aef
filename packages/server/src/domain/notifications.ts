/**
 * Notification actions: the integrator registers kinds and sends notifications (store first,
 * then push); a user reads the inbox, the latest per kind and the unread counts, and marks
 * items read. Each send: check (kind, target, sender) → write (one transaction: the
 * notification once, plus recipient rows unless it is a tenant broadcast) → emit
 * `notification.created` after commit.
 */
import {
  BuiltinNotificationKindNames, BuiltinNotificationKinds, EventKinds, LANGUAGE_TAG_PATTERN, MAX_KIND_DISPLAY_NAME, MAX_KIND_DISPLAY_NAMES,
  NOTIFICATION_KIND_PATTERN, isBuiltinNotificationKind, type BuiltinNotificationKind, type NotificationAudience, type NotificationMode,
} from '@careline/protocol';
import { MAX_CONTENT_DEPTH, nestsDeeperThan } from '@careline/protocol';
import type { EventBus, Storage } from './ports.ts';
import type {
  InboxQuery, Notification, NotificationKindDef, WireNotification, NotificationKindNamesInput, NotificationTarget, NotificationUnread, Principal,
} from './types.ts';
import { requireApp, requireUser } from './access.ts';
import { fail } from './errors.ts';
import { ID_RE, newId } from './ids.ts';

const KIND_RE = new RegExp(NOTIFICATION_KIND_PATTERN);
const TAG_RE = /^[^\s,]{1,64}$/;
const EVENT_KINDS = new Set<string>(Object.values(EventKinds));
const LANGUAGE_TAG_RE = new RegExp(LANGUAGE_TAG_PATTERN);
// Control characters (C0, DEL, C1) and the bidirectional overrides that could disguise a name.
const UNSHOWABLE_RE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/** A built-in kind's definition, with its names from the protocol. */
function builtinKind(kind: BuiltinNotificationKind): NotificationKindDef {
  const names = BuiltinNotificationKindNames[kind];
  return { kind, mode: BuiltinNotificationKinds[kind], builtin: true, created_at: null, display_name: names.en, display_names: { ...names } };
}

/** One display name: trimmed, 1–64 characters, nothing unprintable; `request.invalid` otherwise. */
function displayName(raw: unknown, field: string): string {
  const bad = (why: string) => fail('request.invalid', `${field} ${why}.`, { field });
  if (typeof raw !== 'string') throw bad('must be a string');
  const name = raw.trim().normalize('NFC');
  if (name.length === 0) throw bad('must not be empty');
  if ([...name].length > MAX_KIND_DISPLAY_NAME) throw bad(`must be at most ${MAX_KIND_DISPLAY_NAME} characters`);
  if (UNSHOWABLE_RE.test(name)) throw bad('must not contain control or direction-override characters');
  return name;
}

/**
 * Checks the names given when registering a kind: `display_name` a name or null;
 * `display_names` an object of at most 32 language tags (BCP 47, canonicalised with `Intl`:
 * `zh-cn` → `zh-CN`) to names, or null. Anything else is `request.invalid`.
 */
export function parseKindNames(input: { display_name?: unknown; display_names?: unknown }): NotificationKindNamesInput {
  const out: NotificationKindNamesInput = {};
  if (input.display_name !== undefined) out.display_name = input.display_name === null ? null : displayName(input.display_name, 'display_name');
  const raw = input.display_names;
  if (raw === undefined) return out;
  if (raw === null) return { ...out, display_names: null };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw fail('request.invalid', 'display_names must be an object of language tags to names.', { field: 'display_names' });
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_KIND_DISPLAY_NAMES) {
    throw fail('request.invalid', `display_names may name at most ${MAX_KIND_DISPLAY_NAMES} languages.`, { field: 'display_names' });
  }
  const names: Record<string, string> = {};
  for (const [tag, name] of entries) {
    let canonical: string | undefined;
    try {
      canonical = LANGUAGE_TAG_RE.test(tag) ? Intl.getCanonicalLocales(tag)[0] : undefined;
    } catch {
      canonical = undefined;
    }
    if (canonical === undefined) {
      throw fail('request.invalid', `display_names: "${tag.slice(0, 40)}" is not a language tag (en, zh-CN, pt-BR, …).`, { field: 'display_names', tag: tag.slice(0, 40) });
    }
    if (Object.hasOwn(names, canonical)) {
      throw fail('request.invalid', `display_names names ${canonical} twice.`, { field: 'display_names', tag: canonical });
    }
    names[canonical] = displayName(name, `display_names.${canonical}`);
  }
  return { ...out, display_names: names };
}

/** A notification as sent to clients (frames, REST answers): without the internal `seq`. */
export function wireNotification(n: Notification): WireNotification {
  const { seq: _, ...wire } = n;
  return wire;
}

/** Most users one notification may list (`{ users: [...] }`); teams, tags and the tenant have no limit. */
export const MAX_LISTED_USERS = 10_000;

export interface SendNotificationInput {
  kind: string;
  /** `{ user }`, `{ users: [...] }`, `{ team }`, `{ tag }` or `{ tenant: true }`: exactly one. */
  target: unknown;
  title: string;
  body?: string | null;
  data?: Record<string, unknown> | null;
  /** A user of the tenant the notification is from (a doctor's push). */
  sender_id?: string | null;
}

export type ReadSelection = { ids: string[] } | { kind: string } | { all: true };

export interface NotificationDeps {
  storage: Pick<Storage, 'notifications' | 'users'>;
  bus: EventBus;
  /** Largest `data`, as JSON bytes. */
  maxDataBytes: number;
  now?: () => number;
}

/** Parses a target; anything but exactly one well-formed audience is `notification.target_invalid`. */
export function parseTarget(raw: unknown): { target: NotificationTarget; audience: NotificationAudience; audience_id: string | null } {
  const bad = (why: string) => fail('notification.target_invalid', `Invalid target: ${why}.`, { target: raw });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('give an object with one of user, users, team, tag, tenant');
  const keys = Object.keys(raw);
  if (keys.length !== 1) throw bad('give exactly one of user, users, team, tag, tenant');
  const [key] = keys as [string];
  const v = (raw as Record<string, unknown>)[key];
  const isId = (x: unknown): x is string => typeof x === 'string' && ID_RE.test(x);
  switch (key) {
    case 'user':
      if (!isId(v)) throw bad('user must be a user id');
      return { target: { type: 'users', ids: [v] }, audience: 'user', audience_id: null };
    case 'users': {
      if (!Array.isArray(v) || v.length === 0 || v.length > MAX_LISTED_USERS || !v.every(isId)) {
        throw bad(`users must be a list of 1–${MAX_LISTED_USERS} user ids`);
      }
      return { target: { type: 'users', ids: [...new Set(v)] }, audience: 'users', audience_id: null };
    }
    case 'team':
      if (!isId(v)) throw bad('team must be a team id');
      return { target: { type: 'team', id: v }, audience: 'team', audience_id: v };
    case 'tag':
      if (typeof v !== 'string' || !TAG_RE.test(v)) throw bad('tag must be 1–64 characters without spaces or commas');
      return { target: { type: 'tag', tag: v }, audience: 'tag', audience_id: v };
    case 'tenant':
      if (v !== true) throw bad('tenant must be true');
      return { target: { type: 'tenant' }, audience: 'tenant', audience_id: null };
    default:
      throw bad(`unknown audience "${key}"`);
  }
}

export class NotificationService {
  readonly #d: NotificationDeps;
  readonly #now: () => number;

  constructor(deps: NotificationDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  // ---- kinds -------------------------------------------------------------------------------

  /** The kind's definition: built in, or registered by the tenant; `notification.kind_unknown` otherwise. */
  async kind(tenantId: string, kind: string): Promise<NotificationKindDef> {
    if (isBuiltinNotificationKind(kind)) return builtinKind(kind);
    const def = KIND_RE.test(kind) ? await this.#d.storage.notifications.getKind(tenantId, kind) : null;
    if (!def) throw fail('notification.kind_unknown', `Unknown notification kind "${kind}": use a built-in kind or register it first.`, { kind });
    return def;
  }

  /** Every kind the tenant can send: the built-in ones, then the registered ones. */
  async kinds(p: Principal): Promise<NotificationKindDef[]> {
    const builtin = (Object.keys(BuiltinNotificationKinds) as BuiltinNotificationKind[]).map(builtinKind);
    return [...builtin, ...(await this.#d.storage.notifications.listKinds(p.tenantId))];
  }

  /** The kinds of the caller's tenant with their names, for a user's inbox (no registration times). */
  async kindsForUser(p: Principal): Promise<Omit<NotificationKindDef, 'created_at'>[]> {
    requireUser(p);
    return (await this.kinds(p)).map(({ created_at: _, ...k }) => k);
  }

  /**
   * Registers a custom kind (integrators), with optional names for people. The same name and
   * mode again keeps the kind and replaces the names given (one left out stays; `null`
   * clears it); another mode, a built-in kind with another mode, or an event kind's name is
   * `notification.kind_exists`. Built-in kinds keep the protocol's names: naming one is
   * `request.invalid`.
   */
  async registerKind(
    p: Principal, kind: string, mode: NotificationMode, rawNames: { display_name?: unknown; display_names?: unknown } = {},
  ): Promise<{ kind: NotificationKindDef; created: boolean }> {
    requireApp(p);
    if (!KIND_RE.test(kind)) throw fail('request.invalid', `A kind name matches ${NOTIFICATION_KIND_PATTERN}.`, { kind });
    if (mode !== 'each' && mode !== 'latest') throw fail('request.invalid', 'mode must be "each" or "latest".');
    const names = parseKindNames(rawNames);
    if (EVENT_KINDS.has(kind)) throw fail('notification.kind_exists', `${kind} is an event kind, not a notification kind.`, { kind });
    if (isBuiltinNotificationKind(kind)) {
      const builtinMode = BuiltinNotificationKinds[kind];
      if (builtinMode !== mode) throw fail('notification.kind_exists', `${kind} is built in with mode "${builtinMode}".`, { kind, mode: builtinMode });
      if (names.display_name !== undefined || names.display_names !== undefined) {
        throw fail('request.invalid', `${kind} is built in: its names are fixed.`, { kind });
      }
      return { kind: builtinKind(kind), created: false };
    }
    return this.#d.storage.notifications.registerKind(p.tenantId, kind, mode, this.#now(), names);
  }

  // ---- send --------------------------------------------------------------------------------

  /** Stores a notification, then pushes it to the online recipients (after commit). Integrators only. */
  async send(p: Principal, input: SendNotificationInput): Promise<{ notification: Notification; recipients: number }> {
    const appId = requireApp(p);
    const def = await this.kind(p.tenantId, input.kind);
    const { target, audience, audience_id } = parseTarget(input.target);
    const data = input.data ?? null;
    // Before JSON.stringify, which deep nesting breaks (as it would every delivery of it).
    if (data !== null && nestsDeeperThan(data, MAX_CONTENT_DEPTH)) {
      throw fail('request.invalid', `data nests deeper than ${MAX_CONTENT_DEPTH} levels.`, { max_depth: MAX_CONTENT_DEPTH });
    }
    if (data !== null && Buffer.byteLength(JSON.stringify(data)) > this.#d.maxDataBytes) {
      throw fail('request.invalid', `data is larger than ${this.#d.maxDataBytes} bytes as JSON.`);
    }
    const senderId = input.sender_id ?? null;
    if (senderId !== null && !(await this.#d.storage.users.getUser(p.tenantId, senderId))) {
      throw fail('user.not_found', `sender_id: no user ${senderId}`, { sender_id: senderId });
    }
    // The store keeps this id or replaces it so that the tenant's ids follow commit order, and
    // gives the tenant's seq: what it returns is what is published and answered.
    const { notification, recipients, count } = await this.#d.storage.notifications.create(
      {
        tenant_id: p.tenantId, id: newId(), kind: def.kind, mode: def.mode, title: input.title, body: input.body ?? null, data,
        sender_id: senderId, audience, audience_id, created_by: appId, created_at: this.#now(),
      },
      target,
    );
    this.#d.bus.publish({ kind: 'notification.created', tenant_id: p.tenantId, notification, recipients });
    return { notification, recipients: count };
  }

  // ---- the user's inbox --------------------------------------------------------------------

  /** The caller's inbox, newest first (cursor-paged). */
  async list(p: Principal, q: InboxQuery): Promise<{ notifications: Notification[]; next_cursor: string | null }> {
    const userId = requireUser(p);
    if (q.kind !== undefined) await this.kind(p.tenantId, q.kind);
    const { items, next_cursor } = await this.#d.storage.notifications.inbox(p.tenantId, userId, q);
    return { notifications: items, next_cursor };
  }

  /** The newest notification of each kind in the caller's inbox. */
  async latest(p: Principal): Promise<Notification[]> {
    return this.#d.storage.notifications.latestPerKind(p.tenantId, requireUser(p));
  }

  async unread(p: Principal): Promise<NotificationUnread> {
    return this.#d.storage.notifications.unread(p.tenantId, requireUser(p));
  }

  /** Notifications became read (after commit, on this node): webhooks (`webhooks/`) start here. */
  onRead: ((tenantId: string, userId: string, sel: ReadSelection, marked: number, unread: NotificationUnread) => void) | null = null;

  /** Marks the listed notifications, a kind, or all read; returns how many became read and the unread counts after. */
  async markRead(p: Principal, sel: ReadSelection): Promise<{ marked: number; unread: NotificationUnread }> {
    const userId = requireUser(p);
    const given = ['ids', 'kind', 'all'].filter((k) => Object.hasOwn(sel, k));
    if (given.length !== 1) throw fail('request.invalid', 'Give exactly one of ids, kind, or all: true.');
    if ('all' in sel && sel.all !== true) throw fail('request.invalid', 'all must be true.');
    if ('kind' in sel) await this.kind(p.tenantId, sel.kind);
    const marked = await this.#d.storage.notifications.markRead(p.tenantId, userId, sel, this.#now());
    const unread = await this.#d.storage.notifications.unread(p.tenantId, userId);
    if (marked > 0) this.onRead?.(p.tenantId, userId, sel, marked, unread);
    return { marked, unread };
  }
}

/**
 * Catch-up pages for a connection: the inbox after `after` (or, for the empty string, the
 * unread items), oldest first.
 */
export async function* readInboxAfter(
  storage: Pick<Storage, 'notifications'>, tenantId: string, userId: string, after: string, pageSize: number,
): AsyncGenerator<Notification[]> {
  let cursor = after === '' ? undefined : after;
  const unread = after === '';
  for (;;) {
    const page = await storage.notifications.inboxAfter(tenantId, userId, { after: cursor, unread, limit: pageSize });
    if (page.length === 0) return;
    yield page;
    if (page.length < pageSize) return;
    cursor = page[page.length - 1]!.id;
  }
}
