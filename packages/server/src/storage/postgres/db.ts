/**
 * The PostgreSQL connection layer the stores run on: a `pg` pool, every statement a named
 * prepared statement (each connection parses and plans a text once), transactions on one
 * pooled connection retried on serialization failures and deadlocks, and the mapping of
 * connection failures to `server.unavailable`.
 *
 * Store code takes a `Queryable`, so the same function runs alone (`db`) or inside a
 * transaction (`tx`'s argument). Keep the set of statement texts bounded: pass lists as
 * arrays (`= ANY($1::text[])`, `unnest(...)`), never as a text that grows with the list.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { AppError, fail } from '../../domain/errors.ts';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/**
 * What a store needs to run a statement: the pool (`PgDb`) or a transaction's connection.
 * Inside a transaction a statement need not be awaited: the transaction awaits it before it
 * commits (and fails if it failed), and it travels with the COMMIT.
 */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface PgDbOptions {
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Called when the database stops answering (once per outage: again only after it answered). */
  onUnavailable?: (err: unknown) => void;
}

export interface TxOptions {
  /** More errors after which the whole function is run again (besides 40001 and 40P01). */
  retryIf?: (err: unknown) => boolean;
  /** Attempts in all (default 5). */
  attempts?: number;
}

/** SQLSTATEs of the errors stores look for. */
export const PgCodes = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const;

const INT8_OID = 20;
/** After the write connection failed to open, how long queued writes fail without trying again. */
const RECONNECT_PAUSE_MS = 500;
const RETRY_CODES = new Set<string>([PgCodes.serializationFailure, PgCodes.deadlockDetected]);
/** Socket errors: the server is not there or went away. */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);
/** SQLSTATEs that mean the server cannot serve now: shutting down, starting, out of connections. */
const DOWN_CODES = new Set(['57P01', '57P02', '57P03', '53300', '53000']);
const DOWN_MESSAGES = /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Connection timeout|Client was closed/i;

/** Only the fields a `pg` error carries that we read. */
interface PgErrorLike {
  code?: string;
  constraint?: string;
  message?: string;
}

/** Whether `err` says the database is unreachable (not: the statement was wrong). */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof AppError) return err.code === 'server.unavailable';
  if (!(err instanceof Error)) return false;
  const code = (err as PgErrorLike).code;
  if (code !== undefined && (NET_CODES.has(code) || DOWN_CODES.has(code) || code.startsWith('08'))) return true;
  return DOWN_MESSAGES.test(err.message);
}

/** Whether `err` is a unique violation (of `constraint`, when given: the index's name). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as PgErrorLike | null;
  return e !== null && typeof e === 'object' && e.code === PgCodes.uniqueViolation && (constraint === undefined || e.constraint === constraint);
}

/** The URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** A connection failure as `server.unavailable` (details.storage = 'postgres'); other errors unchanged. */
export function toStorageError(err: unknown, where: string): unknown {
  if (err instanceof AppError || !isConnectionError(err)) return err;
  const reason = err instanceof Error ? err.message || (err as PgErrorLike).code || err.name : String(err);
  const e = fail('server.unavailable', `PostgreSQL at ${where} is unavailable: ${reason}`, { storage: 'postgres' });
  Object.assign(e, { cause: err });
  return e;
}

/** A statement that changes rows (or locks them). */
const WRITE_RE = /\b(INSERT|UPDATE|DELETE|MERGE)\b/i;

/** The name of the prepared statement of `text`: the same on every connection and process. */
const statementName = (text: string) => `cl_${createHash('sha1').update(text).digest('hex').slice(0, 32)}`;

/**
 * Holds back the write connection's socket writes until the end of this turn of the event
 * loop (`process.nextTick`), so that the statements sent in one turn — a transaction's BEGIN
 * with its first statement, its last statement with the COMMIT, the one-statement writes
 * called together — leave in one `writev`, not one each. pg corks the socket only around one
 * statement's messages. Each write to a loopback or local socket also runs the receiving
 * side's network stack and wakes the database's backend, in this process's time: the
 * profiles of the chat benchmark put a fifth of a cluster node's CPU there.
 */
const corked = new WeakSet<pg.PoolClient>();
function corkTurn(client: pg.PoolClient): void {
  if (corked.has(client)) return;
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
  if (!stream?.cork || !stream.uncork) return;
  corked.add(client);
  stream.cork();
  process.nextTick(() => {
    corked.delete(client);
    stream.uncork!();
  });
}
/** How long `ping()` waits for PostgreSQL before it says the database is down. */
const PING_TIMEOUT_MS = 2_000;

/**
 * One node's access to the database. Reads (`query`) run on any pooled connection, in
 * parallel. Writes (`write`, `tx`) run on one connection of their own, the write connection,
 * in call order, as the SQLite writer thread runs them: a write called after another is
 * applied after it, whichever stores they belong to. The write connection pipelines: a
 * one-statement write is sent without waiting for the answer to the one before, and a
 * transaction holds the connection only from its BEGIN to sending its COMMIT. Other nodes'
 * writes interleave by row locks, as they would with any writer.
 */
