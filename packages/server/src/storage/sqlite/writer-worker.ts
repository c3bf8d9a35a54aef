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
 * The search index is written behind the appends (`search-indexer.ts`): a step of it runs
 * between transactions once a step's worth of messages (`INDEX_STEP`) waits, or once the
 * oldest message not yet indexed is `INDEX_MAX_LAG_MS` old (a timer when no write comes), so
 * the index trails by a bounded time under any load and each step's fixed cost is shared by
 * many messages. `search.catchUp` (before a search) runs steps at once, and is answered once
 * nothing is left to index.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { NewMessage } from '../../domain/types.ts';
import { DEFAULT_WAL_AUTOCHECKPOINT, openDb } from './db.ts';
import { SqliteCheckpoints } from './checkpoints.ts';
import { openStores, RELAXED, WRITES, type StoreName } from './stores.ts';
import { compact, toWire, type WireError, type WriteReply, type WriteRequest, type WriterOptions } from './writer-wire.ts';

type Call = Extract<WriteRequest, { s: StoreName }>;

/** Most requests in one transaction (each append request is a whole batch already). */
const MAX_GROUP = 256;
/** Under continuous load, a search index step runs between transactions once the index trails this much. */
export const INDEX_MAX_LAG_MS = 250;

const port = parentPort!;
const opts = workerData as WriterOptions;
const db = openDb(opts);
// The WAL is copied into the database file by a thread of its own (checkpoints.ts), not by
// the commits: a checkpoint made by a commit held every write behind it for tens of ms.
const checkpoints = new SqliteCheckpoints(db, { path: opts.path, synchronous: opts.synchronous, restartPages: opts.walAutocheckpoint ?? DEFAULT_WAL_AUTOCHECKPOINT });
const sqlite = openStores(db);
const stores = sqlite as unknown as Record<StoreName, Record<string, (...args: unknown[]) => Promise<unknown>>> & { messages: typeof sqlite.messages };
const writes = new Set(Object.entries(WRITES).flatMap(([s, ms]) => ms.map((m) => `${s}.${m}`)));
const relaxed = new Set(Object.entries(RELAXED).flatMap(([s, ms]) => ms.map((m) => `${s}.${m}`)));
/** Transactions of only `RELAXED` writes are committed without an fsync of their own (see stores.ts). */
const fsyncs = opts.synchronous === 'FULL';

const queue: WriteRequest[] = [];
/** `search.catchUp` requests, answered when the index has caught up. */
const catchUps: number[] = [];
const indexer = sqlite.searchIndexer;
let busy = false;
let closed = false;

const isCatchUp = (req: WriteRequest) => 's' in req && req.s === 'search' && req.m === 'catchUp';

function take(req: WriteRequest): void {
  if (isCatchUp(req)) catchUps.push(req.id);
  else queue.push(req);
}

port.on('message', (req: WriteRequest) => {
  take(req);
  if (!busy) void run();
});

/** After a failed index step, the next waits this long (unless a search asks for one). */
const INDEX_RETRY_MS = 1000;
let indexPausedUntil = 0;
let retry: NodeJS.Timeout | null = null;

/** The index has work to do now. */
const indexable = () => indexer.pending && (catchUps.length > 0 || Date.now() >= indexPausedUntil);
/** A step should run now: a search waits for the index, or a step's worth of work or of lag has gathered. */
const indexDue = () => indexable() && (catchUps.length > 0 || indexer.dueAt(INDEX_MAX_LAG_MS) <= Date.now());

/** The searches waiting for the index are answered once nothing is left to index. */
function answerCatchUps(): void {
  if (catchUps.length && !indexer.pending) port.postMessage(catchUps.splice(0).map((id): WriteReply => [id, null]));
}

async function run(): Promise<void> {
  busy = true;
  try {
    answerCatchUps();
    while (queue.length || indexDue()) {
      // Whatever arrived while the previous transaction committed joins this one.
      for (let r = receiveMessageOnPort(port); r; r = receiveMessageOnPort(port)) take(r.message as WriteRequest);
      const group: Call[] = [];
      while (queue.length && group.length < MAX_GROUP && !('close' in queue[0]!)) group.push(queue.shift() as Call);
      if (group.length) {
        port.postMessage(await execute(group));
        checkpoints.afterCommit();
      }
      const next = queue[0];
      if (next && 'close' in next) {
        queue.shift();
        await close(next.id);
        return;
      }
      // The search index: when a search waits for it, or a step's worth of it is due.
      if (indexDue()) {
        indexStep();
        checkpoints.afterCommit();
      }
      answerCatchUps();
      // Only indexing: let the port's events in between steps.
      if (queue.length === 0 && indexDue()) await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    busy = false;
  }
  if (indexer.pending && !closed && retry === null) {
    retry = setTimeout(() => {
      retry = null;
      if (!busy) void run();
    }, Math.min(INDEX_MAX_LAG_MS, Math.max(0, indexPausedUntil - Date.now(), indexer.dueAt(INDEX_MAX_LAG_MS) - Date.now())));
    retry.unref();
  }
}

function indexStep(): void {
  try {
    indexer.step();
  } catch (err) {
    // The index is derived data: a failed step is rolled back and tried again later (the
    // messages stay behind, nothing is lost); searches waiting for it get the error.
    if (db.inTransaction) db.exec('ROLLBACK');
    indexPausedUntil = Date.now() + INDEX_RETRY_MS;
    const e = toWire(err);
    if (catchUps.length) port.postMessage(catchUps.splice(0).map((id): WriteReply => [id, undefined, e]));
  }
}

async function close(id: number): Promise<void> {
  closed = true;
  if (retry) clearTimeout(retry);
  await checkpoints.close();
  db.close();
  const refused = [...queue.splice(0).map((r) => r.id), ...catchUps.splice(0)].map((rid): WriteReply => [rid, undefined, toWire(new Error('the SQLite writer is closed'))]);
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
