/** Single-node presence: connection counts per user, and when each was last seen. */
import type { PresenceChange, PresenceStore } from '../domain/ports.ts';

export class MemoryPresence implements PresenceStore {
  readonly #count = new Map<string, number>();
  readonly #lastSeen = new Map<string, number>();

  async connected(tenantId: string, userId: string, now: number): Promise<boolean> {
    const k = `${tenantId}\u0000${userId}`;
    const n = (this.#count.get(k) ?? 0) + 1;
    this.#count.set(k, n);
    this.#lastSeen.set(k, now);
    return n === 1;
  }

  async disconnected(tenantId: string, userId: string, now: number): Promise<boolean> {
    const k = `${tenantId}\u0000${userId}`;
    const n = (this.#count.get(k) ?? 0) - 1;
    this.#lastSeen.set(k, now);
    if (n <= 0) {
      this.#count.delete(k);
      return true;
    }
    this.#count.set(k, n);
    return false;
  }

  async status(tenantId: string, userId: string) {
    const k = `${tenantId}\u0000${userId}`;
    const connections = this.#count.get(k) ?? 0;
    return { online: connections > 0, last_seen: this.#lastSeen.get(k) ?? null, connections };
  }

  /** One process has no other node to lose: never called. */
  onChange(_handler: (change: PresenceChange) => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {}
}
