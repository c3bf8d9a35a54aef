/**
 * The order of one client's POSTs on this node. A client may send its next POST before the
 * previous one is answered (the SDK keeps a few in flight, so that a message does not wait
 * for the commit of the one before it); the requests then travel on different HTTP
 * connections and may arrive in any order. Such a client numbers its POSTs (`n=`: 1, 2, 3…)
 * and names the oldest one it has no answer for yet (`from=`). The frames of POST n are handed
 * to the connection once those of every POST from `from` to n - 1 were handed here — the
 * order of a WebSocket's frames — or once `longpoll.orderWaitMs` has passed without them (a
 * POST sent to another node, or lost on the way: nothing waits for it longer).
 *
 * A balancer in front of several nodes keeps one client's polls and POSTs on one node by the
 * `client=` parameter (docs/deploy.md); a client that does not number its POSTs sends them
 * one at a time, and nothing here applies to it.
 */

interface Waiter {
  n: number;
  from: number;
  go: () => void;
}

interface Chain {
  /** The POSTs at or after the client's last `from` whose frames were handed here. */
  handed: Set<number>;
  /** The client's newest `from` seen: the POSTs before it are answered and forgotten. */
  from: number;
  waiting: Waiter[];
  /** When a request of the client last came (chains left alone for `IDLE_MS` are dropped). */
  seen: number;
}

/** A chain with no request for this long is dropped (a client polls at least every `longpoll.timeoutMs`). */
const IDLE_MS = 10 * 60_000;

export class PostOrder {
  readonly #chains = new Map<string, Chain>();
  #swept = Date.now();

  /**
   * Resolves when POST `n` of the client `key` may hand its frames (at once, if every POST from
   * `from` to n - 1 was handed here already), and at the latest after `waitMs`. Then call `handed`.
   */
  turn(key: string, n: number, from: number, waitMs: number): Promise<void> | null {
    const now = Date.now();
    this.#sweep(now);
    let c = this.#chains.get(key);
    if (!c) {
      c = { handed: new Set(), from, waiting: [], seen: now };
      this.#chains.set(key, c);
    }
    c.seen = now;
    if (from > c.from) {
      c.from = from;
      for (const k of c.handed) if (k < from) c.handed.delete(k);
    }
    if (this.#ready(c, n, from)) return null;
    return new Promise<void>((resolve) => {
      const w: Waiter = { n, from, go: () => {} };
      // Waited long enough: the missing POSTs are given up on (no later POST waits for them again).
      const timer = setTimeout(() => {
        for (let k = Math.max(from, c.from); k < n; k++) c.handed.add(k);
        w.go();
      }, waitMs);
      w.go = () => {
        clearTimeout(timer);
        const i = c.waiting.indexOf(w);
        if (i >= 0) c.waiting.splice(i, 1);
        resolve();
      };
      c.waiting.push(w);
    });
  }

  /** POST `n`'s frames were handed to the connection: the POSTs waiting for it may go. */
  handed(key: string, n: number): void {
    const c = this.#chains.get(key);
    if (!c) return;
    if (n >= c.from) c.handed.add(n);
    // Each release may release the next (n + 1 waits for n): a few at a time, in order.
    for (const w of [...c.waiting].sort((a, b) => a.n - b.n)) if (this.#ready(c, w.n, w.from)) w.go();
  }

  /** The clients with a chain (for tests and metrics). */
  get size(): number {
    return this.#chains.size;
  }

  #ready(c: Chain, n: number, from: number): boolean {
    for (let k = Math.max(from, c.from); k < n; k++) if (!c.handed.has(k)) return false;
    return true;
  }

  #sweep(now: number): void {
    if (now - this.#swept < IDLE_MS / 10) return;
    this.#swept = now;
    for (const [key, c] of this.#chains) if (c.waiting.length === 0 && now - c.seen > IDLE_MS) this.#chains.delete(key);
  }
}
