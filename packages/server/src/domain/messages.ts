/**
 * Message actions: send (group-committed, idempotent by client id), history, single message,
 * recall, forward, read cursors and unread counts.
 */
import { MessageTypeByCode, MessageTypes, type OutgoingMessage } from '@careline/protocol';
import type { EventBus, Storage } from './ports.ts';
import type { HistoryQuery, Message, MessageText, NewMessage, Principal } from './types.ts';
import type { RecentMessages } from './recent.ts';
import type { DirectoryEntry, MemberDirectory } from './directory.ts';
import type { AuditLog } from './audit.ts';
import { GroupCommitter } from './committer.ts';
import { isCareTeamRole, requireAccess, requireUser } from './access.ts';
import { checkContent, forwardType } from './content.ts';
import { fail } from './errors.ts';
import { setNewest } from './bounded.ts';
import { newId } from './ids.ts';

export interface SendOptions {
  /** Apps only: send as this user (a participant) instead of `system`. */
  senderId?: string;
  /** The WebSocket connection and request that sent it: that connection gets the ack in order with its other frames. */
  origin?: { connection: string; request: string };
}

export interface SendResult {
  message: Message;
  duplicate: boolean;
}

export type SendInput = Omit<OutgoingMessage, 'client_id'> & { client_id?: string };

export interface PreparedSend {
  msg: NewMessage;
  ctx: CommitCtx;
}

interface CommitCtx {
  recipients: readonly string[];
  origin: SendOptions['origin'];
  /** A stored file the message claimed (attached before the commit; released if it is not stored). */
  file?: { id: string; claimed: boolean };
}

/** Files stored by Careline that a message refers to by its content's `storageId` (`files/service.ts`). */
export interface MessageFiles {
  /** Whether the id names a file stored by Careline; other ids refer to a host system's storage and pass through. */
  isStored(storageId: string): boolean;
  /**
   * Attaches the sender's upload to the conversation to the message about to be stored
   * (`messageId`), before it is stored, so that nothing (an orphan cleanup, another message)
   * takes the file between the check and the commit; returns its stored facts (seed 003's
   * fields). `claimed` is false for a resend of the message that attached it already (same
   * sender and `clientId`): the commit then answers that message as a duplicate. `file.*`
   * errors otherwise.
   */
  claim(tenantId: string, storageId: string, conversationId: string, senderId: string, messageId: string, clientId: string | null): Promise<{ facts: Record<string, unknown>; claimed: boolean }>;
  /** Undoes a claim whose message was not stored. */
  release(tenantId: string, storageId: string, messageId: string): Promise<unknown>;
}

export interface MessageDeps {
  storage: Pick<Storage, 'messages' | 'conversations' | 'users'>;
  bus: EventBus;
  directory: MemberDirectory;
  /** Reads of patient conversations are recorded here. */
  audit: AuditLog;
  maxContentBytes: number;
  recallWindowMs: number;
  historyPageMax: number;
  groupCommitMaxBatch: number;
  now?: () => number;
  /** Checks and attaches files a message names by `storageId`. */
  files?: MessageFiles;
  /** The newest messages of conversations read lately (`recent.ts`); without it every history read goes to storage. */
  recent?: RecentMessages;
}

/** Read-cursor floors kept per node (`MessageService.#cursorFloors`): about 250 bytes each, 2.5 MiB at most. */
const CURSOR_FLOORS = 10_000;
const cursorKey = (tenantId: string, conversationId: string, userId: string) => `${tenantId}\u0000${conversationId}\u0000${userId}`;

export class MessageService {
  readonly #d: MessageDeps;
  readonly #now: () => number;
  readonly committer: GroupCommitter<CommitCtx>;
  /**
   * Called on this node for each new message committed here (not a resend of one stored),
   * right after its event is published: offline push (`push/planner.ts`) starts from here, so
   * a message is considered once, by the node that committed it.
   */
  onCreated: ((tenantId: string, message: Message, recipients: readonly string[]) => void) | null = null;
  /**
   * Whether the after-commit work (push, webhooks, missed calls: `webhooks/after-commit.ts`)
   * wants a message of this type: if not, its append writes no outbox job. Unset: every one.
   */
  outboxWanted: ((tenantId: string, type: number) => boolean) | null = null;
  /**
   * A floor under read cursors this node has seen (tenant, conversation, user → seq): a read
   * cursor only moves forward, and a member added later starts at the conversation's head, so
   * the stored cursor is never below what was seen here, on any node. A fetch at or below the
   * floor moves nothing and reads nothing — seed 000's clients fetch again and again, most
   * fetches returning what they had. Oldest entries go first past `CURSOR_FLOORS`.
   */
  readonly #cursorFloors = new Map<string, number>();