export class PgDb implements Queryable {
  readonly pool: pg.Pool;
  readonly #where: string;
  readonly #names = new Map<string, string>();
  readonly #isWrite = new Map<string, boolean>();
  readonly #onUnavailable: ((err: unknown) => void) | undefined;
  /** The write connection (taken from the pool and kept); null until needed or after it broke. */
  #writer: Promise<pg.PoolClient> | null = null;
  /** Resolves when the write before has sent its last statement: the writes' turns, in call order. */
  #turn: Promise<void> = Promise.resolve();
  /** The last failed attempt to open the write connection. */
  #connectFailed: { at: number; err: unknown } | null = null;
  #down = false;
  #closed = false;

  constructor(opts: PgDbOptions) {
    this.#where = describeUrl(opts.url);
    this.#onUnavailable = opts.onUnavailable;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      // The write connection is one of them.
      max: Math.max(2, opts.poolSize ?? 10),
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      // Statements go out without waiting for the answers to those before them (the write
      // connection's writes; a transaction's BEGIN with its first statement, COMMIT with its last).
      pipeline: true,
      // BIGINT (timestamps in ms, seqs, counts) as a JS number, for this pool only.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    // An idle connection that breaks (the server restarted) is dropped by the pool; the next
    // query opens a fresh one. It must never become an uncaught 'error' event.
    this.pool.on('error', (err) => this.#failed(err));
  }

  /** Where the database is (host:port/db, no credentials), for messages. */
  get where(): string {
    return this.#where;
  }

  /**
   * A statement on its own (its own transaction). One that writes (INSERT, UPDATE or DELETE
   * anywhere in its text) goes to the write connection, in call order, as `write`; a read
   * runs on any pooled connection.
   */
  async query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>> {
    if (this.#writes(text)) return this.write<R>(text, values);
    if (this.#closed) throw closedError();
    try {
      const r = await this.pool.query<R & pg.QueryResultRow>({ name: this.#name(text), text, values: values as unknown[] | undefined });
      this.#answered();
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw this.#map(err);
    }
  }

  /** A one-statement write (its own transaction), on the write connection in call order. */
  async write<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<R>> {
    if (this.#closed) throw closedError();
    const release = await this.#takeTurn();
    let sent: Promise<pg.QueryResult<R & pg.QueryResultRow>>;
    let client: pg.PoolClient;
    try {
      client = await this.#writeConnection();
      corkTurn(client);
      sent = client.query<R & pg.QueryResultRow>({ name: this.#name(text), text, values: values as unknown[] | undefined });
    } catch (err) {
      throw this.#map(err);
    } finally {
      release();
    }
    try {
      const r = await sent;
      this.#answered();
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw this.#writeFailed(client, err);
    }
  }

  /**
   * Runs `fn` in one transaction (READ COMMITTED) on the write connection, in call order
   * with every other write: COMMIT if it resolves, ROLLBACK if it throws. On a serialization
   * failure or a deadlock (or `retryIf`) the whole function runs again (after the writes
   * called meanwhile), up to `attempts` times: `fn` must do nothing but its queries, and must
   * not call `write` or `tx` itself (it would wait for its own turn).
   */
  async tx<T>(fn: (q: Queryable) => Promise<T>, opts: TxOptions = {}): Promise<T> {
    const attempts = opts.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(fn);
      } catch (err) {
        const code = (err as PgErrorLike | null)?.code;
        const again = (code !== undefined && RETRY_CODES.has(code)) || (opts.retryIf?.(err) ?? false);
        if (!again || attempt >= attempts) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      }
    }
  }

  async #once<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError();
    const release = await this.#takeTurn();
    let client: pg.PoolClient;
    try {
      client = await this.#writeConnection();
    } catch (err) {
      release();
      throw this.#map(err);
    }
    // Every statement of the transaction, in the order sent; each marked handled here, so a
    // failure is reported once, by whoever awaits it or else by the transaction.
    const sent: Promise<unknown>[] = [];
    const q: Queryable = {
      query: <R>(text: string, values?: readonly unknown[]) => {
        corkTurn(client);
        const p = client.query<R & pg.QueryResultRow>({ name: this.#name(text), text, values: values as unknown[] | undefined })
          .then((r) => ({ rows: r.rows, rowCount: r.rowCount ?? 0 }));
        sent.push(p);
        p.catch(() => {});
        return p;
      },
    };
    // BEGIN goes out with fn's first statement, COMMIT with its last one when fn leaves that
    // one to the transaction (does not await it).
    corkTurn(client);
    const begin = client.query('BEGIN');
    begin.catch(() => {});
    let out: T;
    try {
      out = await fn(q);
    } catch (err) {
      corkTurn(client);
      const rollback = client.query('ROLLBACK');
      rollback.catch(() => {});
      release();
      // A statement fn did not await may have failed first: the later ones then failed only
      // because the transaction was aborted. Report the first failure.
      const first = await firstFailure([begin, ...sent, rollback], err);
      throw this.#writeFailed(client, first);
    }
    corkTurn(client);
    const commit = client.query('COMMIT');
    commit.catch(() => {});
    release();
    const failed = await firstFailure([begin, ...sent, commit], undefined);
    if (failed !== undefined) throw this.#writeFailed(client, failed);
    // A COMMIT in an aborted transaction rolls back (and says so) instead of failing.
    if ((await commit).command !== 'COMMIT') throw new Error('PostgreSQL rolled the transaction back at COMMIT');
    this.#answered();
    return out;
  }

  /** Waits for the turn of the write called now; the function returned ends it. */
  async #takeTurn(): Promise<() => void> {
    const before = this.#turn;
    let release!: () => void;
    this.#turn = new Promise<void>((r) => (release = r));
    await before;
    let done = false;
    return () => {
      if (!done) (done = true), release();
    };
  }

  #writeConnection(): Promise<pg.PoolClient> {
    // While the database cannot be reached, the writes queued behind a failed connect fail at
    // once instead of each waiting out its own connect timeout in turn.
    const last = this.#connectFailed;
    if (this.#writer === null && last !== null && performance.now() - last.at < RECONNECT_PAUSE_MS) return Promise.reject(last.err);
    if (this.#writer === null) {
      const opening = this.pool.connect().then((c) => {
        this.#connectFailed = null;
        // Checked out, it is not the pool's to watch: a break must not be an uncaught 'error'.
        c.on('error', (err) => this.#dropWriter(c, err));
        return c;
      });
      opening.catch((err: unknown) => {
        this.#connectFailed = { at: performance.now(), err };
        if (this.#writer === opening) this.#writer = null;
      });
      this.#writer = opening;
    }
    return this.#writer;
  }

  /** The error of a write, mapped; a write connection that broke is replaced by the next write. */
  #writeFailed(client: pg.PoolClient, err: unknown): unknown {
    if (isConnectionError(err)) this.#dropWriter(client, err);
    return this.#map(err);
  }

  #dropWriter(client: pg.PoolClient, err: unknown): void {
    this.#failed(err);
    const writer = this.#writer;
    void writer?.then((c) => {
      // Released once: only while it is still the write connection.
      if (c !== client || this.#writer !== writer) return;
      this.#writer = null;
      c.release(err instanceof Error ? err : true);
    }, () => {});
  }

  /**
   * Runs `fn` with one pooled connection of its own (not in a transaction), for work that
   * needs a session: advisory locks, several transactions in a row. Errors are mapped as
   * `query`'s; a connection `fn` failed on is closed, not reused.
   */
  async session<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.#map(err);
    }
    let failed: Error | undefined;
    // Checked out, it is not the pool's to watch: a break fails fn's statement, never the process.
    const broke = (err: Error) => (failed = err);
    client.on('error', broke);
    try {
      return await fn(client);
    } catch (err) {
      failed = err instanceof Error ? err : new Error(String(err));
      throw this.#map(err);
    } finally {
      client.off('error', broke);
      client.release(failed);
    }
  }

  /** Whether the database answers (never throws). */
  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      // A readiness probe must answer on time: a pool whose connections all hang (a server that
      // stopped answering without closing them) counts as down after PING_TIMEOUT_MS.
      await Promise.race([
        this.pool.query('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer a ping within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
        }),
      ]);
      this.#answered();
      return true;
    } catch (err) {
      this.#failed(err);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the pool once the writes called before have been sent and answered. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Writes called from now on fail; those called before have their turns already.
    this.#closed = true;
    const release = await this.#takeTurn();
    const writer = this.#writer;
    this.#writer = null;
    if (writer) {
      try {
        const c = await writer;
        await c.query('SELECT 1').catch(() => {});
        c.release();
      } catch {
        // it never opened
      }
    }
    release();
    await this.pool.end();
  }

  #writes(text: string): boolean {
    let w = this.#isWrite.get(text);
    if (w === undefined) this.#isWrite.set(text, (w = WRITE_RE.test(text)));
    return w;
  }

  #name(text: string): string {
    let name = this.#names.get(text);
    if (name === undefined) this.#names.set(text, (name = statementName(text)));
    return name;
  }

  #map(err: unknown): unknown {
    const mapped = toStorageError(err, this.#where);
    if (mapped !== err) this.#failed(err);
    return mapped;
  }

  /** The database answered: it is up (a write connection may be opened again at once). */
  #answered(): void {
    this.#down = false;
    this.#connectFailed = null;
  }

  #failed(err: unknown): void {
    if (this.#closed || !isConnectionError(err) || this.#down) return;
    this.#down = true;
    try {
      this.#onUnavailable?.(err);
    } catch {
      // a listener's failure is not the pool's
    }
  }
}

/** The first of `sent` (in order) that failed, once all have settled; else `otherwise`. */
async function firstFailure(sent: readonly Promise<unknown>[], otherwise: unknown): Promise<unknown> {
  const settled = await Promise.allSettled(sent);
  for (const s of settled) if (s.status === 'rejected') return s.reason;
  return otherwise;
}

const closedError = () => fail('server.unavailable', 'Storage is closed.', { storage: 'closed' });
