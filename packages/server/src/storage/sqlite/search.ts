/**
 * Message search on SQLite (migration 013): an FTS5 table with the trigram tokenizer, in a
 * database file of its own (`search-db.ts`, attached as `search`), written behind the appends
 * (`search-indexer.ts`) and caught up before each search, edits and deletes included. A term of 3 characters or more is a phrase of the FTS
 * query (any substring, case folded). A 2-character term (Chinese words are often two
 * characters: 皮疹) has no trigram of its own: the trigrams of the index that begin with it
 * (every text ends with a newline, so each 2 characters of it begin one) are read from the
 * vocabulary and matched as alternatives; none means no message holds it. A term that begins
 * too many trigrams (`MAX_ALTERNATIVES`) is matched by LIKE over the stored text instead.
 *
 * The index drives the query (CROSS JOIN: SQLite keeps that order), newest first, so a page
 * ends as soon as it is full. It walks the index in windows of key ids (each a bounded query,
 * the event loop free in between), and stops when the page is full or after `budgetMs`: a
 * page may then be short, with a cursor where it stopped.
 */
import type { SearchQuery, SearchStore } from '../../domain/ports.ts';
import type { Message } from '../../domain/types.ts';
import type { Db } from './db.ts';
import { StatementCache } from './db.ts';
import { MESSAGE_COLS, toMessage, type MessageRow } from '../rows.ts';
import { chars, decodeSearchCursor, encodeSearchCursor } from '../search-terms.ts';

const COLS = MESSAGE_COLS.split(', ').map((c) => `m.${c}`).join(', ');
/** The first window of key ids; each next one is twice as large. */
const FIRST_WINDOW = 16_384;
/** Key ids scanned with LIKE for 2-character terms before the vocabulary is read. */
const RECENT_IDS = 4096;
/** Most trigrams a 2-character term is matched through (else LIKE). */
const MAX_ALTERNATIVES = 256;

function statements(db: Db) {
  // The newest key of a conversation is that of its highest seq (keys follow appends; an edit keeps its key).
  const top = (conv: string) => `(SELECT id FROM message_search_keys k WHERE k.tenant_id = ? AND k.conversation_id = ${conv} ORDER BY k.seq DESC LIMIT 1)`;
  return {
    // Two subqueries: SQLite reads min() or max() alone from the index, both in one SELECT by a full scan.
    bounds: db.prepare('SELECT (SELECT min(id) FROM message_search_keys) AS lo, (SELECT max(id) FROM message_search_keys) AS hi'),
    topOfMember: db.prepare(`SELECT max(${top('p.conversation_id')}) FROM participants p WHERE p.tenant_id = ? AND p.user_id = ?`).pluck(),
    topOfConversation: db.prepare(`SELECT ${top('?')}`).pluck(),
    vocab: db.prepare(`SELECT term FROM message_search_vocab WHERE term >= ? AND term < ? LIMIT ${MAX_ALTERNATIVES + 1}`).pluck(),
  };
}

