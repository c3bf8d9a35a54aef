/**
 * The main thread's side of the search indexer's thread (`search-indexer-worker.ts`): starts
 * it with a feed port for the writer thread, asks it to catch up before a search, passes the
 * last edit it applied on to the writer (to be deleted from the main database), and starts it
 * again if it dies — the index is derived data, and a new indexer finds by itself what is
 * behind; the searches waiting meanwhile fail with `server.unavailable`.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { fail } from '../../domain/errors.ts';
import { fromWire } from './writer-wire.ts';
import type { IndexerOptions, IndexerReply, IndexerRequest } from './search-indexer-worker.ts';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Before the thread is started again after it died. */
const RESTART_MS = 1000;

export interface IndexerThreadOptions {
  path: string;
  cacheMiB: number;
  /** A new feed port for the writer thread (at start and at each restart). */
  feed: (port: MessagePort) => void;
  /** The indexer applied the edits up to this one. */
  applied: (upTo: number) => void;
}

export class SqliteIndexerThread {
  readonly #o: IndexerThreadOptions;
  readonly #pending = new Map<number, Pending>();
  #worker!: Worker;
  #exited!: Promise<void>;
  #nextId = 1;
  #closing = false;
  #restart: NodeJS.Timeout | null = null;
  /** Times the thread was started (for tests). */
  starts = 0;

  constructor(o: IndexerThreadOptions) {
    this.#o = o;
    this.#start();
  }

  /** The thread itself, for operations and tests. */
  get thread(): Worker {
    return this.#worker;
  }

  #start(): void {
    this.starts++;
    const { port1, port2 } = new MessageChannel();
    const data: IndexerOptions = { path: this.#o.path, cacheMiB: this.#o.cacheMiB, feed: port2 };
    const worker = new Worker(new URL('./search-indexer-worker.ts', import.meta.url), { workerData: data, transferList: [port2], name: 'careline-search-indexer' });
    this.#worker = worker;
    worker.unref();
    let lastError: Error | null = null;
    worker.on('error', (err) => (lastError = err));
    worker.on('message', (m: IndexerReply) => {
      if ('applied' in m) this.#o.applied(m.applied);
      else if ('replies' in m) {
        for (const [id, , error] of m.replies) this.#settle(id, error ? fromWire(error) : null);
      } else this.#settle(m.closed, null);
    });
    this.#exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        resolve();
        if (this.#closing) return;
        // Died: the searches waiting fail, and a new thread starts after a pause.
        const err = fail('server.unavailable', `The search indexer thread stopped (exit code ${code}${lastError ? `: ${lastError.message}` : ''}); it is started again.`, { storage: 'search_indexer_stopped' });
        for (const id of [...this.#pending.keys()]) this.#settle(id, err);
        this.#restart = setTimeout(() => {
          this.#restart = null;
          if (!this.#closing) this.#start();
        }, RESTART_MS);
        this.#restart.unref();
      }),
    );
    this.#o.feed(port1);
  }

  #settle(id: number, err: Error | null): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (err) p.reject(err);
    else p.resolve(undefined);
    // Closing, the thread is waited for until it exits.
    if (this.#pending.size === 0 && !this.#closing) this.#worker.unref();
  }

  #request(req: (id: number) => IndexerRequest): Promise<void> {
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.ref();
      this.#worker.postMessage(req(id));
    });
  }

  /** Resolves once every message the writer had told of (and every edit committed) is indexed. */
  catchUp(): Promise<void> {
    if (this.#closing) return Promise.reject(fail('server.unavailable', 'Storage is closed.', { storage: 'closed' }));
    if (this.#restart !== null) return Promise.reject(fail('server.unavailable', 'The search indexer is starting again.', { storage: 'search_indexer_stopped' }));
    return this.#request((id) => ({ catchUp: id }));
  }

  async close(): Promise<void> {
    if (this.#closing) return this.#exited;
    this.#closing = true;
    if (this.#restart !== null) {
      clearTimeout(this.#restart);
      return;
    }
    await this.#request((id) => ({ close: id })).catch(() => {});
    await this.#exited;
  }
}
