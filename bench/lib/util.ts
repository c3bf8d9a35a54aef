/** Small helpers shared by the orchestrator, the load generators and the crash test. */
import { performance } from 'node:perf_hooks';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Comparable across processes on
 * the same machine (both sides derive it from the same system clock at start), so one
 * process may timestamp a send and another the delivery.
 */
export const wallMs = (): number => performance.timeOrigin + performance.now();

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Polls `cond` every `everyMs` until it is true or `timeoutMs` passed; resolves to whether it became true. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= end) return false;
    await sleep(everyMs);
  }
}

/** Splits `items` into `n` contiguous chunks of nearly equal size. */
/**
 * How a client's receipts compare with what it should have got: `count(k)` is how many times
 * it received `k`. Missing = expected and never received; duplicated = copies beyond the first.
 */
export function tally<K>(expected: Iterable<K>, count: (k: K) => number): { missing: number; duplicated: number } {
  let missing = 0;
  let duplicated = 0;
  for (const k of expected) {
    const c = count(k);
    if (c === 0) missing++;
    else if (c > 1) duplicated += c - 1;
  }
  return { missing, duplicated };
}

export function split<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  const size = Math.ceil(items.length / n);
  for (let i = 0; i < n; i++) out.push(items.slice(i * size, (i + 1) * size));
  return out;
}

/** A deterministic PRNG (mulberry32) so a workload can be repeated. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A ULID-shaped id (time-sortable); enough for seeded rows. */
export function ulidLike(time: number, rand: () => number): string {
  let s = '';
  let t = time;
  for (let i = 0; i < 10; i++) {
    s = B32[t % 32]! + s;
    t = Math.floor(t / 32);
  }
  for (let i = 0; i < 16; i++) s += B32[Math.floor(rand() * 32)]!;
  return s;
}

export const fmt = {
  int: (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'),
  num: (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '–'),
  ms: (n: number): string => (!Number.isFinite(n) ? '–' : n < 1 ? `${n.toFixed(2)} ms` : n < 100 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`),
  bytes: (n: number): string => (!Number.isFinite(n) ? '–' : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${Math.round(n)} B`),
  ratio: (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–'),
};
