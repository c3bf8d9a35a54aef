/**
 * Message search (`GET /api/v2/search/messages`): the messages of the user's conversations
 * that contain every word of `q` — Chinese as well as English (any substring of 2 characters
 * or more; words of 1 character are left out), newest first, with the matches highlighted.
 *
 * ```ts
 * let page = await client.search({ q: '皮疹' });
 * for (const hit of page.items) show(hit.message, hit.highlight);
 * if (page.next_cursor) page = await client.search({ q: '皮疹', cursor: page.next_cursor });
 * ```
 */
import type { Message } from '@careline/protocol';
import type { CarelineApi } from './rest.ts';

export interface SearchQuery {
  /** The words to find (at most 200 characters and 8 words). */
  q: string;
  /** Only this conversation. */
  conversation_id?: string;
  /** Only messages of this sender. */
  sender_id?: string;
  /** Only messages of this type code (`MessageTypes`). */
  type?: number;
  /** Sent at or after: a Date, ms since the epoch, or an ISO 8601 string. */
  from?: Date | number | string;
  /** Sent before: a Date, ms since the epoch, or an ISO 8601 string. */
  to?: Date | number | string;
  /** `next_cursor` of the previous page of the same search. */
  cursor?: string;
  /** Hits per page (default 20, at most 100). */
  limit?: number;
}

/** Where the words are in a hit. */
export interface SearchHighlight {
  /** The content field: `text`, `title`, `content`, `fileName`, `name`, or `content.text`… of a forwarded message. */
  field: string;
  /** The field's text, cut to at most 160 characters around the first match (`…` where cut). */
  text: string;
  /** `[start, end)` of each match in `text` (JavaScript string indexes), sorted, not overlapping. */
  ranges: [number, number][];
}

export interface SearchHit {
  message: Message;
  highlight: SearchHighlight | null;
}

export interface SearchPage {
  items: SearchHit[];
  /**
   * Pass it as `cursor` for the next page; null on the last. A page may be short (even empty)
   * and still have one: the server stopped after a bounded amount of work.
   */
  next_cursor: string | null;
}

const when = (v: Date | number | string | undefined) => (v instanceof Date ? v.toISOString() : v);

/** One page of a search, over REST with the client's token. */
export function searchMessages(api: CarelineApi, query: SearchQuery): Promise<SearchPage> {
  return api.request<SearchPage>('GET', '/search/messages', {
    query: {
      q: query.q, conversation_id: query.conversation_id, sender_id: query.sender_id, type: query.type,
      from: when(query.from), to: when(query.to), cursor: query.cursor, limit: query.limit,
    },
  });
}

/**
 * The text of a highlight cut at its ranges: `[text, matched]` pairs in order, for rendering
 * the matches in bold without parsing markup.
 */
export function highlightParts(h: SearchHighlight): [string, boolean][] {
  const out: [string, boolean][] = [];
  let at = 0;
  for (const [a, b] of h.ranges) {
    if (a > at) out.push([h.text.slice(at, a), false]);
    out.push([h.text.slice(a, b), true]);
    at = b;
  }
  if (at < h.text.length) out.push([h.text.slice(at), false]);
  return out;
}
