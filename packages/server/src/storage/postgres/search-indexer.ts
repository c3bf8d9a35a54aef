/**
 * The search index behind the appends on PostgreSQL (migration 015). An append adds its
 * searchable messages' (conversation, seq) to `message_search_pending`; every node runs this
 * indexer, which moves pending rows into `message_search` (their grams, under a GIN index) on
 * a pooled connection — not the node's write connection, so appends never queue behind it.
 * In the background one node's indexer steps at a time (an advisory lock; see `#background`).
 *
 * A step reads up to `limit` pending rows with their messages' searchable text, computes the
 * grams here (`bodyGrams`: the database all nodes share spent about 55 µs of its CPU per
 * message on them in SQL, more than the GIN insert itself), and then one statement deletes
 * those pending rows and inserts the grams of the rows it deleted. So a crash leaves the
 * others pending. A message edited or recalled between the read and the write (its row
 * version, `xmin`, changed) stays pending for the next step, which reads it as it is then. A
 * search first catches the index up, so it sees every message committed before it began.
 *
 * The write is a transaction under an exclusive advisory lock (`WRITE_LOCK`), taken before
 * its statement begins, so steps write one at a time, whichever node runs them:
 * - A row another step deleted first (a search's catch-up on another node) is not indexed
 *   twice: the later statement begins after the earlier one committed, and finds nothing.
 *   Two steps deleting the same rows at once deadlocked instead, each holding some of them
 *   (their lists came in orders of their own reads' plans).
 * - The statement's row versions are those committed before it began, after the lock: an
 *   edit committed while the step waited is seen (and the message left pending). An edit, a
 *   recall or a delete takes the lock shared before it updates the index (migration 019's
 *   trigger), so one that commits while the statement runs waits for it, then updates the row
 *   it inserted.
 */
import type { PoolClient } from 'pg';
import { toStorageError, type PgDb } from './db.ts';
import { bodyGrams } from './search-grams.ts';

/** Pending rows indexed per step. */
export const PG_INDEX_STEP = 500;
/** How often an idle indexer looks for pending rows (ms). */
export const PG_INDEX_INTERVAL_MS = 100;
/** The advisory lock key held by the node whose indexer is stepping (one at a time). */
const INDEXER_LOCK = 0x636c6978; // 'clix'
/** The transaction advisory lock key a step writes under (exclusive), and an edit's trigger takes shared (migration 019). */
export const WRITE_LOCK = 0x636c6977; // 'cliw'

/** Pending rows, oldest first as the heap holds them, with their message's row version and searchable text (null: none, or the message is gone). */
const READ = `SELECT p.ctid::text AS ctid, p.tenant_id, p.conversation_id, p.seq, m.xmin::text AS v, careline_search_body(m.type, m.content) AS body
  FROM (SELECT ctid, tenant_id, conversation_id, seq FROM message_search_pending LIMIT $1) p
  LEFT JOIN messages m ON m.tenant_id = p.tenant_id AND m.conversation_id = p.conversation_id AND m.seq = p.seq`;

/**
 * Deletes the pending rows read (the same row at the same place, its message unchanged or
 * still gone) and inserts the grams of those it deleted; returns how many it deleted.
 */
const WRITE = `WITH x AS (
    SELECT * FROM unnest($1::tid[], $2::text[], $3::text[], $4::bigint[], $5::xid[], $6::text[]) AS x(ctid, tenant_id, conversation_id, seq, v, grams)),
  q AS (
    DELETE FROM message_search_pending p USING x
    WHERE p.ctid = ANY ($1::tid[]) AND p.ctid = x.ctid
      AND p.tenant_id = x.tenant_id AND p.conversation_id = x.conversation_id AND p.seq = x.seq
      AND (SELECT m.xmin FROM messages m WHERE m.tenant_id = x.tenant_id AND m.conversation_id = x.conversation_id AND m.seq = x.seq) IS NOT DISTINCT FROM x.v
    RETURNING p.tenant_id, p.conversation_id, p.seq, x.grams),
  ins AS (
    INSERT INTO message_search (tenant_id, conversation_id, seq, grams)
    SELECT tenant_id, conversation_id, seq, array_to_tsvector(string_to_array(grams, ' ')) FROM q WHERE grams IS NOT NULL
    ON CONFLICT DO NOTHING)
  SELECT count(*)::int AS n FROM q`;

