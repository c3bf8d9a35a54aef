/**
 * The client's state, kept from the SDK's events and REST helpers: conversations with unread
 * counts, the messages of the open ones (with the user's own pending and failed sends),
 * participants with their read cursors, presence, typing, the current consultation of each
 * conversation. React components read it through `useStore`.
 *
 * Everything goes through `CarelineClient` (`@careline/sdk`): the WebSocket for live events,
 * sends and read receipts; `client.api` and `client.topics` for REST.
 */
import { useSyncExternalStore } from 'react';
import {
  BuiltinNotificationKinds,
  CarelineClient,
  CarelineError,
  MessageTypes,
  type CarelineStorage,
  type ConnectionState,
  type ConversationView,
  type Message,
  type Notification,
  type NotificationKindInfo,
  type NotificationUnread,
  type Participant,
  type Topic,
  type User,
} from '@careline/sdk';
import { isRecallNotice, TOPIC_TYPES } from './format.ts';
import { enableWebPush } from './push.ts';

/** A message as the chat shows it: a stored one, or one of the user's own sends not yet acked. */
export interface UiMessage extends Message {
  /** `pending`: in the outbox, waiting for the server's ack. `failed`: refused by the server. */
  status?: 'pending' | 'failed';
  error?: string;
}

export interface ConvMessages {
  items: UiMessage[];
  /** Older messages exist before the first item. */
  hasMore: boolean;
  loading: boolean;
  loaded: boolean;
  error?: string;
}

export interface Presence {
  online: boolean;
  last_seen: number | null;
}

export interface Toast {
  id: number;
  text: string;
}

export interface StoreState {
  me: User | null;
  connection: ConnectionState;
  /** The browser says it has a network (`navigator.onLine`). */
  online: boolean;
  /** How the client reaches the server: WebSocket, or long-polling where WebSockets do not get through. */
  transport: 'websocket' | 'longpoll' | 'mqtt';
  /** Why the client stopped for good (revoked token, connected elsewhere…). */
  closedBy: CarelineError | null;
  everOpened: boolean;
  /** Sticky first, then by newest activity (as the server orders them). */
  conversations: ConversationView[];
  conversationsLoaded: boolean;
  messages: Record<string, ConvMessages>;
  participants: Record<string, Participant[]>;
  presence: Record<string, Presence>;
  /** Conversation → user → until when the "typing" indicator shows. */
  typing: Record<string, Record<string, number>>;
  /** The newest consultation of each conversation (null: none; absent: not loaded). */
  topics: Record<string, Topic | null>;
  /** Bumped whenever a consultation changes (start, reply, end), so lists reload. */
  topicsVersion: number;
  /** Display names of the users seen in participant lists. */
  names: Record<string, string>;
  /** The notification inbox, newest first (null: not loaded). */
  inbox: Notification[] | null;
  /** Cursor of the next (older) page of the inbox; null on the last page. */
  inboxCursor: string | null;
  /** Unread notifications: total and per kind (null: unknown). */
  inboxUnread: NotificationUnread | null;
  /** False when the server has no notifications (an older server). */
  inboxAvailable: boolean;
  /** The tenant's notification kinds by code, with their names for people (empty: not loaded, or an older server). */
  notificationKinds: Record<string, NotificationKindInfo>;
  toasts: Toast[];
  /** The platform class of a newer connection of this account (S2C_DIFFERENT_CONNECTION), until dismissed. */
  elsewhere: string | null;
}

const PAGE = 30;
const TYPING_SHOW_MS = 6000;
const TYPING_SEND_EVERY_MS = 3000;

export function sortConversations(list: ConversationView[]): ConversationView[] {
  return [...list].sort((a, b) => {
    if (a.sticky !== b.sticky) return a.sticky ? -1 : 1;
    const at = a.last_message_at ?? a.updated_at;
    const bt = b.last_message_at ?? b.updated_at;
    return bt - at;
  });
}

function bySeq(a: UiMessage, b: UiMessage): number {
  const ap = a.status !== undefined;
  const bp = b.status !== undefined;
  if (ap !== bp) return ap ? 1 : -1;
  if (ap) return a.created_at - b.created_at;
  return a.seq - b.seq;
}

