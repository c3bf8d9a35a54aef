/**
 * The grams of a message's searchable text on PostgreSQL (migrations 005 and 015), computed by
 * the node that indexes (`search-indexer.ts`).
 */
import { asciiLower, chars } from '../search-terms.ts';

/**
 * The grams the index holds for a message's searchable text: every 2- and 3-character gram of
 * each word (split at ASCII whitespace, ASCII letters lowered), each once — what the SQL
 * function `careline_search_grams` (migration 005) gives, computed here by the node that
 * indexes, not by the database all nodes share. The edit trigger still uses the SQL function:
 * the two must agree (a test compares them on the database).
 */
export function bodyGrams(body: string): string[] {
  const out = new Set<string>();
  for (const w of asciiLower(body).split(/[ \t\n\v\f\r]+/)) {
    if (w.length < 2) continue;
    const c = chars(w);
    for (let i = 0; i + 2 <= c.length; i++) out.add(c[i]! + c[i + 1]!);
    for (let i = 0; i + 3 <= c.length; i++) out.add(c[i]! + c[i + 1]! + c[i + 2]!);
  }
  return [...out];
}
