/**
 * The SQLite writer thread: owns the one write connection and runs every write of every
 * store, in the order the main thread called them.
 *
 * Every request that has arrived by the time the previous transaction committed goes into
 * the next transaction (group commit of all writes: one commit, one fsync with FULL). A
 * request alone runs exactly as the store runs it inline; several share one transaction,
 * each in a savepoint so that one that fails rolls back alone (see `together`). Replies
 * leave only after COMMIT returned: a caller is answered when its write is durable (or has
 * failed), with the error the store threw.
 *
 * The search index is written by a thread of its own (`search-indexer-worker.ts`), into a
 * file of its own: after each commit this thread tells it which conversations were appended
 * to and whether messages were edited (`search-feed.ts`). A `search.catchUp` request is
 * answered once every write before it has committed and been told; the main thread then asks
 * the indexer to catch up. The indexer's applied edits come back as `prune` notices.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { NewMessage } from '../../domain/types.ts';
import { DEFAULT_WAL_AUTOCHECKPOINT, openDb } from './db.ts';
import { SqliteCheckpoints } from './checkpoints.ts';
import { openStores, RELAXED, WRITES, type StoreName } from './stores.ts';
import { compact, toWire, type WireError, type WriteReply, type WriteRequest, type WriterNotice, type WriterOptions } from './writer-wire.ts';
import { SearchFeed } from './search-feed.ts';

type Call = Extract<WriteRequest, { s: StoreName }>;

/** Most requests in one transaction (each append request is a whole batch already). */
const MAX_GROUP = 256;

const port = parentPort!;
const opts = workerData as WriterOptions;
const db = openDb(opts);
// The WAL is copied into the database file by a thread of its own (checkpoints.ts), not by
// the commits: a checkpoint made by a commit held every write behind it for tens of ms.
const checkpoints = new SqliteCheckpoints(db, { path: opts.path, synchronous: opts.synchronous, restartPages: opts.walAutocheckpoint ?? DEFAULT_WAL_AUTOCHECKPOINT });
const feed = new SearchFeed();
const sqlite = openStores(db, { mode: 'feed', feed });
const stores = sqlite as unknown as Record<StoreName, Record<string, (...args: unknown[]) => Promise<unknown>>> & { messages: typeof sqlite.messages };
const writes = new Set(Object.entries(WRITES).flatMap(([s, ms]) => ms.map((m) => `${s}.${m}`)));
const relaxed = new Set(Object.entries(RELAXED).flatMap(([s, ms]) => ms.map((m) => `${s}.${m}`)));
/** Transactions of only `RELAXED` writes are committed without an fsync of their own (see stores.ts). */
const fsyncs = opts.synchronous === 'FULL';
/** The last edit noted for the search index (migration 025's triggers add to it in the edits' transactions). */
const changesSeq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'message_search_changes'").pluck();
let changesSeen = (changesSeq.get() as number | undefined) ?? 0;
const pruneChanges = db.prepare('DELETE FROM message_search_changes WHERE id <= ?');
/** The indexer applied the edits up to `pruneTo`; those up to `pruned` are deleted. */
let pruneTo = 0;
let pruned = 0;

const queue: WriteRequest[] = [];
let busy = false;
let closed = false;
/** Sends what the feed holds when the writer has gone idle before it was due. */
let feedTimer: NodeJS.Timeout | null = null;

const isCatchUp = (req: WriteRequest) => 's' in req && req.s === 'search' && req.m === 'catchUp';

/** A message from the main thread: a notice is taken in, a request queued. */
function take(m: WriteRequest | WriterNotice): void {
  if ('feed' in m) {
    feed.port?.close();
    feed.port = m.feed;
  } else if ('prune' in m) pruneTo = Math.max(pruneTo, m.prune);
  else queue.push(m);
}

port.on('message', (m: WriteRequest | WriterNotice) => {
  take(m);
  if (!busy && (queue.length || pruneTo > pruned)) void run();
});

async function run(): Promise<void> {
  busy = true;
  try {
    while (queue.length || pruneTo > pruned) {
      // Whatever arrived while the previous transaction committed joins this one.
      for (let r = receiveMessageOnPort(port); r; r = receiveMessageOnPort(port)) take(r.message as WriteRequest | WriterNotice);
      const group: Call[] = [];
      while (queue.length && group.length < MAX_GROUP && !('close' in queue[0]!) && !isCatchUp(queue[0]!)) group.push(queue.shift() as Call);
      if (group.length) {
        const replies = await execute(group);
        if (group.some((r) => !isAppend(r))) noteChanges();
        port.postMessage(replies);
        if (feed.dueAt() <= Date.now()) feed.flush();
        checkpoints.afterCommit();
      }
      // A catch-up: every write before it is committed, and told.
      const answered: WriteReply[] = [];
      while (queue.length && isCatchUp(queue[0]!)) answered.push([queue.shift()!.id, null]);
      if (answered.length) {
        feed.flush();
        port.postMessage(answered);
      }
      const next = queue[0];
      if (next && 'close' in next) {
        queue.shift();
        await close(next.id);
        return;
      }
      if (pruneTo > pruned) prune();
    }
  } finally {
    busy = false;
  }
  // Idle with something not yet told: told when it is due.
  if (feed.pending && !closed && feedTimer === null) {
    feedTimer = setTimeout(() => {
      feedTimer = null;
      if (!busy) feed.flush();
    }, Math.max(0, feed.dueAt() - Date.now()));
    feedTimer.unref();
  }
}

