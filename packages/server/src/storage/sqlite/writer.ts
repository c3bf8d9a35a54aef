/**
 * The main thread's side of the SQLite writer thread (`writer-worker.ts`): forwards write
 * calls in call order and answers each caller when the writer says its transaction
 * committed (or failed, with the same error). If the thread dies, every pending and later
 * write fails with `server.unavailable` and `running` turns false (readiness reports it).
 */
import { Worker } from 'node:worker_threads';
import { AppError, fail } from '../../domain/errors.ts';
import type { StoreName } from './stores.ts';
import { fromWire, type WriteReply, type WriterNotice, type WriterOptions } from './writer-wire.ts';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class SqliteWriter {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #onStopped: (err: AppError) => void;
  #nextId = 1;
  #state: 'running' | 'closing' | 'closed' | 'stopped' = 'running';
  #stoppedError: AppError | null = null;
  #lastError: Error | null = null;
  #exited: Promise<void>;

  /** `onStopped`: the thread died (not closed): log it, the process cannot write any more. */
  constructor(opts: WriterOptions, onStopped: (err: AppError) => void = () => {}) {
    this.#onStopped = onStopped;
    this.#worker = new Worker(new URL('./writer-worker.ts', import.meta.url), { workerData: opts, name: 'careline-sqlite-writer' });
    // An idle writer does not keep the process alive; one with writes pending does.
    this.#worker.unref();
    this.#worker.on('message', (replies: WriteReply[]) => this.#answer(replies));
    this.#worker.on('error', (err) => (this.#lastError = err));
    this.#exited = new Promise((resolve) => this.#worker.once('exit', (code) => resolve(this.#exit(code))));
  }

  /** True while writes can be made (the thread runs and close has not begun). */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** The thread itself, for operations and tests (`threadId`, `terminate`). */
  get thread(): Worker {
    return this.#worker;
  }

  /** Runs `store.method(...args)` in the writer thread; resolves once committed. */
  call<T>(store: StoreName, method: string, args: unknown[]): Promise<T> {
    if (this.#state !== 'running') return Promise.reject(this.#unavailable());
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#worker.postMessage({ id, s: store, m: method, a: args });
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Tells the thread something that needs no answer (`WriterNotice`). */
  notify(notice: WriterNotice, transfer: Transferable[] = []): void {
    if (this.#state === 'running') this.#worker.postMessage(notice, transfer as never);
  }

  /** Finishes every write already called, then stops the thread. */
  async close(): Promise<void> {
    if (this.#state === 'running') {
      this.#state = 'closing';
      const id = this.#nextId++;
      this.#worker.ref();
      const closed = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
      this.#worker.postMessage({ id, close: true });
      await closed.catch(() => {});
    }
    await this.#exited;
  }

  #answer(replies: WriteReply[]): void {
    for (const [id, result, error] of replies) {
      const p = this.#pending.get(id);
      if (!p) continue;
      this.#pending.delete(id);
      if (error) p.reject(fromWire(error));
      else p.resolve(result);
    }
    if (this.#pending.size === 0 && this.#state === 'running') this.#worker.unref();
  }

  #exit(code: number): void {
    if (this.#state === 'closing' && this.#pending.size === 0) {
      this.#state = 'closed';
      return;
    }
    this.#state = 'stopped';
    const why = this.#lastError ? `: ${this.#lastError.message}` : '';
    this.#stoppedError = fail(
      'server.unavailable',
      `The SQLite writer thread stopped (exit code ${code}${why}); no write can be made until the server restarts.`,
      { storage: 'writer_stopped', exit_code: code },
    );
    if (this.#lastError) Object.assign(this.#stoppedError, { cause: this.#lastError });
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    // Whether those writes committed is unknown (as after a crash): the callers retry, and
    // the client ids make message resends safe.
    for (const p of pending) p.reject(this.#stoppedError);
    this.#onStopped(this.#stoppedError);
  }

  #unavailable(): AppError {
    return this.#stoppedError ?? fail('server.unavailable', 'Storage is closed.', { storage: 'closed' });
  }
}
