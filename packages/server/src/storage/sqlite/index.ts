/**
 * The embedded SQLite backend: the default and the reference implementation of `Storage`.
 *
 * Two modes (`storage.sqliteWriter`):
 * - `worker` (default for a file): a writer thread owns the write connection and runs every
 *   write of every store, in call order, grouping what arrives while it commits into the
 *   next transaction (`writer-worker.ts`); the event loop never waits for a commit or an
 *   fsync. Reads run here, on this thread's own connection (`query_only`): in WAL a read
 *   sees every commit that finished before it started, so a write that resolved is seen.
 * - `inline`: one connection on this thread for everything (synchronous commits). Always
 *   used for ":memory:", which a second thread could not open.
 */
import type { Worker } from 'node:worker_threads';
import type { Storage } from '../../domain/ports.ts';
import type { AppError } from '../../domain/errors.ts';
import type { AppendResult, NewMessage } from '../../domain/types.ts';
import { isPrivateDb, openDb, type Db, type OpenOptions } from './db.ts';
import { storedMessage } from './messages.ts';
import { openStores, STORE_NAMES, WRITES, type SqliteStores, type StoreName } from './stores.ts';
import { SqliteWriter } from './writer.ts';
import { SqliteIndexerThread } from './search-indexer-thread.ts';
import { attachSearch } from './search-db.ts';
import type { SqliteSearchIndexer } from './search-indexer.ts';
import { slim, type CompactResult } from './writer-wire.ts';

export type WriterMode = 'worker' | 'inline';

export interface SqliteStorageOptions extends OpenOptions {
  /** Where writes run (default `worker`; ":memory:" is always `inline`). */
  writer?: WriterMode;
  /** The writer thread died: from then on every write fails with `server.unavailable`. */
  onWriterStopped?: (err: AppError) => void;
}

export interface SqliteStorage extends Storage {
  /** The mode in effect. */
  readonly writerMode: WriterMode;
  /** The writer thread (worker mode), for operations and tests. */
  readonly writerThread: Worker | null;
  /** The search index behind the appends, where this side writes it (inline mode; the indexer thread's otherwise). */
  readonly searchIndexer: SqliteSearchIndexer | null;
  /** The search indexer's thread (worker mode), for operations and tests. */
  readonly indexerThread: SqliteIndexerThread | null;
}

export { isPrivateDb };

export function createSqliteStorage(opts: SqliteStorageOptions): SqliteStorage {
  const mode: WriterMode = opts.writer === 'inline' || isPrivateDb(opts.path) ? 'inline' : 'worker';
  return mode === 'inline' ? inline(opts) : withWriter(opts);
}

function inline(opts: SqliteStorageOptions): SqliteStorage {
  const db = openDb(opts);
  attachSearch(db, opts.path);
  const state = { closed: false };
  const stores = openStores(db);
  // The search index follows the appends a turn of the event loop later, a step at a time
  // (and a search catches it up first).
  const indexer = stores.searchIndexer!;
  let timer: NodeJS.Immediate | null = null;
  const follow = () => {
    if (timer !== null || state.closed || !indexer.pending) return;
    timer = setImmediate(() => {
      timer = null;
      if (state.closed) return;
      try {
        indexer.step();
      } catch {
        return; // derived data: the next append or search tries again
      }
      follow();
    });
    timer.unref();
  };
  const append = stores.messages.append.bind(stores.messages);
  stores.messages.append = async (batch) => {
    const results = await append(batch);
    follow();
    return results;
  };
  return {
    ...stores,
    writerMode: 'inline',
    writerThread: null,
    indexerThread: null,
    ping: async () => !state.closed && answers(db),
    async close() {
      if (state.closed) return;
      state.closed = true;
      if (timer !== null) clearImmediate(timer);
      db.close();
    },
  };
}

/**
 * The page cache of the main thread's read connection, MiB. In WAL a connection drops its whole
 * cache whenever another connection has committed since its last read, so while messages come
 * this cache never fills (18–23 MiB of the process's heap at the end of a chat benchmark with
 * 64 MiB allowed); a larger one would serve only reads in quiet periods.
 */
const READ_CACHE_MIB = 16;
/** The search indexer's connection: it reads each message it indexes once, and writes the search file. */
const INDEXER_CACHE_MIB = 8;

function withWriter(opts: SqliteStorageOptions): SqliteStorage {
  // This connection applies the migrations before the writer opens its own, then only reads.
  const db = openDb({ ...opts, cacheMiB: READ_CACHE_MIB });
  // Made (or made anew) here, before the indexer's thread opens it.
  attachSearch(db, opts.path);
  db.pragma('query_only = ON');
  const local = openStores(db, { mode: 'read' });
  const writer = new SqliteWriter({ path: opts.path, synchronous: opts.synchronous, walAutocheckpoint: opts.walAutocheckpoint, cacheMiB: opts.cacheMiB }, opts.onWriterStopped);
  // The search index has a thread of its own; the writer tells it what each commit appended.
  const indexer = new SqliteIndexerThread({
    path: opts.path,
    cacheMiB: INDEXER_CACHE_MIB,
    feed: (port) => writer.notify({ feed: port }, [port]),
    applied: (upTo) => writer.notify({ prune: upTo }),
  });
  // A search sees every message committed before it: the writer first tells the indexer of
  // every write before this call, then the indexer indexes them.
  local.search.indexCatchUp = async () => {
    await writer.call<void>('search', 'catchUp', []);
    await indexer.catchUp();
  };
  const stores = Object.fromEntries(STORE_NAMES.map((name) => [name, split(name, local, writer)])) as unknown as SqliteStores;

  // The hot path: the batch crosses without its content objects, and only the seqs come back.
  const messages = stores.messages as unknown as { append: (batch: readonly NewMessage[]) => Promise<AppendResult[]> };
  messages.append = async (batch) => {
    const results = await writer.call<CompactResult[]>('messages', 'append', [slim(batch)]);
    return results.map((r, i) => (typeof r === 'number' ? { ok: true, duplicate: false, message: storedMessage(batch[i]!, r) } : r));
  };

  let closing: Promise<void> | null = null;
  return {
    ...stores,
    writerMode: 'worker',
    writerThread: writer.thread,
    searchIndexer: null,
    indexerThread: indexer,
    ping: async () => closing === null && writer.running && answers(db),
    close: () =>
      (closing ??= (async () => {
        try {
          await writer.close();
          await indexer.close();
        } finally {
          db.close();
        }
      })()),
  };
}

/** The store `name` with its write methods sent to the writer and its reads run on `local`. */
function split(name: StoreName, local: SqliteStores, writer: SqliteWriter): object {
  const store = local[name] as unknown as Record<string, (...args: unknown[]) => unknown>;
  const writes = new Set<string>(WRITES[name]);
  const out: Record<string, (...args: unknown[]) => unknown> = {};
  for (const method of Object.getOwnPropertyNames(Object.getPrototypeOf(store))) {
    if (method === 'constructor' || typeof store[method] !== 'function') continue;
    out[method] = writes.has(method) ? (...args: unknown[]) => writer.call(name, method, args) : store[method]!.bind(store);
  }
  return out;
}

function answers(db: Db): boolean {
  try {
    db.prepare('SELECT 1').get();
    return true;
  } catch {
    return false;
  }
}
