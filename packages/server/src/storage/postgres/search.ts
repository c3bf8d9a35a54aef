/**
 * Message search on PostgreSQL (migrations 005, 015): a GIN index over the 2- and 3-character
 * grams of each message's searchable text (a tsvector of them), in `message_search`, written
 * behind the appends (`search-indexer.ts`) and caught up before the index is asked. The query
 * asks the index for messages holding every gram of the terms, checks the whole terms on
 * those (on the message's current content), and pages newest first by message id.
 */
import type { SearchQuery, SearchStore } from '../../domain/ports.ts';
import type { Message } from '../../domain/types.ts';
import { toStorageError, type PgDb } from './db.ts';
import type { PgSearchIndexer } from './search-indexer.ts';
import { MESSAGE_COLS, toMessage, type MessageRow } from '../rows.ts';
import { asciiLower, chars, decodeSearchCursor, encodeSearchCursor } from '../search-terms.ts';

const COLS = MESSAGE_COLS.split(', ').map((c) => `m.${c}`).join(', ');
const BODY = 'careline_search_body(m.type, m.content)';

/** The grams the index must hold for the terms: a 2-character term itself, a longer one its trigrams. */
export function termGrams(terms: readonly string[]): string[] {
  const out = new Set<string>();
  for (const t of terms) {
    const c = chars(t);
    if (c.length <= 2) out.add(t);
    else for (let i = 0; i + 3 <= c.length; i++) out.add(c.slice(i, i + 3).join(''));
  }
  return [...out];
}

/** The grams as a tsquery: all of them, each quoted verbatim (no parser, no normalisation). */
export function gramQuery(grams: readonly string[]): string {
  return grams.map((g) => `'${g.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`).join(' & ');
}

/** Newest messages of the scope checked first, one by one, before the index is asked. */
const RECENT = 500;

export class PgSearchStore implements SearchStore {
  readonly #db: PgDb;
  readonly #recent: number;
  readonly #indexer: PgSearchIndexer | null;

  /**
   * `recent` (default `RECENT`, at least 1) is changed by tests only. `indexer`: caught up
   * before the index is asked (without one, the index as it is).
   */
  constructor(db: PgDb, opts: { recent?: number; indexer?: PgSearchIndexer } = {}) {
    this.#db = db;
    this.#recent = Math.max(1, opts.recent ?? RECENT);
    this.#indexer = opts.indexer ?? null;
  }

  /**
   * Two steps. The index finds every message holding the grams, which the database then reads
   * and sorts: for a common word that is most of the history. So first the newest `RECENT`
   * messages of the scope are checked in id order (a common word fills the page there), and
   * only if the page is not full is the index asked, for the older ones. Each row is first
   * tested on its stored JSON text (cheap), then on its content's text fields.
   */
  async catchUp(): Promise<void> {
    await this.#indexer?.catchUp();
  }

  async messages(tenantId: string, q: SearchQuery): Promise<{ items: Message[]; next_cursor: string | null }> {
    const terms = q.terms.map(asciiLower);
    const args: unknown[] = [tenantId, terms];
    const where = ['m.tenant_id = $1'];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (q.member !== undefined) add('m.conversation_id IN (SELECT conversation_id FROM participants WHERE tenant_id = $1 AND user_id = ?)', q.member);
    if (q.conversation_id !== undefined) add('m.conversation_id = ?', q.conversation_id);
    if (q.sender_id !== undefined) add('m.sender_id = ?', q.sender_id);
    if (q.type !== undefined) add('m.type = ?', q.type);
    if (q.from !== undefined) add('m.created_at >= ?', q.from);
    if (q.to !== undefined) add('m.created_at < ?', q.to);
    if (q.cursor !== undefined) add('m.id < ?', decodeSearchCursor(q.cursor, 'string'));
    const filters = where.join(' AND ');
    // A cheap first test on the stored JSON text: a term is in it as written unless JSON
    // escapes one of its characters (quotes, backslashes, control characters). The exact test
    // (the content's text fields only) then runs on the rows that pass.
    const raw = terms.filter((t) => !/["\\\u0000-\u001f\u2028\u2029]/u.test(t)).map((t) => {
      args.push(t);
      return `strpos(lower(m.content COLLATE "C"), $${args.length}) > 0 AND `;
    }).join('');
    const n = args.length;
    const limitArg = `$${n + 1}`;
    const has = `${raw}careline_search_has(${BODY}, $2::text[])`;

    // 1. The newest messages of the scope, checked in order.
    const recent = await this.#query<MessageRow & { low: string | null; scanned: number }>(
      `WITH recent AS (SELECT ${COLS} FROM messages m WHERE ${filters} ORDER BY m.id DESC LIMIT ${this.#recent})
       SELECT r.*, b.low, b.scanned FROM (SELECT min(id) AS low, count(*)::int AS scanned FROM recent) b
       LEFT JOIN LATERAL (SELECT * FROM recent m WHERE ${has} ORDER BY m.id DESC LIMIT ${limitArg}) r ON true`,
      [...args, q.limit + 1],
    );
    const first = recent.rows.filter((r) => r.id !== null);
    const head = recent.rows[0];
    if (first.length > q.limit || !head || head.scanned < this.#recent || head.low === null) return this.#page(first, q.limit);

    // 2. The older ones, through the index (brought up to every message committed so far):
    // the candidates first (MATERIALIZED, so that the planner asks the index for them rather
    // than reading every row for the cheap tests), then the filters and the exact test on them.
    await this.catchUp();
    const older = await this.#query<MessageRow>(
      `WITH c AS MATERIALIZED (SELECT s.tenant_id, s.conversation_id, s.seq FROM message_search s WHERE s.tenant_id = $1 AND s.grams @@ $${n + 3}::tsquery)
       SELECT ${COLS} FROM c JOIN messages m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id AND m.seq = c.seq
       WHERE ${filters} AND m.id < $${n + 2} AND ${has}
       ORDER BY m.id DESC LIMIT ${limitArg}`,
      [...args, q.limit + 1 - first.length, head.low, gramQuery(termGrams(terms))],
    );
    return this.#page([...first, ...older.rows], q.limit);
  }

  /**
   * A read planned for its values every time (an unnamed statement): a plan made once for any
   * words (a named statement's generic plan) cannot tell a common word, for which scanning the
   * newest messages is best, from a rare one, for which only the index is.
   */
  async #query<R>(text: string, values: unknown[]): Promise<{ rows: R[] }> {
    try {
      return { rows: (await this.#db.pool.query(text, values)).rows as R[] };
    } catch (err) {
      throw toStorageError(err, this.#db.where);
    }
  }

  #page(rows: readonly MessageRow[], limit: number): { items: Message[]; next_cursor: string | null } {
    const items = rows.slice(0, limit).map((r) => toMessage(r));
    return { items, next_cursor: rows.length > limit ? encodeSearchCursor(items.at(-1)!.id) : null };
  }
}
