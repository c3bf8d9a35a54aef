/**
 * Group commit: sends are written in batches, one transaction each, and each caller is
 * answered only after its batch's transaction commits. One batch is in flight at a time, so
 * batches commit in arrival order; the sends that arrive while a batch commits form the next
 * one (with the SQLite writer thread that is the whole commit and fsync; inline, the sends of
 * one turn of the event loop).
 */
import type { MessageStore } from './ports.ts';
import type { AppendResult, NewMessage } from './types.ts';

interface Pending<C> {
  msg: NewMessage;
  ctx: C;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** Called for each message right after its batch commits, before its writer is answered. */
export type OnCommitted<C> = (msg: NewMessage, result: AppendResult, ctx: C) => void;

export class GroupCommitter<C> {
  readonly #store: MessageStore;
  readonly #maxBatch: number;
  readonly #onCommitted: OnCommitted<C>;
  #queue: Pending<C>[] = [];
  #scheduled = false;
  #inflight = false;
  #idle: (() => void)[] = [];
  /** Sizes of recent batches, for metrics. */
  onBatch: ((size: number, ms: number) => void) | undefined;

  constructor(store: MessageStore, maxBatch: number, onCommitted: OnCommitted<C>) {
    this.#store = store;
    this.#maxBatch = maxBatch;
    this.#onCommitted = onCommitted;
  }

  /** Resolves once `msg` is committed (or found to be a duplicate). */
  write(msg: NewMessage, ctx: C): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ msg, ctx, resolve, reject });
      this.#schedule();
    });
  }

  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves when nothing is queued or being written. */
  drain(): Promise<void> {
    if (this.#queue.length === 0 && !this.#inflight) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #schedule(): void {
    if (this.#scheduled || this.#inflight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#inflight) this.#flush();
    });
  }

  /** Hands the queued messages (up to `maxBatch`) to the store: the one batch in flight. */
  #flush(): void {
    const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
    this.#inflight = true;
    const t0 = performance.now();
    let written: Promise<AppendResult[]>;
    try {
      written = this.#store.append(batch.map((p) => p.msg));
    } catch (err) {
      written = Promise.reject(err);
    }
    written.then(
      (results) => {
        this.onBatch?.(batch.length, performance.now() - t0);
        this.#next();
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          const r = results[i]!;
          try {
            this.#onCommitted(p.msg, r, p.ctx);
          } finally {
            p.resolve(r);
          }
        }
        this.#settled();
      },
      (err: unknown) => {
        this.#next();
        for (const p of batch) p.reject(err);
        this.#settled();
      },
    );
  }

  /**
   * A batch is done. What queued meanwhile goes to the store at once, before this batch's
   * callers are answered: a store that commits off the event loop (the SQLite writer
   * thread) writes it while they are answered. (A store that commits on the event loop
   * has nothing queued here: nothing ran during its commit.)
   */
  #next(): void {
    this.#inflight = false;
    if (this.#queue.length) this.#flush();
  }

  #settled(): void {
    if (this.#queue.length === 0 && !this.#inflight) for (const r of this.#idle.splice(0)) r();
    else if (!this.#inflight) this.#schedule();
  }
}
