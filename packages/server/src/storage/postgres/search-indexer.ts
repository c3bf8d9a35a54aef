/**
 * The search index behind the appends on PostgreSQL (migration 015). An append adds its
 * searchable messages' (conversation, seq) to `message_search_pending`; every node runs this
 * indexer, which moves pending rows into `message_search` (their grams, under a GIN index) in
 * single statements on a pooled connection — not the node's write connection, so appends
 * never queue behind it. In the background one node's indexer steps at a time (an advisory
 * lock; see `#background`). Each statement deletes the rows it indexes: a crash leaves the
 * others pending, and rows another statement holds (a search's catch-up) are skipped
 * (`SKIP LOCKED`), so each message is indexed once. A search first catches the index up (without skipping: it waits for
 * another node's step to end), so it sees every message committed before it began.
 */
import type { PoolClient } from 'pg';
import { toStorageError, type PgDb } from './db.ts';

/** Pending rows indexed per statement. */
export const PG_INDEX_STEP = 500;
/** How often an idle indexer looks for pending rows (ms). */
export const PG_INDEX_INTERVAL_MS = 100;
/** The advisory lock key held by the node whose indexer is stepping (one at a time). */
const INDEXER_LOCK = 0x636c6978; // 'clix'

const step = (skipLocked: boolean) => `WITH q AS (
    DELETE FROM message_search_pending p WHERE p.ctid = ANY (ARRAY(
      SELECT ctid FROM message_search_pending LIMIT $1 FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''}))
    RETURNING p.tenant_id, p.conversation_id, p.seq),
  ins AS (
    INSERT INTO message_search (tenant_id, conversation_id, seq, grams)
    SELECT m.tenant_id, m.conversation_id, m.seq, careline_search_grams(b.body)
    FROM q JOIN messages m ON m.tenant_id = q.tenant_id AND m.conversation_id = q.conversation_id AND m.seq = q.seq
    CROSS JOIN LATERAL (SELECT careline_search_body(m.type, m.content) AS body) b
    WHERE b.body IS NOT NULL
    ON CONFLICT DO NOTHING)
  SELECT count(*)::int AS n FROM q`;

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

  /** One statement: indexes up to `limit` pending rows; returns how many it took. */
  async step(limit = PG_INDEX_STEP, skipLocked = true, on: Pick<PoolClient, 'query'> = this.#db.pool): Promise<number> {
    try {
      const r = await on.query<{ n: number }>({ name: skipLocked ? 'careline_search_step_skip' : 'careline_search_step_wait', text: step(skipLocked), values: [limit] });
      const n = r.rows[0]?.n ?? 0;
      this.indexed += n;
      return n;
    } catch (err) {
      throw toStorageError(err, this.#db.where);
    }
  }

  /** Indexes until nothing is pending (waiting for rows other nodes' indexers hold). */
  async catchUp(): Promise<void> {
    while ((await this.step(PG_INDEX_STEP, false)) >= PG_INDEX_STEP);
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
            for (let i = 0; i < 20 && !this.#stopped; i++) if ((await this.step(PG_INDEX_STEP, true, client)) < PG_INDEX_STEP) break;
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
