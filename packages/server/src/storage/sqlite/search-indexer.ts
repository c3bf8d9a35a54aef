/**
 * The search index kept behind the appends, in a database file of its own (`search-db.ts`,
 * attached as `search`). An append writes nothing of the index; it only moves the
 * conversation's `last_seq`, as it always did. Each conversation's cursor
 * (`message_search_cursors.indexed_seq`) says how far its messages are indexed; this class
 * indexes the messages in (`indexed_seq`, `last_seq`] in transactions of its own and moves the
 * cursor in the same transaction, so after a crash the index resumes where its last commit
 * left it, and a message is indexed once. With a writer thread it runs on a thread of its own
 * (`search-indexer-worker.ts`), on a connection that only reads the main database.
 *
 * Edits, recalls and deletes reach it through `message_search_changes` (migration 025: the
 * main database's triggers note each one in the edit's transaction). A step applies the
 * changes past the last one it applied to the messages it has indexed (a message not yet
 * indexed is read as it is when its turn comes), in the same transaction as the rest of the
 * step; `onApplied` is then told, for the rows up to it to be deleted from the main database.
 *
 * Which conversations are behind is told by the appends (`touched`: the writer's, forwarded
 * when it runs elsewhere); a fresh process finds them once, by comparing every conversation's
 * `last_seq` with its cursor.
 *
 * Keys (the FTS rowids, newest first in search) are given in the order of the messages'
 * times within a step, each conversation's in seq order, so a conversation's newest key is
 * still that of its highest seq. A search first asks for `catchUp`, so it sees every message
 * committed before it began.
 */
import type { Db } from './db.ts';

/** Types never searched (system messages), as in migration 013. */
const UNSEARCHED = new Set([0, 6, 7, 10, 11, 13, 14]);

/** Messages indexed per step (one transaction). */
export const INDEX_STEP = 256;

interface Row {
  seq: number;
  type: number;
  content: string | null;
  created_at: number;
}

interface Change {
  id: number;
  tenant_id: string;
  conversation_id: string;
  seq: number;
}

export class SqliteSearchIndexer {
  readonly #db: Db;
  /** tenant \0 conversation → [tenant, conversation], for the conversations behind. */
  readonly #behind = new Map<string, [string, string]>();
  /** The conversations have not been compared with the cursors yet in this process. */
  #scanned = false;
  /** Edits may wait in `message_search_changes`. */
  #changes = true;
  /** When the oldest not-yet-indexed append of this process was touched (0: none). */
  #since = 0;
  /** Messages appended and not yet indexed, as told by `touched` (a fresh process's scan adds none). */
  #backlog = 0;
  /** Messages indexed (or indexed again after an edit) by this instance, and steps run (for tests and metrics). */
  indexed = 0;
  steps = 0;
  /** Told, after a step's commit, the last change it applied (the rows up to it can go). */
  onApplied: ((upTo: number) => void) | null = null;
  readonly #scan;
  readonly #range;
  readonly #rows;
  readonly #setIndexed;
  readonly #key;
  readonly #text;
  readonly #applied;
  readonly #setApplied;
  readonly #changed;
  readonly #cursor;
  readonly #keyOf;
  readonly #unindex;
  readonly #dropKey;
  readonly #message;

