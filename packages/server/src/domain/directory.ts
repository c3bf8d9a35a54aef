/**
 * A cache of each conversation's participant set, so the hot path (send → fan-out) reads no
 * table to check membership or find recipients. Bounded (least recently loaded entries go
 * first). Entries are dropped whenever participants change, on this node directly and on
 * other nodes through the `conversation.changed` event.
 */
import type { ConversationStore } from './ports.ts';
import type { Conversation } from './types.ts';

export interface DirectoryEntry {
  conversation: Conversation;
  members: ReadonlySet<string>;
  /** Members as an array, for fan-out. */
  list: readonly string[];
}

export class MemberDirectory {
  readonly #store: ConversationStore;
  readonly #capacity: number;
  readonly #cache = new Map<string, DirectoryEntry>();
  readonly #loading = new Map<string, Promise<DirectoryEntry | null>>();

  constructor(store: ConversationStore, capacity = 50_000) {
    this.#store = store;
    this.#capacity = capacity;
  }

  /** The conversation and its members, or null if it does not exist in the tenant. */
  get(tenantId: string, conversationId: string): Promise<DirectoryEntry | null> | DirectoryEntry | null {
    const key = `${tenantId}\u0000${conversationId}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    let p = this.#loading.get(key);
    if (!p) {
      p = this.#load(tenantId, conversationId, key);
      this.#loading.set(key, p);
    }
    return p;
  }

  async #load(tenantId: string, conversationId: string, key: string): Promise<DirectoryEntry | null> {
    try {
      const conversation = await this.#store.getConversation(tenantId, conversationId);
      if (!conversation) return null;
      const list = await this.#store.memberIds(tenantId, conversationId);
      const entry: DirectoryEntry = { conversation, members: new Set(list), list };
      if (this.#loading.get(key)) {
        if (this.#cache.size >= this.#capacity) this.#cache.delete(this.#cache.keys().next().value!);
        this.#cache.set(key, entry);
      }
      return entry;
    } finally {
      this.#loading.delete(key);
    }
  }

  invalidate(tenantId: string, conversationId: string): void {
    const key = `${tenantId}\u0000${conversationId}`;
    this.#cache.delete(key);
    this.#loading.delete(key);
  }
}
