/**
 * Call order for writes of one node to the same thing. The pool runs statements on several
 * connections at once, so two writes called one after the other could commit in either
 * order; a write that names keys (a conversation, a user) starts only once every earlier
 * write of this node naming one of its keys has finished. Writes to different things still
 * run in parallel, and writes from other nodes are ordered by the database (row locks) alone.
 */
export class Lanes {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const before: Promise<void>[] = [];
    for (const k of keys) {
      const t = this.#tails.get(k);
      if (t !== undefined) before.push(t);
    }
    const result = before.length === 0 ? fn() : Promise.all(before).then(fn);
    const done = result.then(noop, noop);
    for (const k of keys) this.#tails.set(k, done);
    void done.then(() => {
      for (const k of keys) if (this.#tails.get(k) === done) this.#tails.delete(k);
    });
    return result;
  }
}

const noop = () => {};

/** The key of a thing of a tenant (a conversation, a user). */
export const laneKey = (kind: string, tenantId: string, id: string) => `${kind}\u0000${tenantId}\u0000${id}`;
