/**
 * The REST part of the API (`/api/v2`), called with the user's bearer token. Every non-2xx
 * answer becomes a `CarelineError` carrying the server's `code`.
 */
import type { ConversationView, Message, Participant, User } from '@careline/protocol';
import { CarelineError } from './errors.ts';

export interface RestOptions {
  /** Base URL of the server, e.g. `https://im.example.com` (a path prefix is kept). */
  url: string;
  /** Returns the current bearer token. */
  token: () => string;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Abort requests after this many ms (default 30 000). */
  requestTimeoutMs?: number;
}

/** A page of history: messages in ascending seq order. */
export interface HistoryPage {
  messages: Message[];
  /** Whether more messages exist beyond this page, in the direction asked for. */
  has_more: boolean;
}

export interface HistoryQuery {
  /** Messages with seq < `before` (the page just before it). */
  before?: number;
  /** Messages with seq > `after` (the page just after it). */
  after?: number;
  /** Page size (the server caps it). */
  limit?: number;
}

export interface UnreadCounts {
  /** Unread messages over every conversation. */
  count: number;
  sessions: { session_id: string; unread: number }[];
}

export interface ConversationPage {
  sessions: ConversationView[];
  /** Pass as `cursor` for the next page; `null` on the last one. */
  next_cursor: string | null;
}

export interface UserStatus {
  user_id: string;
  online: boolean;
  last_seen: number | null;
  connections: number;
}

type Query = Record<string, string | number | undefined>;

export class CarelineApi {
  readonly #base: string;
  readonly #token: () => string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(opts: RestOptions) {
    this.#base = opts.url.replace(/\/+$/, '');
    this.#token = opts.token;
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  /**
   * Calls `method path` (relative to `/api/v2`) and returns the parsed JSON body.
   * @throws CarelineError with the server's code, or `client.network_error` / `client.timeout`.
   */
  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<T> {
    const url = new URL(`${this.#base}/api/v2${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token()}`, accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.#fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const timeout = (err as { name?: string }).name === 'TimeoutError';
      throw new CarelineError(
        timeout ? 'client.timeout' : 'client.network_error',
        timeout ? `${method} ${path} timed out` : `${method} ${path} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const text = await res.text().catch(() => '');
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (!res.ok) {
      const e = (body ?? {}) as { code?: unknown; message?: unknown; details?: unknown };
      const code = typeof e.code === 'string' ? e.code : 'client.invalid_response';
      const message = typeof e.message === 'string' ? e.message : `${method} ${path}: HTTP ${res.status}`;
      throw new CarelineError(code as CarelineError['code'], message, { status: res.status, details: e.details });
    }
    if (body === undefined && text) {
      throw new CarelineError('client.invalid_response', `${method} ${path}: the answer is not JSON`, { status: res.status });
    }
    return body as T;
  }

  /**
   * One page of a conversation's history, ascending by seq. Without `before`/`after`: the
   * newest page.
   */
  history(conversationId: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.request<HistoryPage>('GET', `/sessions/${enc(conversationId)}/messages`, {
      query: { before: query.before, after: query.after, limit: query.limit },
    });
  }

  /**
   * Every message of a conversation from the newest (or from just before `before`) back to
   * the first, newest first, fetching pages of `pageSize` as the iteration goes.
   *
   * ```ts
   * for await (const m of client.historyBackwards(id)) if (m.seq < 100) break;
   * ```
   */
  async *historyBackwards(conversationId: string, opts: { before?: number; pageSize?: number } = {}): AsyncGenerator<Message, void, undefined> {
    let before = opts.before;
    for (;;) {
      const page = await this.history(conversationId, { before, limit: opts.pageSize });
      const messages = [...page.messages].sort((a, b) => b.seq - a.seq);
      for (const m of messages) yield m;
      const oldest = messages[messages.length - 1];
      if (!page.has_more || !oldest || oldest.seq <= 1) return;
      before = oldest.seq;
    }
  }

  /** Unread counts over every conversation of the user. */
  unreadCounts(): Promise<UnreadCounts> {
    return this.request<UnreadCounts>('GET', '/sessions/unread_message_count');
  }

  /** One page of the user's conversations: sticky first, then by newest activity. */
  conversations(opts: { limit?: number; cursor?: string } = {}): Promise<ConversationPage> {
    return this.request<ConversationPage>('GET', '/sessions', { query: { limit: opts.limit, cursor: opts.cursor } });
  }

  /** One conversation, as the user sees it. */
  async conversation(conversationId: string): Promise<ConversationView> {
    return (await this.request<{ session: ConversationView }>('GET', `/sessions/${enc(conversationId)}/session`)).session;
  }

  /** A conversation's participants, with their names, roles and read cursors. */
  async participants(conversationId: string): Promise<Participant[]> {
    return (await this.request<{ participants: Participant[] }>('GET', `/sessions/${enc(conversationId)}/participants`)).participants;
  }

  /** One message. */
  async message(conversationId: string, messageId: string): Promise<Message> {
    return (await this.request<{ message: Message }>('GET', `/sessions/${enc(conversationId)}/messages/${enc(messageId)}`)).message;
  }

  /** The application badge number (total unread, as the server counts it). */
  async badge(): Promise<number> {
    return (await this.request<{ badge_no: number }>('GET', '/application/badge_no')).badge_no;
  }

  /** Recalls (retracts) a message; returns its tombstone (`content: null`, `recalled_at` set). */
  async recall(conversationId: string, messageId: string): Promise<Message> {
    return (await this.request<{ message: Message }>('POST', `/sessions/${enc(conversationId)}/messages/${enc(messageId)}/recall`)).message;
  }

  /** Forwards a message to other conversations; returns the new messages. */
  async forward(conversationId: string, messageId: string, to: string[]): Promise<Message[]> {
    return (await this.request<{ messages: Message[] }>('POST', `/sessions/${enc(conversationId)}/messages/${enc(messageId)}/forward`, { body: { to } }))
      .messages;
  }

  /** Moves the user's read cursor through REST (default: to the newest message). */
  markReadRest(conversationId: string, seq?: number): Promise<{ read_seq: number; unread: number }> {
    return this.request('POST', `/sessions/${enc(conversationId)}/read`, { body: seq === undefined ? {} : { seq } });
  }

  /** A user's profile. */
  async user(userId: string): Promise<User> {
    return (await this.request<{ user: User }>('GET', `/users/${enc(userId)}`)).user;
  }

  /** Whether a user is online, and since when they are not. */
  userStatus(userId: string): Promise<UserStatus> {
    return this.request<UserStatus>('GET', `/users/${enc(userId)}/status`);
  }

  /** Revokes the token (`POST /users/logout`). */
  async logout(): Promise<void> {
    await this.request<unknown>('POST', '/users/logout');
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
