/** The push-node registry of one process: this node is the only one, and holds whom it registered. */
import type { NodeRegistry } from '../domain/ports.ts';

export class MemoryNodeRegistry implements NodeRegistry {
  readonly address: string;
  readonly #users = new Set<string>();
  readonly #started = Date.now();
  #closed = false;

  constructor(o: { address: string }) {
    this.address = o.address;
  }

  async register(tenantId: string, userId: string): Promise<void> {
    this.#users.add(`${tenantId}\u0000${userId}`);
  }

  async unregister(tenantId: string, userId: string): Promise<void> {
    this.#users.delete(`${tenantId}\u0000${userId}`);
  }

  async lookup(tenantId: string, userId: string): Promise<string | null> {
    return !this.#closed && this.#users.has(`${tenantId}\u0000${userId}`) ? this.address : null;
  }

  async nodes(): Promise<{ address: string; heartbeat: number }[]> {
    return this.#closed ? [] : [{ address: this.address, heartbeat: Math.max(this.#started, Date.now()) }];
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#users.clear();
  }
}
