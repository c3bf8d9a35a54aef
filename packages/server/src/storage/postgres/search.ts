/**
 * Message search on PostgreSQL (migration 005): a GIN index over the 2- and 3-character grams
 * of each message's searchable text (a tsvector of them) (an expression index on `messages`, so the database keeps
 * it in step with every write). The query asks the index for messages holding every gram of
 * the terms, checks the whole terms on those, and pages newest first by message id.
 */
import type { SearchQuery, SearchStore } from '../../domain/ports.ts';
import type { Message } from '../../domain/types.ts';
import type { PgDb } from './db.ts';
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

export class PgSearchStore implements SearchStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async messages(tenantId: string, q: SearchQuery): Promise<{ items: Message[]; next_cursor: string | null }> {
    const terms = q.terms.map(asciiLower);
    const args: unknown[] = [tenantId, gramQuery(termGrams(terms)), terms];
    const where = ['m.tenant_id = $1', `careline_search_grams(${BODY}) @@ $2::tsquery`, `careline_search_has(${BODY}, $3::text[])`];
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
    args.push(q.limit + 1);
    const { rows } = await this.#db.query<MessageRow>(
      `SELECT ${COLS} FROM messages m WHERE ${where.join(' AND ')} ORDER BY m.id DESC LIMIT $${args.length}`, args,
    );
    const items = rows.slice(0, q.limit).map((r) => toMessage(r));
    return { items, next_cursor: rows.length > q.limit ? encodeSearchCursor(items.at(-1)!.id) : null };
  }
}