/** Merges messages by id (and own sends by client id), keeping the newest version of each. */
function merge(items: UiMessage[], incoming: UiMessage[]): UiMessage[] {
  const byId = new Map<string, UiMessage>();
  for (const m of items) byId.set(m.id, m);
  for (const m of incoming) {
    if (m.client_id && m.status === undefined) byId.delete(`local:${m.client_id}`);
    const prev = byId.get(m.id);
    // A tombstone never turns back into the message.
    if (prev && prev.content === null && prev.recalled_at !== null && m.content !== null) continue;
    byId.set(m.id, m);
  }
  return [...byId.values()].sort(bySeq);
}

export class Store {
  readonly client: CarelineClient;
  state: StoreState;
  /** The conversation on screen (its new messages are read as they arrive). */
  #active: string | null = null;
  #listeners = new Set<() => void>();
  #offs: (() => void)[] = [];
  #typingSent = new Map<string, number>();
  #typingTimer: ReturnType<typeof setInterval> | null = null;
  #toastId = 0;
  #unreadTimer: ReturnType<typeof setTimeout> | null = null;
  #kindsLoading: Promise<void> | null = null;
  #stopped = false;

  /** The user's id from the token, until the server's `hello` names the user. */
  readonly #userHint: string;

  /**
   * `transport`: start with this one (default WebSocket). With WebSocket, the client goes on
   * over long-polling by itself when the WebSocket cannot connect (blocked by a proxy, a
   * firewall or the browser) while the server answers HTTP.
   */
  constructor(opts: { url: string; token: string; userId?: string; storage?: CarelineStorage; storageKey?: string; transport?: 'websocket' | 'longpoll' }) {
    this.#userHint = opts.userId ?? '';
    this.client = new CarelineClient({
      url: opts.url,
      token: opts.token,
      storage: opts.storage,
      storageKey: opts.storageKey,
      reconnect: { baseMs: 500, maxMs: 10_000 },
      transport: opts.transport ?? 'websocket',
      longPollFallback: true,
    });
    this.state = {
      me: null,
      connection: 'closed',
      online: typeof navigator === 'undefined' ? true : navigator.onLine,
      transport: this.client.transport,
      closedBy: null,
      everOpened: false,
      conversations: [],
      conversationsLoaded: false,
      messages: {},
      participants: {},
      presence: {},
      typing: {},
      topics: {},
      topicsVersion: 0,
      names: {},
      inbox: null,
      inboxCursor: null,
      inboxUnread: null,
      inboxAvailable: true,
      notificationKinds: {},
      toasts: [],
      elsewhere: null,
    };
  }

