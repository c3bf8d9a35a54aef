/**
 * A vendor's access token (Huawei's OAuth2 client-credentials token, WeChat's access_token),
 * cached until shortly before it expires and fetched once for concurrent callers. `invalidate`
 * drops it when the vendor says it expired or is invalid (only if it is still the one the
 * caller used, so a fresh token fetched meanwhile is kept).
 */
export interface FetchedToken {
  token: string;
  /** Seconds it is valid for. */
  expiresIn: number;
}

export class AccessTokenCache {
  readonly #fetch: () => Promise<FetchedToken>;
  readonly #now: () => number;
  readonly #marginMs: number;
  #current: { token: string; until: number } | null = null;
  #fetching: Promise<string> | null = null;
  /** Tokens fetched so far (for metrics and tests). */
  fetches = 0;

  constructor(fetch: () => Promise<FetchedToken>, opts: { now?: () => number; refreshBeforeMs?: number } = {}) {
    this.#fetch = fetch;
    this.#now = opts.now ?? Date.now;
    this.#marginMs = opts.refreshBeforeMs ?? 5 * 60_000;
  }

  async get(): Promise<string> {
    if (this.#current && this.#now() < this.#current.until - this.#marginMs) return this.#current.token;
    this.#fetching ??= (async () => {
      try {
        const t = await this.#fetch();
        this.fetches++;
        this.#current = { token: t.token, until: this.#now() + t.expiresIn * 1000 };
        return t.token;
      } finally {
        this.#fetching = null;
      }
    })();
    return this.#fetching;
  }

  invalidate(token: string): void {
    if (this.#current?.token === token) this.#current = null;
  }
}