const phrase = (t: string) => `"${t.replaceAll('"', '""')}"`;
const likeEscaped = (t: string) => `%${t.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class SqliteSearchStore implements SearchStore {
  readonly #db: Db;
  readonly #st: StatementCache;
  /** Prepared on first use: the writer thread's connection has no search file attached. */
  #q: ReturnType<typeof statements> | null = null;
  readonly #budgetMs: number;
  readonly #firstWindow: number;
  readonly #maxAlternatives: number;

  /**
   * Brings the index up to every message committed so far before a search (the index is
   * kept behind the appends: `search-indexer.ts`). Set by `openStores` (the connection's own
   * indexer) and, with a writer thread, to a request to the writer. None: the index as it is.
   */
  indexCatchUp: (() => void | Promise<void>) | null = null;

  async catchUp(): Promise<void> {
    await this.indexCatchUp?.();
  }

  get #stmts(): ReturnType<typeof statements> {
    return (this.#q ??= statements(this.#db));
  }

  /** `budgetMs` (default 250), `firstWindow` and `maxAlternatives` (defaults above) are changed by tests only. */
  constructor(db: Db, opts: { budgetMs?: number; firstWindow?: number; maxAlternatives?: number } = {}) {
    this.#st = new StatementCache(db, 64);
    this.#db = db;
    this.#budgetMs = opts.budgetMs ?? 250;
    this.#firstWindow = opts.firstWindow ?? FIRST_WINDOW;
    this.#maxAlternatives = opts.maxAlternatives ?? MAX_ALTERNATIVES;
  }

  async messages(tenantId: string, q: SearchQuery): Promise<{ items: Message[]; next_cursor: string | null }> {
    await this.catchUp();
    const start = Date.now();
    const bounds = this.#stmts.bounds.get() as { lo: number | null; hi: number | null };
    let hi = q.cursor !== undefined ? decodeSearchCursor(q.cursor, 'number') : (bounds.hi ?? 0) + 1;
    const lo = bounds.lo ?? 0;
    // A user's (or one conversation's) newest message may be far below the tenant's newest:
    // the walk starts there, not across rows it would all have to skip.
    const top = q.conversation_id !== undefined
      ? this.#stmts.topOfConversation.get(tenantId, q.conversation_id) as number | null
      : q.member !== undefined ? this.#stmts.topOfMember.get(tenantId, tenantId, q.member) as number | null : undefined;
    if (top === null) return { items: [], next_cursor: null };
    if (top !== undefined) hi = Math.min(hi, top + 1);
    const items: Message[] = [];
    /** The key id of each item (the cursor is the last one's). */
    const keys: number[] = [];
    const hasShort = q.terms.some((t) => chars(t).length < 3);
    if (hasShort && hi > lo) {
      // The vocabulary counts the rows of every trigram it lists, which is slow for common
      // ones; but a common word fills a page among the newest rows. So the newest rows are
      // first scanned with LIKE, and the vocabulary is read only if the page is not full.
      const first = this.#statement(tenantId, q, true)!;
      const done = await this.#walk(first, items, keys, q.limit, hi, Math.max(lo, hi - RECENT_IDS), start, true);
      if (done) return done;
      hi = Math.max(lo, hi - RECENT_IDS);
    }
    const rest = this.#statement(tenantId, q, false);
    if (rest === null) return { items, next_cursor: null };
    return (await this.#walk(rest, items, keys, q.limit, hi, lo, start, false))!;
  }

  /**
   * The query for `q`: long terms as FTS phrases, short ones through the vocabulary's
   * trigrams (or LIKE when `likeShort`, or when they begin too many); null when a short term
   * begins no trigram at all (no message holds it).
   */
  #statement(tenantId: string, q: SearchQuery, likeShort: boolean): Plan | null {
    const long = q.terms.filter((t) => chars(t).length >= 3);
    const short = q.terms.filter((t) => chars(t).length < 3);
    const where: string[] = [];
    const args: unknown[] = [];
    const match = long.map(phrase);
    const like: string[] = [];
    for (const t of short) {
      if (likeShort) {
        like.push(t);
        continue;
      }
      // The index folds case: so does the vocabulary's range.
      const folded = t.toLowerCase();
      const grams = this.#stmts.vocab.all(folded, `${folded}\u{10FFFF}`) as string[];
      if (grams.length === 0) return null;
      if (grams.length > this.#maxAlternatives) like.push(t);
      else match.push(`(${grams.map(phrase).join(' OR ')})`);
    }
    if (match.length) {
      where.push('message_search MATCH ?');
      args.push(match.join(' AND '));
    }
    for (const t of like) {
      // `+`: tested on each row of the walk; FTS5 would take a bound pattern as its own constraint and scan the whole table.
      where.push("+f.body LIKE ? ESCAPE '\\'");
      args.push(likeEscaped(t));
    }
    where.push('f.rowid < ? AND f.rowid >= ?', 'k.tenant_id = ?');
    const rangeAt = args.length;
    args.push(0, 0, tenantId);
    if (q.member !== undefined) {
      where.push('k.conversation_id IN (SELECT conversation_id FROM participants WHERE tenant_id = ? AND user_id = ?)');
      args.push(tenantId, q.member);
    }
    if (q.conversation_id !== undefined) (where.push('k.conversation_id = ?'), args.push(q.conversation_id));
    if (q.sender_id !== undefined) (where.push('m.sender_id = ?'), args.push(q.sender_id));
    if (q.type !== undefined) (where.push('m.type = ?'), args.push(q.type));
    if (q.from !== undefined) (where.push('m.created_at >= ?'), args.push(q.from));
    if (q.to !== undefined) (where.push('m.created_at < ?'), args.push(q.to));
    const st = this.#st.get(
      `SELECT f.rowid AS k_id, ${COLS} FROM message_search f
       CROSS JOIN message_search_keys k ON k.id = f.rowid
       CROSS JOIN messages m ON m.tenant_id = k.tenant_id AND m.conversation_id = k.conversation_id AND m.seq = k.seq
       WHERE ${where.join(' AND ')} ORDER BY f.rowid DESC LIMIT ?`,
    );
    return { st, args, rangeAt };
  }

  /**
   * Walks key ids [to, hi) newest first in growing windows, adding hits to `items`. Returns
   * the page when it is full, or when the budget is spent (with a cursor where it stopped),
   * or at the end of the index; null when it reached `to` first and `more` (the caller goes on).
   */
  async #walk(p: Plan, items: Message[], keys: number[], limit: number, hi: number, to: number, start: number, more: boolean): Promise<{ items: Message[]; next_cursor: string | null } | null> {
    let window = this.#firstWindow;
    while (hi > to) {
      const from = Math.max(to, hi - window);
      // As BigInt: a JavaScript number is bound as a REAL, and FTS5 ignores a rowid bound that is
      // not an INTEGER (it scanned the whole table).
      p.args[p.rangeAt] = BigInt(hi);
      p.args[p.rangeAt + 1] = BigInt(from);
      const need = limit - items.length;
      // One more than needed: a full page says whether anything follows.
      const rows = p.st.all(...p.args, need + 1) as (MessageRow & { k_id: number })[];
      for (const r of rows.slice(0, need)) {
        items.push(toMessage(r));
        keys.push(r.k_id);
      }
      if (rows.length > need) return { items, next_cursor: encodeSearchCursor(keys.at(-1)!) };
      hi = from;
      window *= 2;
      if (hi > to && Date.now() - start >= this.#budgetMs) return { items, next_cursor: encodeSearchCursor(hi) };
      if (hi > to) await new Promise<void>((r) => setImmediate(r));
    }
    return more ? null : { items, next_cursor: null };
  }
}

interface Plan {
  st: ReturnType<StatementCache['get']>;
  args: unknown[];
  rangeAt: number;
}
