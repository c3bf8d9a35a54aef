/**
 * In-process event bus: the default and the reference. `publish` calls every subscriber
 * synchronously, in subscription order, so events reach subscribers in publish order.
 * A throwing subscriber is reported and does not stop the others.
 */
import type { EventBus } from '../domain/ports.ts';
import type { DomainEvent } from '../domain/events.ts';

export class MemoryBus implements EventBus {
  #handlers: ((e: DomainEvent) => void)[] = [];
  readonly #onError: (err: unknown, e: DomainEvent) => void;

  constructor(onError: (err: unknown, e: DomainEvent) => void = () => {}) {
    this.#onError = onError;
  }

  publish(event: DomainEvent): void {
    for (const h of this.#handlers) {
      try {
        h(event);
      } catch (err) {
        this.#onError(err, event);
      }
    }
  }

  subscribe(handler: (event: DomainEvent) => void): () => void {
    this.#handlers = [...this.#handlers, handler];
    return () => {
      this.#handlers = this.#handlers.filter((h) => h !== handler);
    };
  }

  /** One process loses no events: never called. */
  onResume(_handler: () => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.#handlers = [];
  }
}
