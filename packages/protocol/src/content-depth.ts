/**
 * How deep a message's content may nest, and what a message whose stored content nests deeper
 * is served as — with no schema library behind them, so that the server's storage threads
 * (which load no schemas) and small client bundles can use them.
 */
/**
 * How deep a message's content may nest: the content object is level 1, each object or array
 * inside it one more. Deeper content is refused with `message.content_invalid` (details:
 * `max_depth`). JSON writers and readers recurse, so content nested thousands of levels deep
 * breaks whoever serialises it; 32 leaves room for any real card or form.
 */
export const MAX_CONTENT_DEPTH = 32;

/** Whether a value (objects and arrays) nests deeper than `max` levels. Iterative: any depth is safe to ask about. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * Whether JSON text nests deeper than `max` levels (objects and arrays, strings skipped), by
 * one pass over the text, without parsing it.
 */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  // Each level takes an opening and a closing character.
  if (text.length < 2 * (max + 1)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** The `event` of the placeholder a message is served as when its stored content cannot be (see `unavailableContent`). */
export const UNAVAILABLE_EVENT = 'message.unavailable';

/**
 * What a message whose stored content cannot be served (it nests deeper than
 * `MAX_CONTENT_DEPTH`: stored before the limit existed) is delivered as: type 0 (system) with
 * this content, at its own id and seq, so clients show a line and move their cursor past it.
 */
export function unavailableContent(type: number): { event: string; text: string; data: { type: number } } {
  return { event: UNAVAILABLE_EVENT, text: 'This message cannot be shown.', data: { type } };
}
