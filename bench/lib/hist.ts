/**
 * A log-bucketed latency histogram (about 1% relative precision from 1 µs to hours),
 * mergeable across processes: generators send `toJSON()` over IPC, the orchestrator merges.
 */
const GROWTH = 1.01;
const LOG_G = Math.log(GROWTH);
/** Values are in milliseconds; the smallest bucket is 1 µs. */
const MIN = 0.001;

export interface HistJSON {
  /** [bucket, count] pairs. */
  b: [number, number][];
  n: number;
  max: number;
  sum: number;
}

export class Histogram {
  #counts = new Map<number, number>();
  n = 0;
  max = 0;
  sum = 0;

  record(ms: number): void {
    const v = ms < MIN ? MIN : ms;
    const b = Math.floor(Math.log(v / MIN) / LOG_G);
    this.#counts.set(b, (this.#counts.get(b) ?? 0) + 1);
    this.n++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  merge(h: Histogram | HistJSON): this {
    const j = h instanceof Histogram ? h.toJSON() : h;
    for (const [b, c] of j.b) this.#counts.set(b, (this.#counts.get(b) ?? 0) + c);
    this.n += j.n;
    this.sum += j.sum;
    if (j.max > this.max) this.max = j.max;
    return this;
  }

  static from(j: HistJSON): Histogram {
    return new Histogram().merge(j);
  }

  /** The value at quantile q (0..1), in ms; NaN when empty. */
  quantile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.n));
    const keys = [...this.#counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const k of keys) {
      seen += this.#counts.get(k)!;
      if (seen >= rank) return Math.min(this.max, MIN * GROWTH ** (k + 0.5));
    }
    return this.max;
  }

  get mean(): number {
    return this.n ? this.sum / this.n : NaN;
  }

  summary(): { n: number; p50: number; p99: number; p999: number; max: number; mean: number } {
    return { n: this.n, p50: this.quantile(0.5), p99: this.quantile(0.99), p999: this.quantile(0.999), max: this.n ? this.max : NaN, mean: this.mean };
  }

  toJSON(): HistJSON {
    return { b: [...this.#counts.entries()], n: this.n, max: this.max, sum: this.sum };
  }
}
