/**
 * The writer thread's side of the checkpointer thread (`checkpointer-worker.ts`): the write
 * connection stops checkpointing by itself (`wal_autocheckpoint = 0`), the checkpointer copies
 * the WAL into the database file on its own connection, and after each of its passes — once
 * the WAL holds `restartPages` frames or more — the writer copies the few frames committed
 * during the pass, so that its next transaction starts the WAL over. If the checkpointer thread
 * stops, the write connection checkpoints by itself again, as SQLite does by default.
 */
import { Worker } from 'node:worker_threads';
import type { Db } from './db.ts';

export interface CheckpointerOptions {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
  /** `CK_SLOTS` Int32 slots, shared with the writer thread. */
  state: SharedArrayBuffer;
  /** Between passes (ms). */
  intervalMs: number;
}

/** Slots of the shared state. */
export const CK = {
  /** Set to 1 (and notified) to stop the thread. */
  STOP: 0,
  /** Commits made by the writer (it adds one per transaction). */
  COMMITS: 1,
  /** Passes the checkpointer finished. */
  PASSES: 2,
  /** Frames in the WAL at the end of the last pass. */
  LOG: 3,
} as const;
export const CK_SLOTS = 4;

export interface CheckpointsOptions {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
  /** WAL frames from which the writer makes the WAL start over (and, without the checkpointer, checkpoints). */
  restartPages: number;
  /** Between the checkpointer's passes (ms). */
  intervalMs?: number;
}

/** Between the checkpointer's passes while the writer commits: a pass copies about this much of the WAL. */
export const CHECKPOINT_INTERVAL_MS = 200;

export class SqliteCheckpoints {
  readonly #db: Db;
  readonly #state = new Int32Array(new SharedArrayBuffer(CK_SLOTS * Int32Array.BYTES_PER_ELEMENT));
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  readonly #restartPages: number;
  #passesSeen = 0;
  #stopping = false;

  constructor(db: Db, o: CheckpointsOptions) {
    this.#db = db;
    this.#restartPages = o.restartPages;
    db.pragma('wal_autocheckpoint = 0');
    const data: CheckpointerOptions = { path: o.path, synchronous: o.synchronous, state: this.#state.buffer as SharedArrayBuffer, intervalMs: o.intervalMs ?? CHECKPOINT_INTERVAL_MS };
    this.#worker = new Worker(new URL('./checkpointer-worker.ts', import.meta.url), {
      workerData: data,
      name: 'careline-sqlite-checkpointer',
      // Its loop allocates a few small objects a pass: a small heap keeps its memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    this.#worker.unref();
    this.#worker.on('error', () => {});
    this.#exited = new Promise((resolve) =>
      this.#worker.once('exit', () => {
        // Stopped without being asked: the write connection checkpoints by itself again.
        if (!this.#stopping) db.pragma(`wal_autocheckpoint = ${o.restartPages}`);
        resolve();
      }),
    );
  }

  /** The writer committed a transaction (call with none open). */
  afterCommit(): void {
    Atomics.add(this.#state, CK.COMMITS, 1);
    const passes = Atomics.load(this.#state, CK.PASSES);
    if (passes === this.#passesSeen) return;
    this.#passesSeen = passes;
    if (Atomics.load(this.#state, CK.LOG) < this.#restartPages) return;
    try {
      this.#db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // The checkpointer's next pass is under way: after it, this runs again.
    }
  }

  /** Stops the checkpointer thread (before the write connection closes). */
  async close(): Promise<void> {
    this.#stopping = true;
    Atomics.store(this.#state, CK.STOP, 1);
    Atomics.notify(this.#state, CK.STOP);
    await this.#exited;
  }
}