  /** `db` has the search file attached (`attachSearch`). */
  constructor(db: Db) {
    this.#db = db;
    const cursor = 'coalesce((SELECT x.indexed_seq FROM search.message_search_cursors x WHERE x.tenant_id = c.tenant_id AND x.conversation_id = c.id), 0)';
    this.#scan = db.prepare(`SELECT c.tenant_id, c.id, c.last_seq - ${cursor} AS behind FROM conversations c WHERE c.last_seq > ${cursor}`);
    this.#range = db.prepare(`SELECT ${cursor} AS indexed_seq, c.last_seq FROM conversations c WHERE c.tenant_id = ? AND c.id = ?`);
    this.#rows = db.prepare(
      `SELECT seq, type, CASE WHEN json_valid(content) THEN content END AS content, created_at
       FROM messages WHERE tenant_id = ? AND conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
    );
    this.#setIndexed = db.prepare(
      `INSERT INTO search.message_search_cursors (tenant_id, conversation_id, indexed_seq) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET indexed_seq = max(indexed_seq, excluded.indexed_seq)`,
    );
    // OR IGNORE: a message indexed again after an edit keeps its key and text.
    this.#key = db.prepare('INSERT OR IGNORE INTO search.message_search_keys (tenant_id, conversation_id, seq) VALUES (?, ?, ?)');
    this.#text = db.prepare(
      `INSERT INTO search.message_search (rowid, body) VALUES (@id,
         concat_ws(char(10), @c ->> '$.text', @c ->> '$.title',
           CASE WHEN json_type(@c, '$.content') = 'text' THEN @c ->> '$.content' END,
           @c ->> '$.fileName', @c ->> '$.name',
           @c ->> '$.content.text', @c ->> '$.content.title', @c ->> '$.content.fileName') || char(10))`,
    );
    this.#applied = db.prepare("SELECT value FROM search.message_search_state WHERE name = 'applied_change'").pluck();
    this.#setApplied = db.prepare("UPDATE search.message_search_state SET value = ? WHERE name = 'applied_change'");
    this.#changed = db.prepare('SELECT id, tenant_id, conversation_id, seq FROM message_search_changes WHERE id > ? ORDER BY id LIMIT ?');
    this.#cursor = db.prepare('SELECT indexed_seq FROM search.message_search_cursors WHERE tenant_id = ? AND conversation_id = ?').pluck();
    this.#keyOf = db.prepare('SELECT id FROM search.message_search_keys WHERE tenant_id = ? AND conversation_id = ? AND seq = ?').pluck();
    this.#unindex = db.prepare('DELETE FROM search.message_search WHERE rowid = ?');
    this.#dropKey = db.prepare('DELETE FROM search.message_search_keys WHERE id = ?');
    this.#message = db.prepare(
      'SELECT type, CASE WHEN json_valid(content) THEN content END AS content FROM messages WHERE tenant_id = ? AND conversation_id = ? AND seq = ?',
    );
  }

  /** An append wrote `n` messages to this conversation. */
  touched(tenantId: string, conversationId: string, n = 1): void {
    const k = `${tenantId}\u0000${conversationId}`;
    if (!this.#behind.has(k)) this.#behind.set(k, [tenantId, conversationId]);
    if (this.#since === 0) this.#since = Date.now();
    this.#backlog += n;
  }

  /** Messages may have been edited, recalled or deleted (a step looks at once). */
  changed(): void {
    this.#changes = true;
  }

  /**
   * When a step is due (ms since the epoch; 0: now): once a step's worth of messages waits, or
   * the oldest waiting append is `maxLagMs` old, or an edit waits. Indexing in full steps rather
   * than after every append keeps each step's fixed cost (its transaction, its FTS5 segment,
   * the segments' merges) shared by many messages.
   */
  dueAt(maxLagMs: number): number {
    if (!this.#scanned || this.#changes || this.#backlog >= INDEX_STEP) return 0;
    if (this.#behind.size === 0) return Number.POSITIVE_INFINITY;
    return this.#since + maxLagMs;
  }

  /** Something may be left to index. */
  get pending(): boolean {
    return !this.#scanned || this.#changes || this.#behind.size > 0;
  }

  /**
   * One step: applies up to `limit` edits and indexes up to `limit` messages, in a transaction
   * of its own (none is open). Returns how many messages it indexed (0 and no transaction when
   * nothing was behind).
   */
  step(limit = INDEX_STEP): number {
    if (this.#db.inTransaction) throw new Error('the search index step needs no open transaction');
    if (!this.#scanned) {
      // A new search file (or one far behind) is filled in steps that follow each other at once.
      for (const r of this.#scan.iterate() as Iterable<{ tenant_id: string; id: string; behind: number }>) this.touched(r.tenant_id, r.id, r.behind);
      this.#scanned = true;
    }
    if (this.#behind.size === 0 && !this.#changes) {
      this.#since = 0;
      this.#backlog = 0;
      return 0;
    }
    const [n, applied] = this.#db.transaction(() => {
      const edits = this.#changes ? this.#applyChanges(limit) : null;
      return [(edits?.[0] ?? 0) + this.#index(limit), edits?.[1] ?? null] as const;
    })();
    this.indexed += n;
    this.steps++;
    if (applied !== null) this.onApplied?.(applied);
    return n;
  }

  /** Steps until nothing is behind, edits included (those made by any connection). */
  catchUp(): void {
    this.#changes = true;
    while (this.pending) this.step(4 * INDEX_STEP);
  }

  /** Applies the waiting edits to what is indexed; returns how many were indexed again and the last change applied (null: none). */
  #applyChanges(limit: number): [number, number | null] {
    const from = this.#applied.get() as number;
    const changes = this.#changed.all(from, limit) as Change[];
    if (changes.length < limit) this.#changes = false;
    if (changes.length === 0) return [0, null];
    let n = 0;
    for (const ch of changes) {
      const at = (this.#cursor.get(ch.tenant_id, ch.conversation_id) as number | undefined) ?? 0;
      // Not indexed yet: indexed as it is when its turn comes.
      if (ch.seq > at) continue;
      let key = this.#keyOf.get(ch.tenant_id, ch.conversation_id, ch.seq) as number | undefined;
      if (key !== undefined) this.#unindex.run(key);
      const row = this.#message.get(ch.tenant_id, ch.conversation_id, ch.seq) as Pick<Row, 'type' | 'content'> | undefined;
      if (row !== undefined && row.content !== null && !UNSEARCHED.has(row.type)) {
        // An edited message keeps its key (its place in the newest-first order).
        key ??= Number(this.#key.run(ch.tenant_id, ch.conversation_id, ch.seq).lastInsertRowid);
        this.#text.run({ id: key, c: row.content });
        n++;
      } else if (key !== undefined) this.#dropKey.run(key);
    }
    const last = changes.at(-1)!.id;
    this.#setApplied.run(last);
    return [n, last];
  }

  #index(limit: number): number {
    const items: { tenant: string; conv: string; row: Row; at: number }[] = [];
    const moves: [string, string, number][] = [];
    const done: string[] = [];
    /** Rows read in this step (system messages too: they cost a read). */
    let read = 0;
    for (const [k, [tenant, conv]] of this.#behind) {
      if (read >= limit) break;
      const range = this.#range.get(tenant, conv) as { indexed_seq: number; last_seq: number } | undefined;
      if (range === undefined || range.indexed_seq >= range.last_seq) {
        done.push(k);
        continue;
      }
      const want = limit - read;
      const rows = this.#rows.all(tenant, conv, range.indexed_seq, range.last_seq, want) as Row[];
      read += rows.length;
      // A conversation's messages in seq order, their times made non-decreasing: sorted by
      // time below (a stable sort), they keep that order among the others.
      let at = 0;
      for (const row of rows) {
        at = Math.max(at, row.created_at);
        if (row.content !== null && !UNSEARCHED.has(row.type)) items.push({ tenant, conv, row, at });
      }
      // Fewer rows than asked for: the range is read to its end (a missing seq was deleted).
      const complete = rows.length < want || rows.at(-1)!.seq >= range.last_seq;
      moves.push([tenant, conv, complete ? range.last_seq : rows.at(-1)!.seq]);
      if (complete) done.push(k);
    }
    items.sort((a, b) => a.at - b.at);
    for (const it of items) {
      const r = this.#key.run(it.tenant, it.conv, it.row.seq);
      if (r.changes > 0) this.#text.run({ id: r.lastInsertRowid, c: it.row.content });
    }
    for (const [tenant, conv, seq] of moves) this.#setIndexed.run(tenant, conv, seq);
    for (const k of done) this.#behind.delete(k);
    if (this.#behind.size === 0) {
      this.#since = 0;
      this.#backlog = 0;
    } else this.#backlog = Math.max(0, this.#backlog - read);
    return items.length;
  }
}