  // ---- Subscription (for useSyncExternalStore) ---------------------------------------------

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  #set(patch: Partial<StoreState>): void {
    this.state = { ...this.state, ...patch };
    for (const l of [...this.#listeners]) l();
  }

  // ---- Life cycle --------------------------------------------------------------------------

  /** Connects; resolves once connected and caught up, rejects if the token is refused. */
  async start(): Promise<void> {
    const c = this.client;
    this.#offs.push(
      c.on('state', ({ state, error }) => {
        const patch: Partial<StoreState> = { connection: state, transport: c.transport };
        if (state === 'open') {
          patch.everOpened = true;
          if (c.user) patch.me = c.user;
        }
        if (state === 'closed' && error) patch.closedBy = error;
        if (state === 'open') patch.closedBy = null;
        this.#set(patch);
      }),
      c.on('synced', (e) => {
        if (e.notifications) this.#set({ inboxUnread: e.notifications.unread });
        void this.#afterSync();
      }),
      c.on('notification', (n) => this.#onNotification(n)),
      c.on('message', (m) => this.#onMessage(m)),
      c.on('ack', (a) => this.#onAck(a.conversation_id, a.client_id, a.message_id, a.seq, a.created_at)),
      c.on('read', (r) => this.#onRead(r.conversation_id, r.user_id, r.seq)),
      c.on('typing', (e) => this.#onTyping(e.conversation_id, e.user_id, e.state)),
      c.on('presence', (p) => this.#set({ presence: { ...this.state.presence, [p.user_id]: { online: p.online, last_seen: p.last_seen } } })),
      c.on('conversation', (e) => void this.#onConversation(e.event, e.conversation_id)),
      c.on('error', (e) => this.#onError(e)),
      // The account connected again from another device of the same kind (the tenant's `notify`
      // policy keeps this one open; under `kick` the close that follows is the banner's).
      c.on('event', (e) => {
        if (e.kind === 'S2C_DIFFERENT_CONNECTION') this.#set({ elsewhere: e.platform_class });
      }),
    );
    const onOnline = () => this.#onNetwork(true);
    const onOffline = () => this.#onNetwork(false);
    const onVisible = () => {
      if (document.visibilityState === 'visible') this.#readActive();
    };
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
    document.addEventListener('visibilitychange', onVisible);
    this.#offs.push(() => {
      window.removeEventListener('online', onOnline);
      window.removeEventListener('offline', onOffline);
      document.removeEventListener('visibilitychange', onVisible);
    });
    this.#typingTimer = setInterval(() => this.#expireTyping(), 1000);
    if (this.state.online) {
      await c.connect();
    } else {
      // Offline from the start: connect when the network is back (the outbox is kept meanwhile).
      await c.ready();
    }
    this.#set({ me: c.user });
    // Web Push: notifications while no tab is connected (a no-op where unavailable).
    void enableWebPush(c);
  }

  async stop(opts: { logout?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    for (const off of this.#offs) off();
    this.#offs = [];
    if (this.#typingTimer) clearInterval(this.#typingTimer);
    if (this.#unreadTimer) clearTimeout(this.#unreadTimer);
    if (opts.logout) await this.client.logout().catch(() => undefined);
    else await this.client.close();
  }

  /** Tries again after a terminal close (e.g. "connected elsewhere"). */
  reconnect(): void {
    this.#set({ closedBy: null });
    this.client.connect().catch(() => undefined);
  }

  /**
   * The browser lost or regained its network. Offline, the socket is closed at once instead
   * of waiting for the heartbeat to notice; sends wait in the SDK's outbox meanwhile. Online,
   * the client reconnects and catches up.
   */
  #onNetwork(online: boolean): void {
    this.#set({ online });
    if (this.#stopped) return;
    if (!online) void this.client.close();
    else if (!this.state.closedBy) this.client.connect().catch(() => undefined);
  }

  // ---- Conversations -----------------------------------------------------------------------

  async loadConversations(): Promise<void> {
    const all: ConversationView[] = [];
    let cursor: string | undefined;
    try {
      for (let i = 0; i < 20; i++) {
        const page = await this.client.api.conversations({ limit: 100, cursor });
        all.push(...page.sessions);
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
    } catch (err) {
      this.toast(err);
      this.#set({ conversationsLoaded: true });
      return;
    }
    this.#set({ conversations: sortConversations(all), conversationsLoaded: true });
    // Participants: names for previews and the presence dot of one-to-one conversations.
    await Promise.all(all.slice(0, 50).map((c) => this.loadParticipants(c.id)));
  }

  async loadParticipants(conversationId: string): Promise<void> {
    try {
      const participants = await this.client.api.participants(conversationId);
      const names = { ...this.state.names };
      for (const p of participants) names[p.user_id] = p.name || p.user_id;
      // Read cursors only move forward: a receipt that came while this request was out is
      // newer than the list, which the server read before it.
      const known = new Map((this.state.participants[conversationId] ?? []).map((p) => [p.user_id, p.read_seq]));
      const merged = participants.map((p) => ((known.get(p.user_id) ?? 0) > p.read_seq ? { ...p, read_seq: known.get(p.user_id)! } : p));
      this.#set({ participants: { ...this.state.participants, [conversationId]: merged }, names });
      const me = this.state.me?.id;
      const others = participants.map((p) => p.user_id).filter((id) => id !== me);
      if (others.length > 0 && others.length <= 20) this.client.subscribePresence(others);
    } catch (err) {
      if (!(err instanceof CarelineError && err.status === 404)) this.toast(err);
    }
  }

  conversation(id: string): ConversationView | undefined {
    return this.state.conversations.find((c) => c.id === id);
  }

  nameOf = (userId: string): string => {
    if (userId === this.state.me?.id) return this.state.me.name;
    return this.state.names[userId] ?? userId;
  };

  #patchConversation(id: string, fn: (c: ConversationView) => ConversationView): void {
    let found = false;
    const list = this.state.conversations.map((c) => {
      if (c.id !== id) return c;
      found = true;
      return fn(c);
    });
    if (found) this.#set({ conversations: sortConversations(list) });
  }

  async #refreshConversation(id: string): Promise<void> {
    try {
      const view = await this.client.api.conversation(id);
      const others = this.state.conversations.filter((c) => c.id !== id);
      // A conversation on screen has no unread messages, whatever the server counted meanwhile.
      const v = id === this.#active && this.#visible() && view.unread > 0 ? this.#readNow(view) : view;
      this.#set({ conversations: sortConversations([...others, v]) });
      if (!this.state.participants[id]) void this.loadParticipants(id);
    } catch (err) {
      if (err instanceof CarelineError && (err.status === 404 || err.status === 403)) {
        this.#set({ conversations: this.state.conversations.filter((c) => c.id !== id) });
      }
    }
  }

  async #onConversation(event: string, id: string): Promise<void> {
    if (event === 'removed') {
      this.#set({ conversations: this.state.conversations.filter((c) => c.id !== id) });
      return;
    }
    await this.#refreshConversation(id);
    if (event === 'participants') await this.loadParticipants(id);
    if (event === 'updated' && this.state.topics[id] !== undefined) void this.loadTopic(id);
  }

  async setSticky(id: string, sticky: boolean): Promise<void> {
    try {
      await this.client.api.request(sticky ? 'PUT' : 'DELETE', `/sessions/${encodeURIComponent(id)}/sticky`);
      this.#patchConversation(id, (c) => ({ ...c, sticky }));
    } catch (err) {
      this.toast(err);
    }
  }

  /** After every (re)connect: counts and read receipts may have changed while away. */
  async #afterSync(): Promise<void> {
    if (!this.state.conversationsLoaded) return;
    await this.loadConversations();
    if (this.#active) {
      await this.loadParticipants(this.#active);
      void this.loadTopic(this.#active);
      this.#readActive();
    }
  }

  // ---- Messages ----------------------------------------------------------------------------

  /** Opens a conversation: loads its newest page (once), marks it read, follows its consultation. */
  async open(id: string | null): Promise<void> {
    this.#active = id;
    if (!id) return;
    this.#readActive();
    if (!this.state.participants[id]) void this.loadParticipants(id);
    if (this.state.topics[id] === undefined) void this.loadTopic(id);
    const cur = this.state.messages[id];
    if (cur?.loaded || cur?.loading) return;
    this.#setMessages(id, { items: cur?.items ?? [], hasMore: false, loading: true, loaded: false });
    try {
      const page = await this.client.api.history(id, { limit: PAGE });
      const pending = this.#pendingOf(id);
      const items = merge(this.state.messages[id]?.items ?? [], [...pending, ...page.messages]);
      this.#setMessages(id, { items: this.#applyRecalls(items), hasMore: page.has_more, loading: false, loaded: true });
      this.#readActive();
    } catch (err) {
      this.#setMessages(id, { items: this.state.messages[id]?.items ?? [], hasMore: false, loading: false, loaded: false, error: errorText(err) });
    }
  }

  /** Loads the page before the oldest message shown (infinite scroll upwards). */
  async loadOlder(id: string): Promise<void> {
    const cur = this.state.messages[id];
    if (!cur || cur.loading || !cur.hasMore) return;
    const oldest = cur.items.find((m) => m.status === undefined);
    if (!oldest) return;
    this.#setMessages(id, { ...cur, loading: true });
    try {
      const page = await this.client.api.history(id, { before: oldest.seq, limit: PAGE });
      const now = this.state.messages[id]!;
      this.#setMessages(id, { ...now, items: this.#applyRecalls(merge(now.items, page.messages)), hasMore: page.has_more, loading: false });
    } catch (err) {
      this.#setMessages(id, { ...this.state.messages[id]!, loading: false });
      this.toast(err);
    }
  }

  #setMessages(id: string, value: ConvMessages): void {
    this.#set({ messages: { ...this.state.messages, [id]: value } });
  }

  /** The user's sends of this conversation still in the SDK's outbox (also after a reload). */
  #pendingOf(id: string): UiMessage[] {
    const me = this.client.user?.id ?? this.state.me?.id ?? this.#userHint;
    return this.client
      .pendingSends()
      .filter((e) => e.conversation_id === id)
      .map((e) => ({
        id: `local:${e.client_id}`,
        conversation_id: id,
        seq: 0,
        sender_id: me,
        type: e.type,
        content: e.content,
        client_id: e.client_id,
        created_at: e.queued_at,
        recalled_at: null,
        forward: null,
        status: 'pending' as const,
      }));
  }

  /** Recall notices turn the messages they name into tombstones. */
  #applyRecalls(items: UiMessage[]): UiMessage[] {
    const recalled = new Map<string, number>();
    for (const m of items) {
      if (isRecallNotice(m)) {
        const target = (m.content?.data as { message_id?: unknown } | undefined)?.message_id;
        if (typeof target === 'string') recalled.set(target, m.created_at);
      }
    }
    if (recalled.size === 0) return items;
    return items.map((m) => (recalled.has(m.id) && m.content !== null ? { ...m, content: null, recalled_at: recalled.get(m.id)! } : m));
  }

  #onMessage(m: Message): void {
    const me = this.state.me?.id ?? this.client.user?.id;
    const conv = this.conversation(m.conversation_id);
    if (!conv) {
      void this.#refreshConversation(m.conversation_id);
    } else {
      const mine = m.sender_id === me;
      this.#patchConversation(m.conversation_id, (c) => {
        const last_seq = Math.max(c.last_seq, m.seq);
        const read_seq = mine ? Math.max(c.read_seq, m.seq) : c.read_seq;
        return { ...c, last_seq, read_seq, unread: Math.max(0, last_seq - read_seq), last_message: m.seq >= c.last_seq ? m : c.last_message, last_message_at: Math.max(c.last_message_at ?? 0, m.created_at) };
      });
    }
    const cur = this.state.messages[m.conversation_id];
    if (cur) this.#setMessages(m.conversation_id, { ...cur, items: this.#applyRecalls(merge(cur.items, [m])) });
    if (isRecallNotice(m)) {
      const target = (m.content?.data as { message_id?: unknown } | undefined)?.message_id;
      const c = this.conversation(m.conversation_id);
      if (c?.last_message && c.last_message.id === target) this.#patchConversation(c.id, (x) => ({ ...x, last_message: { ...x.last_message!, content: null, recalled_at: m.created_at } }));
    }
    // Whoever sent a message has stopped typing.
    const typing = this.state.typing[m.conversation_id];
    if (typing?.[m.sender_id]) {
      const { [m.sender_id]: _, ...rest } = typing;
      this.#set({ typing: { ...this.state.typing, [m.conversation_id]: rest } });
    }
    const topic = this.state.topics[m.conversation_id];
    if (TOPIC_TYPES.has(m.type) || (topic && topic.status === 0 && topic.reply === 0)) {
      void this.loadTopic(m.conversation_id);
      this.#set({ topicsVersion: this.state.topicsVersion + 1 });
    }
    if (m.conversation_id === this.#active) this.#readActive();
  }

  #onAck(conversationId: string, clientId: string, messageId: string, seq: number, createdAt: number): void {
    const cur = this.state.messages[conversationId];
    let acked: UiMessage | undefined;
    if (cur) {
      const local = cur.items.find((m) => m.id === `local:${clientId}`);
      if (local) {
        const { status: _s, error: _e, ...stored } = local;
        acked = { ...stored, id: messageId, seq, created_at: createdAt };
        const items = merge(cur.items.filter((m) => m.id !== local.id), [acked]);
        this.#setMessages(conversationId, { ...cur, items });
      }
    }
    this.#patchConversation(conversationId, (c) => {
      const last_seq = Math.max(c.last_seq, seq);
      const read_seq = Math.max(c.read_seq, seq);
      const last_message = seq >= c.last_seq && acked ? acked : c.last_message;
      return { ...c, last_seq, read_seq, unread: Math.max(0, last_seq - read_seq), last_message, last_message_at: Math.max(c.last_message_at ?? 0, createdAt) };
    });
    if (!acked && !cur) void this.#refreshConversation(conversationId);
    const topic = this.state.topics[conversationId];
    if (topic && topic.status === 0 && topic.reply === 0) {
      void this.loadTopic(conversationId);
      this.#set({ topicsVersion: this.state.topicsVersion + 1 });
    }
  }

  /** Sends a text (or any content): shown at once as pending, then sent or failed. */
  send(conversationId: string, type: number, content: Record<string, unknown>): void {
    const clientId = crypto.randomUUID();
    const me = this.state.me?.id ?? this.#userHint;
    const local: UiMessage = {
      id: `local:${clientId}`, conversation_id: conversationId, seq: 0, sender_id: me, type, content,
      client_id: clientId, created_at: Date.now(), recalled_at: null, forward: null, status: 'pending',
    };
    const cur = this.state.messages[conversationId] ?? { items: [], hasMore: false, loading: false, loaded: false };
    this.#setMessages(conversationId, { ...cur, items: merge(cur.items, [local]) });
    this.stopTyping(conversationId);
    this.client.send(conversationId, { type, content }, { clientId }).then(
      (ack) => this.#onAck(conversationId, clientId, ack.message_id, ack.seq, ack.created_at),
      (err: unknown) => {
        // `client.closed`: the client went offline; the message stays in the outbox and is sent on reconnect.
        if (err instanceof CarelineError && err.code === 'client.closed') return;
        this.#markFailed(conversationId, clientId, errorText(err));
      },
    );
  }

  #markFailed(conversationId: string, clientId: string, error: string): void {
    const cur = this.state.messages[conversationId];
    if (!cur) return;
    this.#setMessages(conversationId, {
      ...cur,
      items: cur.items.map((m) => (m.id === `local:${clientId}` ? { ...m, status: 'failed' as const, error } : m)),
    });
  }

  /** Sends a failed message again (as a new message: the server refused the first one). */
  retry(m: UiMessage): void {
    this.discard(m);
    if (m.content) this.send(m.conversation_id, m.type, m.content);
  }

  discard(m: UiMessage): void {
    const cur = this.state.messages[m.conversation_id];
    if (cur) this.#setMessages(m.conversation_id, { ...cur, items: cur.items.filter((x) => x.id !== m.id) });
  }

  async recall(m: UiMessage): Promise<void> {
    try {
      const tomb = await this.client.api.recall(m.conversation_id, m.id);
      const cur = this.state.messages[m.conversation_id];
      if (cur) this.#setMessages(m.conversation_id, { ...cur, items: merge(cur.items, [tomb]) });
    } catch (err) {
      this.toast(err);
    }
  }

  // ---- Read receipts -----------------------------------------------------------------------

  #visible(): boolean {
    return typeof document === 'undefined' || document.visibilityState === 'visible';
  }

  #readNow(c: ConversationView): ConversationView {
    this.client.markRead(c.id, c.last_seq);
    return { ...c, read_seq: c.last_seq, unread: 0 };
  }

  /** The conversation on screen is read up to its newest message. */
  #readActive(): void {
    const id = this.#active;
    if (!id || !this.#visible()) return;
    const c = this.conversation(id);
    if (!c || c.last_seq <= c.read_seq) return;
    this.#patchConversation(id, (x) => this.#readNow(x));
  }

  #onRead(conversationId: string, userId: string, seq: number): void {
    if (userId === this.state.me?.id) {
      // Read on another device.
      this.#patchConversation(conversationId, (c) => (seq > c.read_seq ? { ...c, read_seq: seq, unread: Math.max(0, c.last_seq - seq) } : c));
      return;
    }
    const list = this.state.participants[conversationId];
    if (!list) return;
    this.#set({
      participants: {
        ...this.state.participants,
        [conversationId]: list.map((p) => (p.user_id === userId && seq > p.read_seq ? { ...p, read_seq: seq } : p)),
      },
    });
  }

  // ---- Typing ------------------------------------------------------------------------------

  /** Call on every keystroke: tells the others at most every few seconds. */
  typing(conversationId: string): void {
    const now = Date.now();
    if (now - (this.#typingSent.get(conversationId) ?? 0) < TYPING_SEND_EVERY_MS) return;
    if (this.client.typing(conversationId, 'typing')) this.#typingSent.set(conversationId, now);
  }

  stopTyping(conversationId: string): void {
    if (!this.#typingSent.has(conversationId)) return;
    this.#typingSent.delete(conversationId);
    this.client.typing(conversationId, 'stopped');
  }

  #onTyping(conversationId: string, userId: string, state: 'typing' | 'stopped'): void {
    if (userId === this.state.me?.id) return;
    const cur = { ...this.state.typing[conversationId] };
    if (state === 'typing') cur[userId] = Date.now() + TYPING_SHOW_MS;
    else delete cur[userId];
    this.#set({ typing: { ...this.state.typing, [conversationId]: cur } });
  }

  #expireTyping(): void {
    const now = Date.now();
    let changed = false;
    const next: StoreState['typing'] = {};
    for (const [conv, users] of Object.entries(this.state.typing)) {
      const kept: Record<string, number> = {};
      for (const [u, until] of Object.entries(users)) {
        if (until > now) kept[u] = until;
        else changed = true;
      }
      next[conv] = kept;
    }
    if (changed) this.#set({ typing: next });
  }

  // ---- Consultations -----------------------------------------------------------------------

  async loadTopic(conversationId: string): Promise<void> {
    try {
      const { topic } = await this.client.topics.ended(conversationId, 'current');
      this.#set({ topics: { ...this.state.topics, [conversationId]: topic } });
    } catch (err) {
      if (err instanceof CarelineError && (err.status === 404 || err.code === 'topic.not_found')) {
        this.#set({ topics: { ...this.state.topics, [conversationId]: null } });
      }
    }
  }

  async endTopic(topic: Topic): Promise<boolean> {
    try {
      const t = await this.client.topics.end(topic.session_id, topic.id);
      this.#set({ topics: { ...this.state.topics, [topic.session_id]: t }, topicsVersion: this.state.topicsVersion + 1 });
      return true;
    } catch (err) {
      this.toast(err);
      return false;
    }
  }

  async startTopic(conversationId: string, name: string): Promise<boolean> {
    try {
      const { topic } = await this.client.topics.start(conversationId, { topic_id: `web-${crypto.randomUUID()}`, name });
      this.#set({ topics: { ...this.state.topics, [conversationId]: topic }, topicsVersion: this.state.topicsVersion + 1 });
      return true;
    } catch (err) {
      this.toast(err);
      return false;
    }
  }

  // ---- Notifications -----------------------------------------------------------------------

  /** The first page of the inbox and the unread counts (and the kinds' names, alongside). */
  async loadInbox(): Promise<void> {
    void this.loadNotificationKinds();
    try {
      const [page, unread] = await Promise.all([this.client.notifications.list({ limit: 30 }), this.client.notifications.unreadCount()]);
      this.#set({ inbox: page.notifications, inboxCursor: page.next_cursor, inboxUnread: unread, inboxAvailable: true });
    } catch (err) {
      if (err instanceof CarelineError && err.status === 404 && err.code === 'request.route_not_found') this.#set({ inboxAvailable: false, inbox: [] });
      else this.toast(err);
    }
  }

  async loadMoreInbox(): Promise<void> {
    const cursor = this.state.inboxCursor;
    if (!cursor) return;
    try {
      const page = await this.client.notifications.list({ limit: 30, cursor });
      const have = new Set((this.state.inbox ?? []).map((n) => n.id));
      this.#set({ inbox: [...(this.state.inbox ?? []), ...page.notifications.filter((n) => !have.has(n.id))], inboxCursor: page.next_cursor });
    } catch (err) {
      this.toast(err);
    }
  }

  /**
   * The tenant's notification kinds with their names, for the inbox's labels. Best effort: an
   * older server without `GET /notifications/kinds` leaves the inbox to name kinds itself.
   */
  loadNotificationKinds(): Promise<void> {
    this.#kindsLoading ??= (async () => {
      try {
        const kinds = await this.client.notifications.kinds();
        this.#set({ notificationKinds: Object.fromEntries(kinds.map((k) => [k.kind, k])) });
      } catch {
        // The inbox falls back to its own names.
      } finally {
        this.#kindsLoading = null;
      }
    })();
    return this.#kindsLoading;
  }

  async refreshInboxUnread(): Promise<void> {
    try {
      this.#set({ inboxUnread: await this.client.notifications.unreadCount() });
    } catch (err) {
      if (err instanceof CarelineError && err.status === 404) this.#set({ inboxAvailable: false });
    }
  }

  #onNotification(n: Notification): void {
    const inbox = this.state.inbox;
    if (inbox) {
      // Of a `latest` kind only the newest stays in the inbox.
      const known = this.state.notificationKinds[n.kind];
      const latest = (known?.mode ?? (BuiltinNotificationKinds as Record<string, string>)[n.kind]) === 'latest';
      // A kind registered since the names were loaded: load them again.
      if (!known) void this.loadNotificationKinds();
      const kept = inbox.filter((x) => x.id !== n.id && !(latest && x.kind === n.kind));
      this.#set({ inbox: [n, ...kept] });
    }
    // Catch-up may bring many at once: count once they are in.
    if (this.#unreadTimer) clearTimeout(this.#unreadTimer);
    this.#unreadTimer = setTimeout(() => {
      this.#unreadTimer = null;
      void this.refreshInboxUnread();
    }, 150);
  }

  /** Marks some notifications read (or all of them). */
  async markNotificationsRead(ids: string[] | 'all'): Promise<void> {
    try {
      const r = await this.client.notifications.markRead(ids === 'all' ? { all: true } : { ids });
      const now = Date.now();
      const hit = ids === 'all' ? null : new Set(ids);
      this.#set({
        inboxUnread: r.unread,
        inbox: (this.state.inbox ?? []).map((n) => (n.read_at === null && (hit === null || hit.has(n.id)) ? { ...n, read_at: now } : n)),
      });
    } catch (err) {
      this.toast(err);
    }
  }

  // ---- Errors ------------------------------------------------------------------------------

  #onError(e: CarelineError): void {
    if (e.clientId && e.conversationId) {
      // A send restored from storage (after a reload) was refused.
      this.#markFailed(e.conversationId, e.clientId, errorText(e));
      return;
    }
    // Terminal closes are shown by the connection banner; network hiccups by the state.
    if (e.closeCode !== undefined || e.code === 'client.network_error' || e.code === 'client.closed') return;
    if (e.code === 'client.gap_skipped' || e.status === undefined) this.toast(e);
  }

  toast(err: unknown): void {
    const text = errorText(err);
    const id = ++this.#toastId;
    this.#set({ toasts: [...this.state.toasts, { id, text }].slice(-3) });
    setTimeout(() => this.dismiss(id), 8000);
  }

  dismissElsewhere(): void {
    this.#set({ elsewhere: null });
  }

  dismiss(id: number): void {
    this.#set({ toasts: this.state.toasts.filter((t) => t.id !== id) });
  }
}

export function errorText(err: unknown): string {
  if (err instanceof CarelineError) return `${err.message} (${err.code})`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Subscribes a component to one part of the store's state. */
export function useStore<T>(store: Store, select: (s: StoreState) => T): T {
  return useSyncExternalStore(store.subscribe, () => select(store.state));
}

export const TEXT = MessageTypes.TEXT;
