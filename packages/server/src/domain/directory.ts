/**
 * A cache of each conversation's participant set, so the hot path (send → fan-out) reads no
 * table to check membership or find recipients. Bounded (least recently loaded entries go
 * first). Entries are dropped whenever participants change, on this node directly and on
 * other nodes through the `conversation.changed` event.
 *
 * The bus is at-most-once: a node that misses a `conversation.changed` would keep a stale
 * set. So an entry also expires `ttlMs` after its load began (its age is checked on read: no
 * timer, no extra read while it is fresh), and `clear()` drops everything — called when the
 * bus comes back after a loss. A node that missed an event is therefore wrong for at most
 * `ttlMs`, or until its bus resumes.
 */
import type { ConversationStore } from './ports.ts';
import { conversationKey, setNewest } from './bounded.ts';
import type { Conversation } from './types.ts';

export interface DirectoryEntry {
  conversation: Conversation;
  members: ReadonlySet<string>;
  /** Members as an array, for fan-out. */
  list: readonly string[];
}

export interface DirectoryOptions {
  /** Most conversations kept (default 50,000). */
  capacity?: number;
  /** An entry is loaded again once this old (ms, from the start of its load; default 10,000). */
  ttlMs?: number;
  /** The clock (ms). */
  now?: () => number;
}

interface Cached {
  entry: DirectoryEntry;
  /** When its load began: what it holds is at least that fresh. */
  at: number;
}

export class MemberDirectory {
  readonly #store: ConversationStore;
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Cached>();
  /** Loads in flight; a load stores its entry only if its slot is still here when it ends. */
  readonly #loading = new Map<string, { p: Promise<DirectoryEntry | null> }>();

  constructor(store: ConversationStore, opts: DirectoryOptions = {}) {
    this.#store = store;
    this.#capacity = Math.max(1, opts.capacity ?? 50_000);
    this.#ttlMs = opts.ttlMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** The conversation and its members, or null if it does not exist in the tenant. */
  get(tenantId: string, conversationId: string): Promise<DirectoryEntry | null> | DirectoryEntry | null {
    const key = conversationKey(tenantId, conversationId);
    const hit = this.#cache.get(key);
    if (hit) {
      if (this.#now() - hit.at < this.#ttlMs) return hit.entry;
      this.#cache.delete(key);
    }
    let slot = this.#loading.get(key);
    if (!slot) {
      slot = { p: null! };
      this.#loading.set(key, slot);
      slot.p = this.#load(tenantId, conversationId, key, slot);
    }
    return slot.p;
  }

  async #load(tenantId: string, conversationId: string, key: string, loading: object): Promise<DirectoryEntry | null> {
    const at = this.#now();
    try {
      const conversation = await this.#store.getConversation(tenantId, conversationId);
      if (!conversation) return null;
      const list = await this.#store.memberIds(tenantId, conversationId);
      const entry: DirectoryEntry = { conversation, members: new Set(list), list };
      // Kept only if no invalidate or clear came meanwhile (they drop the load in flight).
      if (this.#loading.get(key) === loading) {
        setNewest(this.#cache, key, { entry, at }, this.#capacity);
      }
      return entry;
    } finally {
      if (this.#loading.get(key) === loading) this.#loading.delete(key);
    }
  }

  invalidate(tenantId: string, conversationId: string): void {
    const key = conversationKey(tenantId, conversationId);
    this.#cache.delete(key);
    this.#loading.delete(key);
  }

  /** Drops every entry and every load in flight (events may have been missed: the bus resumed after a loss). */
  clear(): void {
    this.#cache.clear();
    this.#loading.clear();
  }

  /** Entries held (for tests and metrics). */
  get size(): number {
    return this.#cache.size;
  }
}
