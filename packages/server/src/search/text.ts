/**
 * The searchable text of a message, field by field (the same fields the databases index:
 * storage/sqlite/migrations/013_search.sql, storage/postgres/migrations/005_search.sql), and
 * the highlight of a hit: the first field holding a term, cut to a snippet around the first
 * match, with the ranges of every term in it.
 */

/** Types whose messages are never searched: system messages (their senders are the system). */
export const UNSEARCHED_TYPES: ReadonlySet<number> = new Set([0, 6, 7, 10, 11, 13, 14]);

/** Characters of a snippet before its first match. */
const LEAD = 30;
/** Most characters of a snippet (without the ellipses). */
const SNIPPET = 160;

export interface Highlight {
  /** The content field it comes from: `text`, `title`, `content`, `fileName`, `name`, or `content.text` … of a forwarded message. */
  field: string;
  /** The field's text, cut to at most 160 characters around the first match (`…` where cut). */
  text: string;
  /** `[start, end)` of each match in `text`, in UTF-16 code units (JavaScript string indexes), sorted, not overlapping. */
  ranges: [number, number][];
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The searchable fields of a message's content, in index order. */
export function searchableFields(type: number, content: Record<string, unknown> | null): [string, string][] {
  if (content === null || UNSEARCHED_TYPES.has(type)) return [];
  const out: [string, string][] = [];
  const push = (field: string, v: unknown) => {
    const s = str(v);
    if (s !== null) out.push([field, s]);
  };
  push('text', content.text);
  push('title', content.title);
  push('content', content.content);
  push('fileName', content.fileName);
  push('name', content.name);
  const inner = content.content;
  if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
    const c = inner as Record<string, unknown>;
    push('content.text', c.text);
    push('content.title', c.title);
    push('content.fileName', c.fileName);
  }
  return out;
}

/** Case folded unit by unit, so that indexes stay those of the original text. */
function fold(s: string): string {
  let out = '';
  for (const ch of s) {
    const l = ch.toLowerCase();
    out += l.length === ch.length ? l : ch;
  }
  return out;
}

/** Where the terms occur in the message's searchable text: the first field with a match, as a snippet; null when none does. */
export function highlight(type: number, content: Record<string, unknown> | null, terms: readonly string[]): Highlight | null {
  const folded = terms.map(fold).filter((t) => t.length > 0);
  for (const [field, value] of searchableFields(type, content)) {
    const hay = fold(value);
    const found: [number, number][] = [];
    for (const t of folded) {
      for (let i = hay.indexOf(t); i !== -1; i = hay.indexOf(t, i + t.length)) found.push([i, i + t.length]);
    }
    if (found.length === 0) continue;
    found.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const merged: [number, number][] = [];
    for (const r of found) {
      const last = merged.at(-1);
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    let start = Math.max(0, merged[0]![0] - LEAD);
    // Never cut a surrogate pair in two.
    if (start > 0 && /[\uDC00-\uDFFF]/.test(value[start]!)) start--;
    let end = Math.min(value.length, start + SNIPPET);
    if (end < value.length && /[\uDC00-\uDFFF]/.test(value[end]!)) end++;
    const pre = start > 0 ? '…' : '';
    const text = pre + value.slice(start, end) + (end < value.length ? '…' : '');
    const ranges = merged
      .filter(([a]) => a < end)
      .map(([a, b]): [number, number] => [a - start + pre.length, Math.min(b, end) - start + pre.length]);
    return { field, text, ranges };
  }
  return null;
}
