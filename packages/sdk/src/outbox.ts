/**
 * The outbox: messages sent but not yet acknowledged by the server. Entries survive
 * reconnects (and, with a persistent storage, page reloads) and are sent again with the
 * same `client_id`, which the server uses to store each message once.
 */
import { PersistedValue, type CarelineStorage } from './storage.ts';

/** A message waiting for the server's durable acknowledgement. */
export interface OutboxEntry {
  /** The SDK-generated idempotency key, kept across every retry. */
  client_id: string;
  conversation_id: string;
  type: number;
  content: Record<string, unknown>;
  /** When `send` was called (client clock, ms). */
  queued_at: number;
  /** The user who queued it, once known; entries of another user are never sent. */
  user_id: string | null;
}

function isEntry(v: unknown): v is OutboxEntry {
  const e = v as Partial<OutboxEntry> | null;
  return (
    !!e &&
    typeof e.client_id === 'string' &&
    typeof e.conversation_id === 'string' &&
    typeof e.type === 'number' &&
    !!e.content &&
    typeof e.content === 'object'
  );
}

export class Outbox {
  readonly #entries = new Map<string, OutboxEntry>();
  readonly #store: PersistedValue;
  /** Nothing is written before the persisted entries are read (it would overwrite them). */
  #loaded = false;

  constructor(storage: CarelineStorage, key: string, onError: (err: unknown) => void) {
    this.#store = new PersistedValue(storage, key, onError);
  }

  /** Loads persisted entries; they go before any added meanwhile. */
  async load(): Promise<void> {
    const raw = await this.#store.load();
    this.#loaded = true;
    let parsed: unknown = [];
    try {
      parsed = raw ? JSON.parse(raw) : [];
    } catch {
      // Unreadable: start empty.
    }
    if (!Array.isArray(parsed)) parsed = [];
    const added = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of parsed as unknown[]) if (isEntry(e)) this.#entries.set(e.client_id, { ...e, user_id: e.user_id ?? null, queued_at: e.queued_at ?? 0 });
    for (const e of added) if (!this.#entries.has(e.client_id)) this.#entries.set(e.client_id, e);
    if (added.length) this.#save();
  }

  add(entry: OutboxEntry): void {
    this.#entries.set(entry.client_id, entry);
    this.#save();
  }

  get(clientId: string): OutboxEntry | undefined {
    return this.#entries.get(clientId);
  }

  has(clientId: string): boolean {
    return this.#entries.has(clientId);
  }

  /** Removes an entry; returns it, or `undefined` if it was not there. */
  remove(clientId: string): OutboxEntry | undefined {
    const entry = this.#entries.get(clientId);
    if (entry) {
      this.#entries.delete(clientId);
      this.#save();
    }
    return entry;
  }

  /** Stamps entries queued before the user was known with that user. */
  claim(userId: string): void {
    let changed = false;
    for (const e of this.#entries.values()) {
      if (e.user_id === null) {
        e.user_id = userId;
        changed = true;
      }
    }
    if (changed) this.#save();
  }

  /** Every entry, oldest first. */
  list(): OutboxEntry[] {
    return [...this.#entries.values()];
  }

  get size(): number {
    return this.#entries.size;
  }

  flush(): Promise<void> {
    return this.#store.flush();
  }

  #save(): void {
    if (!this.#loaded) return;
    this.#store.save(JSON.stringify([...this.#entries.values()]));
  }
}
