/**
 * Sync cursors: per conversation, the last seq the client has, plus the `server_time` of its
 * previous full `sync_done` (`since`), plus the id of the newest notification it has. Persisted with a short debounce: a cursor that lags
 * after a crash only means a few messages are delivered again, never that one is lost.
 */
import { PersistedValue, type CarelineStorage } from './storage.ts';

interface Persisted {
  user_id: string | null;
  since: number | null;
  cursors: Record<string, number>;
  notifications?: string | null;
}

export class CursorStore {
  readonly #map = new Map<string, number>();
  readonly #store: PersistedValue;
  readonly #debounceMs: number;
  #since: number | null = null;
  #notifications: string | null = null;
  #userId: string | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Nothing is written before the persisted state is read (it would overwrite it). */
  #loaded = false;

  constructor(storage: CarelineStorage, key: string, onError: (err: unknown) => void, debounceMs = 200) {
    this.#store = new PersistedValue(storage, key, onError);
    this.#debounceMs = debounceMs;
  }

  async load(): Promise<void> {
    const raw = await this.#store.load();
    this.#loaded = true;
    if (this.#map.size || this.#since !== null || this.#userId !== null || this.#notifications !== null) this.#schedule();
    if (!raw) return;
    let p: Partial<Persisted>;
    try {
      p = JSON.parse(raw) as Partial<Persisted>;
    } catch {
      return;
    }
    if (!p || typeof p !== 'object') return;
    if (this.#userId === null && typeof p.user_id === 'string') this.#userId = p.user_id;
    if (this.#since === null && typeof p.since === 'number') this.#since = p.since;
    if (this.#notifications === null && typeof p.notifications === 'string' && p.notifications !== '') this.#notifications = p.notifications;
    for (const [id, seq] of Object.entries(p.cursors ?? {})) {
      if (Number.isInteger(seq) && seq >= 0 && !this.#map.has(id)) this.#map.set(id, seq);
    }
  }

  /** The last seq the client has in a conversation; `undefined` when it has none. */
  get(conversationId: string): number | undefined {
    return this.#map.get(conversationId);
  }

  set(conversationId: string, seq: number): void {
    if (this.#map.get(conversationId) === seq) return;
    this.#map.set(conversationId, seq);
    this.#schedule();
  }

  delete(conversationId: string): void {
    if (this.#map.delete(conversationId)) this.#schedule();
  }

  /** Every cursor, as the `cursors` of a `sync` frame. */
  all(): Record<string, number> {
    return Object.fromEntries(this.#map);
  }

  get size(): number {
    return this.#map.size;
  }

  /** The `server_time` of the previous full sync, or `null` before the first one. */
  get since(): number | null {
    return this.#since;
  }

  set since(t: number | null) {
    this.#since = t;
    this.#schedule();
  }

  /** The id of the newest notification the client has (ids are time-sortable), or `null` before any. */
  get notifications(): string | null {
    return this.#notifications;
  }

  /** Moves the notification cursor forward (never back). */
  advanceNotifications(id: string | null): void {
    if (id === null || (this.#notifications !== null && id <= this.#notifications)) return;
    this.#notifications = id;
    this.#schedule();
  }

  /**
   * Ties the state to the connected user. If it belonged to another user, it is discarded
   * (returns true): that user's cursors say nothing about this one's conversations.
   */
  bindUser(userId: string): boolean {
    if (this.#userId === userId) return false;
    const reset = this.#userId !== null;
    if (reset) {
      this.#map.clear();
      this.#since = null;
      this.#notifications = null;
    }
    this.#userId = userId;
    this.#schedule();
    return reset;
  }

  /** Writes now and waits for the write. */
  async flush(): Promise<void> {
    if (this.#timer && this.#loaded) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#write();
    }
    await this.#store.flush();
  }

  #schedule(): void {
    if (this.#timer || !this.#loaded) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#write();
    }, this.#debounceMs);
  }

  #write(): void {
    const value: Persisted = { user_id: this.#userId, since: this.#since, cursors: this.all(), notifications: this.#notifications };
    this.#store.save(JSON.stringify(value));
  }
}
