/**
 * Message search on SQLite (migration 013): an FTS5 table with the trigram tokenizer, kept in
 * step with `messages` by triggers. A term of 3 characters or more is a phrase of the FTS
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
/** Most trigrams a 2-character term is matched through (else LIKE). */
const MAX_ALTERNATIVES = 256;

const phrase = (t: string) => `"${t.replaceAll('"', '""')}"`;
const likeEscaped = (t: string) => `%${t.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class SqliteSearchStore implements SearchStore {
  readonly #st: StatementCache;
  readonly #bounds;
  readonly #vocab;
  readonly #known;
  readonly #budgetMs: number;
  readonly #firstWindow: number;
  readonly #maxAlternatives: number;

  /** `budgetMs` (default 250), `firstWindow` and `maxAlternatives` (defaults above) are changed by tests only. */
  constructor(db: Db, opts: { budgetMs?: number; firstWindow?: number; maxAlternatives?: number } = {}) {
    this.#st = new StatementCache(db, 64);
    this.#bounds = db.prepare('SELECT min(id) AS lo, max(id) AS hi FROM message_search_keys');
    this.#known = db.prepare('SELECT 1 FROM message_search_vocab WHERE term = ?').pluck();
    this.#vocab = db.prepare(`SELECT term FROM message_search_vocab WHERE term >= ? AND term < ? LIMIT ${MAX_ALTERNATIVES + 1}`).pluck();
    this.#budgetMs = opts.budgetMs ?? 250;
    this.#firstWindow = opts.firstWindow ?? FIRST_WINDOW;
    this.#maxAlternatives = opts.maxAlternatives ?? MAX_ALTERNATIVES;
  }

  async messages(tenantId: string, q: SearchQuery): Promise<{ items: Message[]; next_cursor: string | null }> {
    const start = Date.now();
    const long = q.terms.filter((t) => chars(t).length >= 3);
    const short = q.terms.filter((t) => chars(t).length < 3);
    const where: string[] = [];
    const args: unknown[] = [];
    // A trigram no message has: nothing to find (the FTS query would say so more slowly, window by window).
    for (const t of long) {
      const c = chars(t.toLowerCase());
      if (c.length !== chars(t).length) continue;
      for (let i = 0; i + 3 <= c.length; i++) if (this.#known.get(c.slice(i, i + 3).join('')) === undefined) return { items: [], next_cursor: null };
    }
    const match = long.map(phrase);
    const like: string[] = [];
    for (const t of short) {
      // The index folds case: so does the vocabulary's range.
      const folded = t.toLowerCase();
      const grams = this.#vocab.all(folded, `${folded}\u{10FFFF}`) as string[];
      if (grams.length === 0) return { items: [], next_cursor: null };
      if (grams.length > this.#maxAlternatives) like.push(t);
      else match.push(`(${grams.map(phrase).join(' OR ')})`);
    }
    if (match.length) {
      where.push('message_search MATCH ?');
      args.push(match.join(' AND '));
    }
    for (const t of like) {
      where.push("f.body LIKE ? ESCAPE '\\'");
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

    const bounds = this.#bounds.get() as { lo: number | null; hi: number | null };
    let hi = q.cursor !== undefined ? decodeSearchCursor(q.cursor, 'number') : (bounds.hi ?? 0) + 1;
    const lo = bounds.lo ?? 0;
    const items: Message[] = [];
    let window = this.#firstWindow;
    while (hi > lo) {
      const from = Math.max(lo, hi - window);
      args[rangeAt] = hi;
      args[rangeAt + 1] = from;
      const need = q.limit - items.length;
      // One more than needed: a full page says whether anything follows.
      const rows = st.all(...args, need + 1) as (MessageRow & { k_id: number })[];
      for (const r of rows.slice(0, need)) items.push(toMessage(r));
      if (rows.length > need) return { items, next_cursor: encodeSearchCursor(rows[need - 1]!.k_id) };
      hi = from;
      window *= 2;
      if (hi > lo && Date.now() - start >= this.#budgetMs) return { items, next_cursor: encodeSearchCursor(hi) };
      if (hi > lo) await new Promise<void>((r) => setImmediate(r));
    }
    return { items, next_cursor: null };
  }
}

/** Types never searched (system messages), as in migration 013. */
const UNSEARCHED = new Set([0, 6, 7, 10, 11, 13, 14]);

/**
 * Indexes one appended message, for the append's own transaction (`SqliteMessageStore`): its
 * key, then its searchable text (the expression of migration 013's triggers). Two plain
 * statements rather than a trigger: a statement that fires a trigger runs in a savepoint, and
 * FTS5 writes its pending terms out at every savepoint (a segment per message).
 */
export function searchIndexer(db: Db): (tenantId: string, conversationId: string, seq: number, type: number, contentJson: string) => void {
  const key = db.prepare('INSERT INTO message_search_keys (tenant_id, conversation_id, seq) VALUES (?, ?, ?)');
  const text = db.prepare(
    `INSERT INTO message_search (rowid, body) VALUES (@id,
       concat_ws(char(10), @c ->> '$.text', @c ->> '$.title',
         CASE WHEN json_type(@c, '$.content') = 'text' THEN @c ->> '$.content' END,
         @c ->> '$.fileName', @c ->> '$.name',
         @c ->> '$.content.text', @c ->> '$.content.title', @c ->> '$.content.fileName') || char(10))`,
  );
  return (tenantId, conversationId, seq, type, contentJson) => {
    if (UNSEARCHED.has(type)) return;
    text.run({ id: key.run(tenantId, conversationId, seq).lastInsertRowid, c: contentJson });
  };
}
