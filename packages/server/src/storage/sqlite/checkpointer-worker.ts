/**
 * The SQLite checkpointer thread: copies the WAL's pages back into the database file, so that
 * the writer thread does not have to.
 *
 * A checkpoint copies the newest version of every page the WAL holds into the database file
 * and fsyncs it: at chat rates tens of milliseconds, during which a writer that checkpoints
 * itself (SQLite's `wal_autocheckpoint`) commits nothing — every message sent meanwhile waits,
 * and that wait was most of the chat latency's tail. Here a connection of its own runs
 * `wal_checkpoint(PASSIVE)` every `intervalMs` while the writer commits: a passive checkpoint
 * takes no write lock, so the writer goes on committing meanwhile. What it cannot do is start
 * the WAL over: that happens at the writer's next transaction once every frame is copied, so
 * after each pass the writer copies what was committed during it (a few milliseconds' worth,
 * `SqliteCheckpoints.afterCommit`) once the WAL is long enough to be worth starting over.
 *
 * The threads share a small `Int32Array` (`CK`): the writer counts its commits (a pass runs
 * only if there were any), the checkpointer counts its passes and publishes the WAL's length
 * and how much of it is copied, and `STOP` ends the thread (it sleeps in `Atomics.wait`).
 */
import Database from 'better-sqlite3';
import { workerData } from 'node:worker_threads';
import { CK, type CheckpointerOptions } from './checkpoints.ts';

interface Result {
  busy: number;
  log: number;
}

const o = workerData as CheckpointerOptions;
const state = new Int32Array(o.state);
const db = new Database(o.path);
db.pragma(`synchronous = ${o.synchronous}`);
// A checkpoint reads the WAL's frames and writes them out: no page of it is read twice, so no cache.
db.pragma('cache_size = -1024');
let seen = Atomics.load(state, CK.COMMITS);
while (Atomics.load(state, CK.STOP) === 0) {
  Atomics.wait(state, CK.STOP, 0, o.intervalMs);
  if (Atomics.load(state, CK.STOP) !== 0) break;
  const commits = Atomics.load(state, CK.COMMITS);
  if (commits === seen) continue;
  seen = commits;
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as Result[];
    Atomics.store(state, CK.LOG, r!.log);
    Atomics.add(state, CK.PASSES, 1);
  } catch {
    // Another checkpoint ran (the writer's), or the disk failed: the next pass tries again,
    // and the writer's own checkpoint after its commits (the fallback) is unaffected.
  }
}
db.close();
