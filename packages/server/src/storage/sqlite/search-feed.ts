/**
 * What the writer thread tells the search indexer's thread (`search-indexer-worker.ts`) after
 * each commit: which conversations its appends wrote to (and how many messages), and whether
 * messages were edited, recalled or deleted. One message per commit at most, on a port of
 * their own (`MessageChannel`); the indexer reads what has arrived before it answers a
 * search's catch-up, which the writer forwards only after the commits before it were told.
 */
import type { MessagePort } from 'node:worker_threads';

/** `t`: [tenant, conversation, messages appended]; `changed`: rows were added to `message_search_changes`. */
export interface FeedMessage {
  t?: [string, string, number][];
  changed?: true;
}

export class SearchFeed {
  readonly #touched = new Map<string, [string, string, number]>();
  #changed = false;
  port: MessagePort | null = null;

  /** An append wrote `n` messages to this conversation (in the transaction being built). */
  touched(tenantId: string, conversationId: string, n = 1): void {
    const k = `${tenantId}\u0000${conversationId}`;
    const e = this.#touched.get(k);
    if (e) e[2] += n;
    else this.#touched.set(k, [tenantId, conversationId, n]);
  }

  changed(): void {
    this.#changed = true;
  }

  /**
   * Sends what the last transaction did (after its commit, or after its rollback: a conversation
   * touched for nothing is found up to date). Without a port (the indexer restarting) it is
   * dropped: a new indexer finds what is behind by itself.
   */
  flush(): void {
    if (this.#touched.size === 0 && !this.#changed) return;
    const m: FeedMessage = {};
    if (this.#touched.size) m.t = [...this.#touched.values()];
    if (this.#changed) m.changed = true;
    this.#touched.clear();
    this.#changed = false;
    this.port?.postMessage(m);
  }
}