interface PendingRow {
  ctid: string;
  tenant_id: string;
  conversation_id: string;
  seq: number;
  v: string | null;
  body: string | null;
}

export class PgSearchIndexer {
  readonly #db: PgDb;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  /** Rows indexed by this node (for tests and metrics). */
  indexed = 0;

  constructor(db: PgDb) {
    this.#db = db;
  }

  /** Starts indexing in the background (every `PG_INDEX_INTERVAL_MS` while idle). */
  start(): void {
    if (this.#timer !== null || this.#stopped) return;
    this.#timer = setInterval(() => void this.#background(), PG_INDEX_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Stops the background indexing and waits for a step under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
  }

  /**
   * Indexes up to `limit` pending rows (on the connection `on`, or a pooled one for the
   * step); returns how many it read (fewer than `limit`: the queue was empty, or nearly).
   */
  async step(limit = PG_INDEX_STEP, on?: Pick<PoolClient, 'query'>): Promise<number> {
    if (on === undefined) return this.#db.session((client) => this.step(limit, client));
    try {
      const read = await on.query<PendingRow>({ name: 'careline_search_read', text: READ, values: [limit] });
      const rows = read.rows;
      if (rows.length === 0) return 0;
      // The grams travel as one text per message, space-separated: a gram never holds ASCII whitespace.
      const values = [
        rows.map((r) => r.ctid), rows.map((r) => r.tenant_id), rows.map((r) => r.conversation_id), rows.map((r) => r.seq),
        rows.map((r) => r.v), rows.map((r) => (r.body === null ? null : bodyGrams(r.body).join(' '))),
      ];
      await on.query('BEGIN');
      try {
        await on.query({ name: 'careline_search_lock', text: 'SELECT pg_advisory_xact_lock($1)', values: [WRITE_LOCK] });
        const w = await on.query<{ n: number }>({ name: 'careline_search_write', text: WRITE, values });
        await on.query('COMMIT');
        this.indexed += w.rows[0]?.n ?? 0;
      } catch (err) {
        await on.query('ROLLBACK').catch(() => {});
        throw err;
      }
      return rows.length;
    } catch (err) {
      throw toStorageError(err, this.#db.where);
    }
  }

  /** Indexes until nothing is pending (waiting for rows other nodes' indexers hold). */
  async catchUp(): Promise<void> {
    while ((await this.step(PG_INDEX_STEP)) >= PG_INDEX_STEP);
  }

  /**
   * A tick of the background indexing: one node's indexer at a time steps (a session advisory
   * lock, let go after the tick — or with the session, if the node dies). Several indexers at
   * once each scanned the queue past the rows the others had locked and the rows deleted since
   * the last vacuum: in a 3-node cluster that scan was most of PostgreSQL's CPU
   * (docs/performance.md), where one indexer keeps pace alone.
   */
  #background(): Promise<void> {
    if (this.#running !== null) return this.#running;
    this.#running = (async () => {
      try {
        // A session of its own (`PgDb.session`: a broken connection is closed, never the process).
        await this.#db.session(async (client) => {
          const got = (await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [INDEXER_LOCK])).rows[0]?.got === true;
          if (!got) return;
          try {
            // Bounded: at most 20 steps a tick, then the timer comes back.
            for (let i = 0; i < 20 && !this.#stopped; i++) if ((await this.step(PG_INDEX_STEP, client)) < PG_INDEX_STEP) break;
          } finally {
            await client.query('SELECT pg_advisory_unlock($1)', [INDEXER_LOCK]);
          }
        });
      } catch {
        // The database is away (the pool reports it) or the step failed: the rows stay
        // pending and the next tick tries again.
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }
}