  constructor(deps: MessageDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.committer = new GroupCommitter<CommitCtx>(deps.storage.messages, deps.groupCommitMaxBatch, (_msg, r, ctx) => {
      if (r.ok && !r.duplicate) {
        const ev = { kind: 'message.created' as const, tenant_id: _msg.tenant_id, message: r.message, recipients: ctx.recipients };
        this.#d.bus.publish(ctx.origin ? { ...ev, origin: ctx.origin.connection, origin_request: ctx.origin.request } : ev);
        this.onCreated?.(_msg.tenant_id, r.message, ctx.recipients);
      }
    });
  }

  /** Checks and writes a message; resolves after it is committed. */
  async send(p: Principal, conversationId: string, out: SendInput, opts: SendOptions = {}): Promise<SendResult> {
    return this.commit(await this.prepare(p, conversationId, out, opts));
  }

  /**
   * The check half of `send`: validates, authorises, builds the message. A transport that
   * must keep one client's sends in order calls `prepare` in order and `commit` in the same
   * order (commit queues synchronously).
   */
  async prepare(p: Principal, conversationId: string, out: SendInput, opts: SendOptions = {}): Promise<PreparedSend> {
    let checked = checkContent(out.type, out.content, this.#d.maxContentBytes);
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    let senderId: string;
    let careTeam = false;
    if (p.kind === 'user') {
      if (checked.systemOnly) throw fail('message.type_forbidden', undefined, { type: out.type });
      senderId = p.userId;
      careTeam = isCareTeamRole(p.role);
    } else {
      senderId = opts.senderId ?? 'system';
      if (senderId !== 'system') {
        if (!entry.members.has(senderId)) throw fail('conversation.not_participant', `Sender ${senderId} is not a participant.`);
        const sender = await this.#d.storage.users.getUser(p.tenantId, senderId);
        careTeam = sender !== null && isCareTeamRole(sender.role);
      }
    }
    // A file stored here: it must be the sender's upload to this conversation, not attached
    // yet; its stored facts replace what the client said of it.
    const storageId = (out.content as { storageId?: unknown } | null)?.storageId;
    const id = newId();
    let file: CommitCtx['file'];
    if (this.#d.files && typeof storageId === 'string' && this.#d.files.isStored(storageId)) {
      const c = await this.#d.files.claim(p.tenantId, storageId, conversationId, senderId, id, out.client_id ?? null);
      file = { id: storageId, claimed: c.claimed };
      try {
        const allowed = Object.keys((MessageTypeByCode.get(out.type)?.schema as { properties?: object } | undefined)?.properties ?? {});
        out = { ...out, content: { ...(out.content as object), ...Object.fromEntries(Object.entries(c.facts).filter(([k]) => allowed.includes(k))) } };
        checked = checkContent(out.type, out.content, this.#d.maxContentBytes);
      } catch (err) {
        if (c.claimed) await this.#d.files.release(p.tenantId, storageId, id).catch(() => {});
        throw err;
      }
    }
    const msg: NewMessage = {
      tenant_id: p.tenantId, conversation_id: conversationId, id, sender_id: senderId, type: out.type,
      content: out.content, content_json: checked.json, client_id: out.client_id ?? null, created_at: this.#now(), forward: null,
      ...(careTeam ? { care_team: true } : {}),
    };
    return { msg, ctx: { recipients: entry.list, origin: opts.origin, ...(file ? { file } : {}) } };
  }

  commit(prepared: PreparedSend): Promise<SendResult> {
    return this.#commit(prepared.msg, prepared.ctx);
  }

  async #commit(msg: NewMessage, ctx: CommitCtx): Promise<SendResult> {
    // A file claimed for a message that is not stored (refused, or a resend answered by the
    // first copy) goes back to being an upload.
    const release = () => (ctx.file?.claimed ? this.#d.files?.release(msg.tenant_id, ctx.file.id, msg.id).catch(() => {}) : undefined);
    if (this.outboxWanted && !this.outboxWanted(msg.tenant_id, msg.type)) msg.outbox = false;
    let r;
    try {
      r = await this.committer.write(msg, ctx);
    } catch (err) {
      await release();
      throw err;
    }
    if (!r.ok || r.duplicate) await release();
    if (!r.ok) throw fail(r.code);
    return { message: r.message, duplicate: r.duplicate };
  }

  async history(p: Principal, conversationId: string, q: { before?: number; after?: number; limit?: number }): Promise<{ messages: Message[]; has_more: boolean }> {
    const page = await this.#read(p, conversationId, q);
    return { messages: page.messages.map((m) => JSON.parse(m.json) as Message), has_more: page.has_more };
  }

  /**
   * `history` as the JSON text of its answer (`{"messages":[…],"has_more":…}`), built from the
   * stored text of each message — nothing parsed to be written again — and the newest seq it
   * holds (0 for none). The same checks, the same audit record, the same messages.
   *
   * `moveCursor`: seed 000's fetch (the newest page, no paging cursor), which is the caller's
   * read — their read cursor moves to the newest seq returned (`#cursorMove`). The cursor's
   * write and the read's audit record are handed to storage together — one group commit, not
   * one after the other — and the page is answered once both are committed.
   */
  async historyJson(
    p: Principal, conversationId: string, q: { before?: number; after?: number; limit?: number }, opts: { moveCursor?: boolean } = {},
  ): Promise<{ json: string; newest: number }> {
    const { messages, has_more } = await this.#read(p, conversationId, q, opts.moveCursor ?? false);
    return { json: `{"messages":[${messages.map((m) => m.json).join(',')}],"has_more":${has_more}}`, newest: messages.at(-1)?.seq ?? 0 };
  }

  /**
   * A history page, as text: membership checked, the read audited (committed) before it is
   * given. With `moveCursor`, the cursor move's reads come first, then its write (if any) and
   * the audit record go to storage back to back, so that both join one group commit, and the
   * page waits for that one commit rather than two in turn.
   */
  async #read(
    p: Principal, conversationId: string, q: { before?: number; after?: number; limit?: number },
    moveCursor = false,
  ): Promise<{ messages: MessageText[]; has_more: boolean }> {
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    const limit = Math.min(q.limit ?? 50, this.#d.historyPageMax);
    const rows = await this.#page(p.tenantId, conversationId, { ...q, limit: limit + 1 });
    const has_more = rows.length > limit;
    // Extra row: drop it from the far end (oldest when paging back, newest when paging forward).
    const messages = has_more ? (q.after !== undefined ? rows.slice(0, limit) : rows.slice(1)) : rows;
    const write = moveCursor ? await this.#cursorMove(p, entry, conversationId, messages.at(-1)?.seq ?? 0) : undefined;
    const audited = this.#d.audit.read(p, entry.conversation, 'messages.history', { ...q, count: messages.length });
    if (write) {
      const moved = write();
      void this.#d.audit.flush();
      await Promise.all([audited, moved]);
    } else await audited;
    return { messages, has_more };
  }

  /**
   * A history page: from the node's recent messages when they hold every seq asked for; else
   * from storage — and the second latest page of a conversation within the TTL keeps what it
   * read there, for the reads that follow (`recent.ts`).
   */
  async #page(tenantId: string, conversationId: string, q: HistoryQuery): Promise<MessageText[]> {
    const recent = this.#d.recent;
    const stored = this.#d.storage.messages;
    if (!recent?.enabled) return stored.historyText(tenantId, conversationId, q);
    const kept = recent.pageText(tenantId, conversationId, q);
    if (kept) return kept;
    const again = recent.wasKept(tenantId, conversationId);
    const latest = q.before === undefined && q.after === undefined && q.limit <= recent.perConversation;
    // A copy is loaded by the second latest page of a conversation within the TTL, or by a page
    // the copy held before it expired (as many messages as it held); its rows are the page's own.
    if (again === 0 && !(latest && recent.admit(tenantId, conversationId))) return stored.historyText(tenantId, conversationId, q);
    const size = Math.min(recent.perConversation, Math.max(latest ? q.limit : 0, again));
    const slot = recent.begin(tenantId, conversationId);
    const newest = await stored.historyText(tenantId, conversationId, { limit: size });
    recent.store(tenantId, conversationId, slot, newest, size);
    if (latest) return newest.length > q.limit ? newest.slice(newest.length - q.limit) : newest;
    return recent.pageText(tenantId, conversationId, q) ?? stored.historyText(tenantId, conversationId, q);
  }

  async get(p: Principal, conversationId: string, messageId: string): Promise<Message> {
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    const m = await this.#d.storage.messages.getById(p.tenantId, conversationId, messageId);
    if (!m) throw fail('message.not_found');
    await this.#d.audit.read(p, entry.conversation, 'messages.get', { message_id: messageId });
    return m;
  }

  /** Recalls a message: a tombstone stays at its seq, and a system notice tells every device. */
  async recall(p: Principal, conversationId: string, messageId: string): Promise<Message> {
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    const m = await this.#d.storage.messages.getById(p.tenantId, conversationId, messageId);
    if (!m) throw fail('message.not_found');
    if (m.recalled_at !== null) throw fail('message.already_recalled');
    const now = this.#now();
    if (p.kind === 'user') {
      if (m.sender_id !== p.userId) throw fail('message.recall_forbidden');
      if (now - m.created_at > this.#d.recallWindowMs) throw fail('message.recall_expired', undefined, { window_seconds: this.#d.recallWindowMs / 1000 });
    }
    // Wait for sends in flight so the notice's seq comes after everything already acked.
    await this.committer.drain();
    const by = p.kind === 'user' ? p.userId : 'system';
    const noticeContent = { event: 'message.recalled', data: { message_id: m.id, seq: m.seq, by } };
    const notice: NewMessage = {
      tenant_id: p.tenantId, conversation_id: conversationId, id: newId(), sender_id: by, type: MessageTypes.SYSTEM,
      content: noticeContent, content_json: JSON.stringify(noticeContent),
      client_id: null, created_at: now, forward: null,
    };
    const r = await this.#d.storage.messages.recall(p.tenantId, conversationId, messageId, now, notice);
    if (!r) throw fail('message.already_recalled');
    this.#d.bus.publish({ kind: 'message.created', tenant_id: p.tenantId, message: r.notice, recipients: entry.list });
    return r.recalled;
  }

  /** Copies a message into other conversations the caller is in, as the forward types of the original server. */
  async forward(p: Principal, conversationId: string, messageId: string, to: string[], clientId?: string): Promise<Message[]> {
    const original = await this.get(p, conversationId, messageId);
    if (original.content === null) throw fail('message.already_recalled');
    const type = forwardType(original.type);
    const content = type === MessageTypes.FORWARD ? { type: original.type, content: original.content } : original.content;
    const checked = checkContent(type, content, this.#d.maxContentBytes);
    const targets = [...new Set(to)];
    const entries = await Promise.all(targets.map((t) => requireAccess(this.#d.directory, p, t)));
    const senderId = p.kind === 'user' ? p.userId : 'system';
    const results = await Promise.all(
      entries.map((e, i) =>
        this.#commit(
          {
            tenant_id: p.tenantId, conversation_id: targets[i]!, id: newId(), sender_id: senderId, type, content, content_json: checked.json,
            client_id: clientId ? `${clientId}:${i}` : null, created_at: this.#now(),
            forward: { conversation_id: conversationId, message_id: original.id, sender_id: original.sender_id },
            ...(p.kind === 'user' && isCareTeamRole(p.role) ? { care_team: true } : {}),
          },
          { recipients: e.list, origin: undefined },
        ),
      ),
    );
    return results.map((r) => r.message);
  }

  /** Moves the caller's read cursor forward (default: to the newest message) and tells the others. */
  async markRead(p: Principal, conversationId: string, seq?: number, opts: Pick<SendOptions, 'origin'> = {}): Promise<{ read_seq: number; unread: number }> {
    const userId = requireUser(p);
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    const target = seq ?? Number.MAX_SAFE_INTEGER;
    const readSeq = await this.#d.storage.conversations.advanceRead(p.tenantId, conversationId, userId, target);
    if (readSeq === null) throw fail('conversation.not_participant');
    this.#seenCursor(cursorKey(p.tenantId, conversationId, userId), readSeq);
    const ev = { kind: 'read.updated' as const, tenant_id: p.tenantId, conversation_id: conversationId, user_id: userId, seq: readSeq, recipients: entry.list };
    this.#d.bus.publish(opts.origin ? { ...ev, origin: opts.origin.connection, origin_request: opts.origin.request } : ev);
    const view = await this.#d.storage.conversations.viewForUser(p.tenantId, userId, conversationId);
    return { read_seq: readSeq, unread: view ? view.unread : 0 };
  }

  /**
   * Seed 000 counted unread as the messages after a member's last fetch. A fetch that stands
   * for that (`historyJson` with `moveCursor`) moves the caller's read cursor to `seq`, the newest seq it returned:
   * forward only, and, when it moved, with a `read.updated` as the `read` frame sends. An
   * integrator's own fetch (no user) moves nothing. This does the move's reads, and gives
   * undefined if the cursor does not move, else the write that moves it (and publishes).
   */
  async #cursorMove(p: Principal, entry: DirectoryEntry, conversationId: string, seq: number): Promise<(() => Promise<void>) | undefined> {
    if (p.kind !== 'user' || seq <= 0) return undefined;
    const key = cursorKey(p.tenantId, conversationId, p.userId);
    if ((this.#cursorFloors.get(key) ?? -1) >= seq) return undefined;
    // The caller's participant row (its cursor), not the conversation's view: most fetches move nothing.
    const before = (await this.#d.storage.conversations.getParticipants(p.tenantId, conversationId, [p.userId]))[0]?.read_seq ?? null;
    if (before === null) return undefined;
    if (before >= seq) {
      this.#seenCursor(key, before);
      return undefined;
    }
    return async () => {
      const readSeq = await this.#d.storage.conversations.advanceRead(p.tenantId, conversationId, p.userId, seq);
      if (readSeq === null || readSeq <= before) return;
      this.#seenCursor(key, readSeq);
      this.#d.bus.publish({ kind: 'read.updated', tenant_id: p.tenantId, conversation_id: conversationId, user_id: p.userId, seq: readSeq, recipients: entry.list });
    };
  }

  /** Raises the floor under a read cursor (`#cursorFloors`) to a value read from or written to storage. */
  #seenCursor(key: string, seq: number): void {
    const floors = this.#cursorFloors;
    if ((floors.get(key) ?? -1) >= seq) return;
    setNewest(floors, key, seq, CURSOR_FLOORS);
  }

  async typing(p: Principal, conversationId: string, state: 'typing' | 'stopped'): Promise<void> {
    const userId = requireUser(p);
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    this.#d.bus.publish({ kind: 'typing', tenant_id: p.tenantId, conversation_id: conversationId, user_id: userId, state, recipients: entry.list });
  }

  async unreadTotal(p: Principal): Promise<{ count: number; sessions: { session_id: string; unread: number }[] }> {
    const userId = requireUser(p);
    const ms = await this.#d.storage.conversations.memberships(p.tenantId, userId);
    const sessions = ms.map((m) => ({ session_id: m.id, unread: Math.max(0, m.last_seq - m.read_seq) })).filter((s) => s.unread > 0);
    return { count: sessions.reduce((a, s) => a + s.unread, 0), sessions };
  }

  async unreadIn(p: Principal, conversationId: string): Promise<number> {
    const userId = requireUser(p);
    await requireAccess(this.#d.directory, p, conversationId);
    const view = await this.#d.storage.conversations.viewForUser(p.tenantId, userId, conversationId);
    return view ? view.unread : 0;
  }

  /** The unread messages (after the caller's read cursor), oldest first; does not move the cursor. */
  async unreadMessages(p: Principal, conversationId: string, limit?: number): Promise<{ messages: Message[]; count: number }> {
    const userId = requireUser(p);
    const entry = await requireAccess(this.#d.directory, p, conversationId);
    const view = await this.#d.storage.conversations.viewForUser(p.tenantId, userId, conversationId);
    if (!view) throw fail('conversation.not_participant');
    const messages = (await this.#page(p.tenantId, conversationId, {
      after: view.read_seq, limit: Math.min(limit ?? this.#d.historyPageMax, this.#d.historyPageMax),
    })).map((m) => JSON.parse(m.json) as Message);
    await this.#d.audit.read(p, entry.conversation, 'messages.unread', { after: view.read_seq, count: messages.length });
    return { messages, count: view.unread };
  }
}
