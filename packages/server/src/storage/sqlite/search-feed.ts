/**
 * What the writer thread tells the search indexer's thread (`search-indexer-worker.ts`):
 * which conversations its appends wrote to (and how many messages), and whether messages were
 * edited, recalled or deleted, on a port of their own (`MessageChannel`). Gathered over many
 * commits and sent once a step's worth of messages waits, an edit was made, or the oldest is
 * `FEED_MAX_LAG_MS` old (`due`), and always before a search's catch-up is answered (the
 * indexer reads what has arrived before it catches up). Not after every commit: a message to
 * an idle thread wakes it, and on this project's test machine (a VM) a wake-up cost the
 * sender about 30 µs and the pair far more CPU than the message itself.
 */
import type { MessagePort } from 'node:worker_threads';
import { INDEX_STEP } from './search-indexer.ts';

/** `t`: [tenant, conversation, messages appended]; `changed`: rows were added to `message_search_changes`. */
export interface FeedMessage {
  t?: [string, string, number][];
  changed?: true;
}

/** The longest the writer keeps what it has to tell (the indexer then waits up to its own lag); a step's worth (`INDEX_STEP`) is told at once. */
export const FEED_MAX_LAG_MS = 100;

export class SearchFeed {
  readonly #touched = new Map<string, [string, string, number]>();
  #changed = false;
  /** Messages touched since the last flush, and when the first of them was. */
  #count = 0;
  #since = 0;
  port: MessagePort | null = null;

  /** Something is waiting to be told. */
  get pending(): boolean {
    return this.#touched.size > 0 || this.#changed;
  }

  /** When what waits should be sent (ms since the epoch; 0: now, +Infinity: nothing waits). */
  dueAt(): number {
    if (!this.pending) return Number.POSITIVE_INFINITY;
    if (this.#changed || this.#count >= INDEX_STEP) return 0;
    return this.#since + FEED_MAX_LAG_MS;
  }

  /** An append wrote `n` messages to this conversation (in the transaction being built). */
  touched(tenantId: string, conversationId: string, n = 1): void {
    const k = `${tenantId}\u0000${conversationId}`;
    if (this.#count === 0) this.#since = Date.now();
    this.#count += n;
    const e = this.#touched.get(k);
    if (e) e[2] += n;
    else this.#touched.set(k, [tenantId, conversationId, n]);
  }

  changed(): void {
    this.#changed = true;
  }

  /**
   * Sends what the transactions since the last flush did (after their commit, or rollback: a
   * conversation touched for nothing is found up to date). Without a port (the indexer restarting) it is
   * dropped: a new indexer finds what is behind by itself.
   */
  flush(): void {
    if (this.#touched.size === 0 && !this.#changed) return;
    const m: FeedMessage = {};
    if (this.#touched.size) m.t = [...this.#touched.values()];
    if (this.#changed) m.changed = true;
    this.#touched.clear();
    this.#changed = false;
    this.#count = 0;
    this.port?.postMessage(m);
  }
}
