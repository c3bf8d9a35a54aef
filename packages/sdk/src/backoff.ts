/** Reconnect delays: exponential backoff with full jitter. */

export interface BackoffOptions {
  /** Upper bound of the first delay, in ms (default 500). */
  baseMs?: number;
  /** Largest delay, in ms (default 30 000). */
  maxMs?: number;
}

/**
 * The delay before reconnect attempt number `attempt` (0 for the first retry): a uniformly
 * random value in `[0, min(maxMs, baseMs · 2^attempt))` ("full jitter"), so that many clients
 * dropped at once do not reconnect in step.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const cap = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}
