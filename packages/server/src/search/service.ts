/**
 * Message search (docs/search.md): checks the query, narrows it to what the caller may see
 * (a user: the conversations they are a participant of; an integrator's key: the tenant),
 * asks the `SearchStore`, highlights the hits and records the search in the audit trail for
 * every conversation with a patient it showed messages of (or that it was limited to).
 */
import type { SearchStore } from '../domain/ports.ts';
import type { Message, Principal } from '../domain/types.ts';
import type { MemberDirectory } from '../domain/directory.ts';
import type { AuditLog } from '../domain/audit.ts';
import { requireAccess } from '../domain/access.ts';
import { fail } from '../domain/errors.ts';
import { highlight, type Highlight } from './text.ts';

/** Most characters of a query. */
export const MAX_QUERY_CHARS = 200;
/** Most words of a query. */
export const MAX_QUERY_TERMS = 8;
/** Shortest word searched: shorter words of a query are left out. */
export const MIN_TERM_CHARS = 2;
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;

export interface SearchInput {
  q?: string;
  conversation_id?: string;
  sender_id?: string;
  type?: number;
  /** ms since the epoch (a number or its decimal string) or an ISO 8601 date; inclusive. */
  from?: string | number;
  /** Likewise; exclusive. */
  to?: string | number;
  cursor?: string;
  limit?: number;
}

export interface SearchHit {
  message: Message;
  /** Where the words are (null only for content that cannot be shown). */
  highlight: Highlight | null;
}

export interface SearchResult {
  items: SearchHit[];
  /** Pass it as `cursor` for the next page; null on the last. A page may be short (even empty) and still have one. */
  next_cursor: string | null;
}

export interface SearchDeps {
  store: SearchStore;
  directory: MemberDirectory;
  audit: AuditLog;
}

/** The words of a query: split at whitespace, without repeats; `search.*` errors for a query that is empty, too long or has no word long enough. */
export function queryTerms(q: string | undefined): string[] {
  const text = (q ?? '').trim();
  if (text === '') throw fail('search.query_empty');
  if (Array.from(text).length > MAX_QUERY_CHARS) throw fail('search.query_too_long', undefined, { max_chars: MAX_QUERY_CHARS, max_terms: MAX_QUERY_TERMS });
  const words = [...new Set(text.split(/\s+/u).filter(Boolean))];
  if (words.length > MAX_QUERY_TERMS) throw fail('search.query_too_long', undefined, { max_chars: MAX_QUERY_CHARS, max_terms: MAX_QUERY_TERMS });
  const terms = words.filter((w) => Array.from(w).length >= MIN_TERM_CHARS);
  if (terms.length === 0) throw fail('search.query_too_short', undefined, { min_chars: MIN_TERM_CHARS });
  return terms;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** A bound of the date range: ms since the epoch, or an ISO 8601 date (a date alone is midnight UTC). */
export function parseDate(v: string | number | undefined, name: 'from' | 'to'): number | undefined {
  if (v === undefined) return undefined;
  let ms: number;
  if (typeof v === 'number') ms = v;
  else if (/^\d{1,16}$/.test(v)) ms = Number(v);
  else if (ISO_DATE.test(v)) ms = Date.parse(v);
  else ms = Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) throw fail('search.date_invalid', `\`${name}\` is not ms since the epoch nor an ISO 8601 date.`, { [name]: v });
  return ms;
}

export class SearchService {
  readonly #d: SearchDeps;

  constructor(deps: SearchDeps) {
    this.#d = deps;
  }

  async messages(p: Principal, input: SearchInput): Promise<SearchResult> {
    const terms = queryTerms(input.q);
    const from = parseDate(input.from, 'from');
    const to = parseDate(input.to, 'to');
    if (from !== undefined && to !== undefined && from >= to) throw fail('search.date_invalid', '`from` must be before `to`.', { from: input.from, to: input.to });
    const limit = Math.min(Math.max(1, input.limit ?? DEFAULT_LIMIT), MAX_LIMIT);
    // A conversation named outright must be one the caller may read, as for its history.
    const only = input.conversation_id !== undefined ? await requireAccess(this.#d.directory, p, input.conversation_id) : null;
    const page = await this.#d.store.messages(p.tenantId, {
      terms, limit,
      ...(p.kind === 'user' ? { member: p.userId } : {}),
      ...(input.conversation_id !== undefined ? { conversation_id: input.conversation_id } : {}),
      ...(input.sender_id !== undefined ? { sender_id: input.sender_id } : {}),
      ...(input.type !== undefined ? { type: input.type } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(input.cursor !== undefined ? { cursor: input.cursor } : {}),
    });
    await this.#audit(p, terms, page.items, only?.conversation.id ?? null);
    return { items: page.items.map((m) => ({ message: m, highlight: highlight(m.type, m.content, terms) })), next_cursor: page.next_cursor };
  }

  /** One record per conversation with a patient whose messages the page shows (and the one the search was limited to); resolves once committed. */
  async #audit(p: Principal, terms: readonly string[], items: readonly Message[], only: string | null): Promise<void> {
    const shown = new Map<string, string[]>();
    if (only !== null) shown.set(only, []);
    for (const m of items) {
      let ids = shown.get(m.conversation_id);
      if (!ids) shown.set(m.conversation_id, (ids = []));
      ids.push(m.id);
    }
    const writes: Promise<void>[] = [];
    for (const [conversationId, ids] of shown) {
      const entry = await this.#d.directory.get(p.tenantId, conversationId);
      if (entry) writes.push(this.#d.audit.read(p, entry.conversation, 'messages.search', { terms, count: ids.length, message_ids: ids }));
    }
    await Promise.all(writes);
  }
}
