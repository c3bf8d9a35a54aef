/**
 * The user's notification inbox over REST (`/api/v2/notifications`): list, latest per kind,
 * unread counts, mark read, the kinds and their names. Live notifications come as
 * `notification` events of the client.
 */
import type { Notification, NotificationKindInfo, NotificationUnread } from '@careline/protocol';
import type { CarelineApi } from './rest.ts';

export interface InboxQuery {
  /** Only this kind (`S2C_SIGNED_PUSH`, … or a kind the integrator registered). */
  kind?: string;
  /** Only unread items. */
  unread?: boolean;
  /** Page size (the server caps it at 200). */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** A page of the inbox, newest first. */
export interface InboxPage {
  notifications: Notification[];
  /** Pass as `cursor` for the next (older) page; `null` on the last one. */
  next_cursor: string | null;
}

/** What to mark read: some ids, every one of a kind, or all. */
export type ReadSelection = { ids: string[] } | { kind: string } | { all: true };

export interface MarkReadResult {
  /** How many became read (those already read are not counted). */
  marked: number;
  /** The unread counts after. */
  unread: NotificationUnread;
}

export class NotificationsApi {
  readonly #api: CarelineApi;

  constructor(api: CarelineApi) {
    this.#api = api;
  }

  /** One page of the inbox, newest first. Of a `latest`-mode kind (e.g. `S2C_SYSTEM_PUSH`) only the newest is listed. */
  list(query: InboxQuery = {}): Promise<InboxPage> {
    return this.#api.request<InboxPage>('GET', '/notifications', {
      query: { kind: query.kind, unread: query.unread === undefined ? undefined : String(query.unread), limit: query.limit, cursor: query.cursor },
    });
  }

  /** Every item of the inbox (matching `query`), newest first, fetching pages as the iteration goes. */
  async *all(query: Omit<InboxQuery, 'cursor'> = {}): AsyncGenerator<Notification, void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.list({ ...query, ...(cursor !== undefined ? { cursor } : {}) });
      for (const n of page.notifications) yield n;
      if (page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }

  /** The newest notification of each kind, newest first. */
  async latest(): Promise<Notification[]> {
    return (await this.#api.request<{ notifications: Notification[] }>('GET', '/notifications/latest')).notifications;
  }

  /**
   * The notification kinds of the user's tenant with their names for people: built in, then
   * registered. Show `kindDisplayName(kind, lang)` (from `@careline/sdk`) in the reader's
   * language; a kind without names has `display_name: null` and `display_names: {}`.
   */
  async kinds(): Promise<NotificationKindInfo[]> {
    return (await this.#api.request<{ kinds: NotificationKindInfo[] }>('GET', '/notifications/kinds')).kinds;
  }

  /** Unread notifications: the total and per kind. */
  unreadCount(): Promise<NotificationUnread> {
    return this.#api.request<NotificationUnread>('GET', '/notifications/unread_count');
  }

  /**
   * Marks notifications read: `{ ids }`, `{ kind }` or `{ all: true }`. An id that is not the
   * user's rejects with `notification.not_found` and marks nothing.
   */
  markRead(selection: ReadSelection): Promise<MarkReadResult> {
    return this.#api.request<MarkReadResult>('POST', '/notifications/read', { body: selection });
  }
}
