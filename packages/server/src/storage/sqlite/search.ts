/**
 * Message search on SQLite (migration 013): an FTS5 table with the trigram tokenizer, kept in
 * step with `messages` by triggers. A term of 3 characters or more is a phrase of the FTS
 * query (any substring, case folded); a 2-character term (Chinese words are often two
 * characters: 皮疹) has no trigram of its own and is matched by LIKE over the table's stored
 * text (ASCII case folded), which FTS5 answers by scanning.
 *
 * The search walks the index newest first in windows of key ids (each a bounded query, the
 * event loop free in between), and stops when the page is full or after `budgetMs`: a page
 * may then be short, with a cursor where it stopped.
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

const phrase = (t: string) => `"${t.replaceAll('"', '""')}"`;
const likeEscaped = (t: string) => `%${t.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class SqliteSearchStore implements SearchStore {
  readonly #st: StatementCache;
  readonly #bounds;
  readonly #budgetMs: number;

  constructor(db: Db, opts: { budgetMs?: number } = {}) {
    this.#st = new StatementCache(db, 64);
    this.#bounds = db.prepare('SELECT min(id) AS lo, max(id) AS hi FROM message_search_keys');
    this.#budgetMs = opts.budgetMs ?? 250;
  }

  async messages(tenantId: string, q: SearchQuery): Promise<{ items: Message[]; next_cursor: string | null }> {
    const start = Date.now();
    const long = q.terms.filter((t) => chars(t).length >= 3);
    const short = q.terms.filter((t) => chars(t).length < 3);
    const where: string[] = [];
    const args: unknown[] = [];
    if (long.length) {
      where.push('message_search MATCH ?');
      args.push(long.map(phrase).join(' '));
    }
    for (const t of short) {
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
       JOIN message_search_keys k ON k.id = f.rowid
       JOIN messages m ON m.tenant_id = k.tenant_id AND m.conversation_id = k.conversation_id AND m.seq = k.seq
       WHERE ${where.join(' AND ')} ORDER BY f.rowid DESC LIMIT ?`,
    );

    const bounds = this.#bounds.get() as { lo: number | null; hi: number | null };
    let hi = q.cursor !== undefined ? decodeSearchCursor(q.cursor, 'number') : (bounds.hi ?? 0) + 1;
    const lo = bounds.lo ?? 0;
    const items: Message[] = [];
    let window = FIRST_WINDOW;
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
