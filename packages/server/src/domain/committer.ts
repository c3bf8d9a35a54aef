/**
 * Group commit: sends that arrive in the same turn of the event loop are written in one
 * transaction, and each caller is answered only after that transaction commits. One batch is
 * in flight at a time, so batches commit in arrival order.
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
  #inflight: Promise<void> | null = null;
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
      this.#inflight = this.#flush().finally(() => {
        this.#inflight = null;
        if (this.#queue.length) this.#schedule();
        else for (const r of this.#idle.splice(0)) r();
      });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
    const t0 = performance.now();
    let results: AppendResult[];
    try {
      results = await this.#store.append(batch.map((p) => p.msg));
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    this.onBatch?.(batch.length, performance.now() - t0);
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const r = results[i]!;
      try {
        this.#onCommitted(p.msg, r, p.ctx);
      } finally {
        p.resolve(r);
      }
    }
  }
}
