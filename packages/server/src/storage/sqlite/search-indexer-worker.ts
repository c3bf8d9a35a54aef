/**
 * The SQLite search indexer's thread: writes the search index (`search-indexer.ts`) into its
 * own database file (`search-db.ts`) on a connection of its own, which only reads the main
 * database. Its steps, their FTS5 segment merges and the search file's checkpoints run here,
 * beside the writer thread, not between its commits.
 *
 * The writer thread tells it, after each commit, which conversations were appended to and
 * whether messages were edited (`search-feed.ts`, on the `feed` port); a step runs once a
 * step's worth of messages waits or the oldest has waited `INDEX_MAX_LAG_MS`. The main thread
 * asks it to catch up before a search (`{ catchUp: id }`, answered `[id, null]` once nothing
 * committed before is left, or with the error of the step that failed), and is told the last
 * edit applied (`{ applied }`) so that the writer can delete the edits up to it.
 */
import Database from 'better-sqlite3';
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { attachSearch } from './search-db.ts';
import { SqliteSearchIndexer } from './search-indexer.ts';
import type { FeedMessage } from './search-feed.ts';
import { toWire, type WriteReply } from './writer-wire.ts';

export interface IndexerOptions {
  /** The main database. */
  path: string;
  /** The writer thread's feed (`search-feed.ts`). */
  feed: MessagePort;
  /** This connection's page cache, MiB. */
  cacheMiB: number;
}

/** Requests from the main thread. */
export type IndexerRequest = { catchUp: number } | { close: number };
/** To the main thread: answers to catch-ups, the last edit applied, the answer to close. */
export type IndexerReply = { replies: WriteReply[] } | { applied: number } | { closed: number };

/** Under continuous load, a step runs once the index trails this much. */
export const INDEX_MAX_LAG_MS = 250;
/** After a failed step, the next waits this long (unless a search asks for one). */
const RETRY_MS = 1000;

const port = parentPort!;
const o = workerData as IndexerOptions;
const db = new Database(o.path);
db.pragma('busy_timeout = 5000');
db.pragma(`cache_size = -${o.cacheMiB * 1024}`);
db.pragma('temp_store = MEMORY');
attachSearch(db, o.path);
const indexer = new SqliteSearchIndexer(db);
indexer.onApplied = (upTo) => port.postMessage({ applied: upTo } satisfies IndexerReply);

const catchUps: number[] = [];
let timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
let pausedUntil = 0;
let closed = false;

function take(m: FeedMessage): void {
  if (m.t) for (const [t, c, n] of m.t) indexer.touched(t, c, n);
  if (m.changed) indexer.changed();
}

/** Everything the writer has sent so far (a catch-up covers what was committed before it). */
function drain(): void {
  for (let r = receiveMessageOnPort(o.feed); r; r = receiveMessageOnPort(o.feed)) take(r.message as FeedMessage);
}

o.feed.on('message', (m: FeedMessage) => {
  take(m);
  schedule();
});

port.on('message', (req: IndexerRequest) => {
  if ('close' in req) return close(req.close);
  drain();
  catchUps.push(req.catchUp);
  schedule();
});

function cancel(): void {
  if (timer === null) return;
  clearTimeout(timer as NodeJS.Timeout);
  clearImmediate(timer as NodeJS.Immediate);
  timer = null;
}

function schedule(): void {
  if (closed) return;
  if (timer !== null) {
    if (catchUps.length === 0) return;
    cancel();
  }
  const now = Date.now();
  const at = catchUps.length ? now : Math.max(indexer.dueAt(INDEX_MAX_LAG_MS), pausedUntil);
  if (at === Number.POSITIVE_INFINITY) return;
  timer = at <= now ? setImmediate(run) : setTimeout(run, at - now);
}

function run(): void {
  timer = null;
  if (closed) return;
  try {
    if (catchUps.length) {
      indexer.catchUp();
      port.postMessage({ replies: catchUps.splice(0).map((id): WriteReply => [id, null]) } satisfies IndexerReply);
    } else if (indexer.dueAt(INDEX_MAX_LAG_MS) <= Date.now()) indexer.step();
  } catch (err) {
    // The index is derived data: a failed step is rolled back and tried again later (the
    // messages stay behind, nothing is lost); searches waiting for it get the error.
    if (db.inTransaction) db.exec('ROLLBACK');
    pausedUntil = Date.now() + RETRY_MS;
    const e = toWire(err);
    if (catchUps.length) port.postMessage({ replies: catchUps.splice(0).map((id): WriteReply => [id, undefined, e]) } satisfies IndexerReply);
  }
  // Between steps the ports' messages come in.
  schedule();
}

function close(id: number): void {
  closed = true;
  cancel();
  db.close();
  const refused = catchUps.splice(0).map((rid): WriteReply => [rid, undefined, toWire(new Error('the search indexer is closed'))]);
  if (refused.length) port.postMessage({ replies: refused } satisfies IndexerReply);
  port.postMessage({ closed: id } satisfies IndexerReply);
  o.feed.close();
  port.close();
}
