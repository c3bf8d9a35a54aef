/**
 * The search index kept behind the appends (migration 023). An append no longer writes the
 * FTS5 index in its transaction (per message a key row, its unique index and the trigram
 * terms: about a third of the append's cost); it only moves the conversation's `last_seq`,
 * as it always did. Each conversation's `indexed_seq` says how far its messages are indexed;
 * this class indexes the messages in (`indexed_seq`, `last_seq`] in transactions of its own,
 * after the appends' commits, and moves `indexed_seq` in the same transaction — so after a
 * crash the index resumes where its last commit left it, and a message is indexed once.
 *
 * Which conversations are behind is kept in memory (the writer is the only writer: every
 * append passes `touched`); a fresh process finds them once, by a scan of `conversations`.
 * Its transactions are committed with `synchronous=NORMAL` (no fsync of their own: the next
 * durable commit syncs the WAL with them, and what a power loss takes is indexed again).
 *
 * Keys (the FTS rowids, newest first in search) are given in the order of the messages'
 * times within a step, each conversation's in seq order, so a conversation's newest key is
 * still that of its highest seq. A search first asks for `catchUp` (through the writer thread
 * when there is one), so it sees every message committed before it began.
 */
import type { Db } from './db.ts';

/** Types never searched (system messages), as in migration 013. */
const UNSEARCHED = new Set([0, 6, 7, 10, 11, 13, 14]);

/** Messages indexed per step (one transaction): a step holds up the writer for about 5 ms. */
export const INDEX_STEP = 256;

interface Row {
  seq: number;
  type: number;
  content: string | null;
  created_at: number;
}

export class SqliteSearchIndexer {
  readonly #db: Db;
  readonly #full: boolean;
  /** tenant \0 conversation → [tenant, conversation], for the conversations behind. */
  readonly #behind = new Map<string, [string, string]>();
  /** The conversations table has not been scanned yet in this process. */
  #scanned = false;
  /** When the oldest not-yet-indexed append of this process was touched (0: none). */
  #since = 0;
  /** Messages appended and not yet indexed, as told by `touched` (a fresh process's scan adds none). */
  #backlog = 0;
  /** Messages indexed by this instance, and steps run (for tests and metrics). */
  indexed = 0;
  steps = 0;
  readonly #scan;
  readonly #range;
  readonly #rows;
  readonly #setIndexed;
  readonly #key;
  readonly #text;

  constructor(db: Db) {
    this.#db = db;
    // 2: FULL (3: EXTRA); the steps run with NORMAL and the connection's mode comes back after.
    this.#full = (db.pragma('synchronous', { simple: true }) as number) >= 2;
    this.#scan = db.prepare('SELECT tenant_id, id FROM conversations WHERE last_seq > indexed_seq');
    this.#range = db.prepare('SELECT indexed_seq, last_seq FROM conversations WHERE tenant_id = ? AND id = ?');
    this.#rows = db.prepare(
      `SELECT seq, type, CASE WHEN json_valid(content) THEN content END AS content, created_at
       FROM messages WHERE tenant_id = ? AND conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
    );
    this.#setIndexed = db.prepare('UPDATE conversations SET indexed_seq = ? WHERE tenant_id = ? AND id = ? AND indexed_seq < ?');
    // OR IGNORE: a message re-indexed by an edit's trigger, or by migration 013 run again, keeps its key and text.
    this.#key = db.prepare('INSERT OR IGNORE INTO message_search_keys (tenant_id, conversation_id, seq) VALUES (?, ?, ?)');
    this.#text = db.prepare(
      `INSERT INTO message_search (rowid, body) VALUES (@id,
         concat_ws(char(10), @c ->> '$.text', @c ->> '$.title',
           CASE WHEN json_type(@c, '$.content') = 'text' THEN @c ->> '$.content' END,
           @c ->> '$.fileName', @c ->> '$.name',
           @c ->> '$.content.text', @c ->> '$.content.title', @c ->> '$.content.fileName') || char(10))`,
    );
  }

  /** An append wrote `n` messages to this conversation (called inside the append's transaction). */
  touched(tenantId: string, conversationId: string, n = 1): void {
    const k = `${tenantId}\u0000${conversationId}`;
    if (!this.#behind.has(k)) this.#behind.set(k, [tenantId, conversationId]);
    if (this.#since === 0) this.#since = Date.now();
    this.#backlog += n;
  }

  /**
   * When a step is due (ms since the epoch; 0: now): once a step's worth of messages waits, or
   * the oldest waiting append is `maxLagMs` old. Indexing in full steps rather than after every
   * append keeps each step's fixed cost (its transaction, its FTS5 segment, the segments'
   * merges) shared by many messages: at a few thousand messages a second, indexing after every
   * commit cost the writer thread more than the appends themselves.
   */
  dueAt(maxLagMs: number): number {
    if (!this.#scanned || this.#backlog >= INDEX_STEP) return 0;
    if (this.#behind.size === 0) return Number.POSITIVE_INFINITY;
    return this.#since + maxLagMs;
  }

  /** Something may be left to index. */
  get pending(): boolean {
    return !this.#scanned || this.#behind.size > 0;
  }

  /**
   * One step: indexes up to `limit` messages in a transaction of its own (none is open).
   * Returns how many messages it indexed (0 and no transaction when nothing was behind).
   */
  step(limit = INDEX_STEP): number {
    if (this.#db.inTransaction) throw new Error('the search index step needs no open transaction');
    if (!this.#scanned) {
      for (const r of this.#scan.iterate() as Iterable<{ tenant_id: string; id: string }>) this.touched(r.tenant_id, r.id);
      this.#scanned = true;
    }
    if (this.#behind.size === 0) {
      this.#since = 0;
      this.#backlog = 0;
      return 0;
    }
    if (this.#full) this.#db.pragma('synchronous = NORMAL');
    try {
      const n = this.#db.transaction(() => this.#index(limit))();
      this.indexed += n;
      this.steps++;
      return n;
    } finally {
      if (this.#full) this.#db.pragma('synchronous = FULL');
    }
  }

  /** Steps until nothing is behind. */
  catchUp(): void {
    while (this.pending) this.step(4 * INDEX_STEP);
  }

  #index(limit: number): number {
    const items: { tenant: string; conv: string; row: Row; at: number }[] = [];
    const moves: [number, string, string][] = [];
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
      moves.push([complete ? range.last_seq : rows.at(-1)!.seq, tenant, conv]);
      if (complete) done.push(k);
    }
    items.sort((a, b) => a.at - b.at);
    for (const it of items) {
      const r = this.#key.run(it.tenant, it.conv, it.row.seq);
      if (r.changes > 0) this.#text.run({ id: r.lastInsertRowid, c: it.row.content });
    }
    for (const [seq, tenant, conv] of moves) this.#setIndexed.run(seq, tenant, conv, seq);
    for (const k of done) this.#behind.delete(k);
    if (this.#behind.size === 0) {
      this.#since = 0;
      this.#backlog = 0;
    } else this.#backlog = Math.max(0, this.#backlog - read);
    return items.length;
  }
}