/** Tells the indexer when a transaction noted edits. */
function noteChanges(): void {
  const seq = (changesSeq.get() as number | undefined) ?? 0;
  if (seq !== changesSeen) {
    changesSeen = seq;
    feed.changed();
  }
}

/** Deletes the edits the index has applied: a transaction of its own, without an fsync (losing it only leaves rows to delete again). */
function prune(): void {
  const to = pruneTo;
  if (fsyncs) db.pragma('synchronous = NORMAL');
  try {
    pruneChanges.run(to);
  } catch {
    // Left for the next notice: it deletes every row up to a later id.
  } finally {
    pruned = to;
    if (fsyncs) db.pragma('synchronous = FULL');
  }
  checkpoints.afterCommit();
}

async function close(id: number): Promise<void> {
  closed = true;
  if (feedTimer !== null) clearTimeout(feedTimer);
  feed.flush();
  await checkpoints.close();
  db.close();
  feed.port?.close();
  const refused = queue.splice(0).map((r): WriteReply => [r.id, undefined, toWire(new Error('the SQLite writer is closed'))]);
  port.postMessage([[id, null], ...refused] satisfies WriteReply[]);
  port.close();
}

const isAppend = (req: Call) => req.s === 'messages' && req.m === 'append';

function call(req: Call): Promise<unknown> {
  if (closed || !writes.has(`${req.s}.${req.m}`)) return Promise.reject(new Error(`not a write method: ${req.s}.${req.m}`));
  // The batch arrives without its content objects, and only the seqs go back (see writer-wire.ts).
  if (isAppend(req)) return stores.messages.append!(req.a[0] as NewMessage[]).then((r) => compact(r as never));
  return stores[req.s][req.m]!(...req.a);
}

async function execute(group: Call[]): Promise<WriteReply[]> {
  const lax = fsyncs && group.every((r) => relaxed.has(`${r.s}.${r.m}`));
  if (lax) db.pragma('synchronous = NORMAL');
  try {
    if (group.length === 1) return [await alone(group[0]!)];
    return (await together(group, false)) ?? (await together(group, true))!;
  } finally {
    if (lax) db.pragma('synchronous = FULL');
  }
}

/** One request: its own transaction, exactly as the store runs it inline. */
async function alone(req: Call): Promise<WriteReply> {
  try {
    return [req.id, await call(req)];
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    return [req.id, undefined, toWire(err)];
  }
}

/**
 * Several requests in one transaction, each in a savepoint so that one that fails rolls
 * back alone. Message appends, the bulk of the writes, run without one (a savepoint copies
 * every page it touches): if one of them throws, the whole transaction is rolled back and
 * this returns null, for the group to run again `careful`ly, every request in a savepoint.
 */
async function together(group: Call[], careful: boolean): Promise<WriteReply[] | null> {
  const done: WriteReply[] = [];
  /** Answers of the requests run in the transaction still open. */
  let open: WriteReply[] = [];
  /** The open transaction is gone, and with it what its requests wrote. */
  const lost = (e: WireError) => {
    for (const r of open) done.push(r.length === 3 ? r : [r[0], undefined, e]);
    open = [];
  };
  for (let i = 0; i < group.length; i++) {
    const req = group[i]!;
    const bare = !careful && isAppend(req);
    try {
      if (!db.inTransaction) db.exec('BEGIN IMMEDIATE');
      if (!bare) db.exec('SAVEPOINT request');
    } catch (err) {
      const e = toWire(err);
      lost(e);
      for (const r of group.slice(i)) done.push([r.id, undefined, e]);
      if (db.inTransaction) db.exec('ROLLBACK');
      return done;
    }
    if (bare) {
      try {
        open.push([req.id, compact(stores.messages.appendInOpenTransaction(req.a[0] as NewMessage[]))]);
      } catch {
        if (db.inTransaction) db.exec('ROLLBACK');
        return null;
      }
      continue;
    }
    try {
      // The stores are synchronous underneath: this await settles in a microtask, and no
      // other request runs in between.
      const result = await call(req);
      db.exec('RELEASE request');
      open.push([req.id, result]);
    } catch (err) {
      const e = toWire(err);
      if (db.inTransaction) {
        db.exec('ROLLBACK TO request');
        db.exec('RELEASE request');
        open.push([req.id, undefined, e]);
      } else {
        // SQLite rolled the whole transaction back (I/O error, disk full, …): nothing of it
        // was stored, so the requests before this one fail with it.
        lost(e);
        done.push([req.id, undefined, e]);
      }
    }
  }
  try {
    if (db.inTransaction) db.exec('COMMIT');
    done.push(...open);
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    lost(toWire(err));
  }
  return done;
}
