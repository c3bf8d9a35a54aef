/**
 * The widget key's limits on creating visitors: fixed windows counted per client address and
 * per fingerprint, in Redis when the node has one (the counters hold across nodes), else in
 * this process. While Redis does not answer the request is let through, as the HTTP limits do.
 */
import type { Redis } from 'ioredis';
import { fail } from '../domain/errors.ts';

const NS = 'careline:desk:limit:';

export class DeskLimits {
  readonly #redis: Redis | null;
  readonly #windowMs: number;
  readonly #counts = new Map<string, { n: number; until: number }>();
  readonly #now: () => number;

  constructor(redis: Redis | null, windowSeconds: number, now: () => number = Date.now) {
    this.#redis = redis;
    this.#windowMs = windowSeconds * 1000;
    this.#now = now;
  }

  /** Counts one more for `key`; `desk.rate_limited` (with `retry_after` seconds) once past `max` in the window. */
  async hit(key: string, max: number): Promise<void> {
    const now = this.#now();
    let n: number;
    let resetMs: number;
    if (this.#redis) {
      try {
        const r = await this.#redis.multi().incr(NS + key).pttl(NS + key).exec();
        n = Number(r?.[0]?.[1] ?? 0);
        let ttl = Number(r?.[1]?.[1] ?? -1);
        if (ttl < 0) {
          await this.#redis.pexpire(NS + key, this.#windowMs);
          ttl = this.#windowMs;
        }
        resetMs = ttl;
      } catch {
        return;
      }
    } else {
      let c = this.#counts.get(key);
      if (!c || c.until <= now) {
        if (this.#counts.size > 100_000) this.#sweep(now);
        this.#counts.set(key, (c = { n: 0, until: now + this.#windowMs }));
      }
      n = ++c.n;
      resetMs = c.until - now;
    }
    if (n > max) throw fail('desk.rate_limited', undefined, { retry_after: Math.max(1, Math.ceil(resetMs / 1000)) });
  }

  #sweep(now: number): void {
    for (const [k, c] of this.#counts) if (c.until <= now) this.#counts.delete(k);
  }
}
