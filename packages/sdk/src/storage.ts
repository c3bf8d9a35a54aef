/**
 * Pluggable persistence for the outbox and the sync cursors. Any object with
 * localStorage-style `getItem`/`setItem` works: `window.localStorage`, React Native's
 * AsyncStorage (promises are awaited), or your own. The default keeps state in memory only.
 */

/** A string key-value store; methods may be synchronous (localStorage) or return promises. */
export interface CarelineStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
}

/** An in-memory `CarelineStorage`. Share one instance between clients to carry state over. */
export class MemoryStorage implements CarelineStorage {
  #items = new Map<string, string>();

  getItem(key: string): string | null {
    return this.#items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.#items.set(key, value);
  }

  removeItem(key: string): void {
    this.#items.delete(key);
  }

  /** Every stored key (for tests and debugging). */
  keys(): string[] {
    return [...this.#items.keys()];
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

/**
 * One persisted string value. Writes go out at once when the storage is synchronous (so a
 * page closed right after a send keeps it); with an asynchronous storage they are
 * serialized, and only the newest pending value is written.
 */
export class PersistedValue {
  readonly #storage: CarelineStorage;
  readonly #key: string;
  readonly #onError: (err: unknown) => void;
  #writing: Promise<void> | null = null;
  #next: string | null = null;

  constructor(storage: CarelineStorage, key: string, onError: (err: unknown) => void) {
    this.#storage = storage;
    this.#key = key;
    this.#onError = onError;
  }

  /** Reads the stored value (`null` when absent or unreadable). */
  async load(): Promise<string | null> {
    try {
      return (await this.#storage.getItem(this.#key)) ?? null;
    } catch (err) {
      this.#onError(err);
      return null;
    }
  }

  /** Stores `value`. */
  save(value: string): void {
    if (this.#writing) {
      this.#next = value;
      return;
    }
    let result: void | Promise<void>;
    try {
      result = this.#storage.setItem(this.#key, value);
    } catch (err) {
      this.#onError(err);
      return;
    }
    if (!isThenable(result)) return;
    this.#writing = Promise.resolve(result).then(
      () => this.#written(),
      (err: unknown) => {
        this.#onError(err);
        this.#written();
      },
    );
  }

  /** Resolves once every value saved so far is written. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  #written(): void {
    this.#writing = null;
    const next = this.#next;
    this.#next = null;
    if (next !== null) this.save(next);
  }
}
