/**
 * The event bus across nodes, over Redis publish/subscribe (one channel).
 *
 * A node's own events go to its own subscribers at once, synchronously, exactly as on the
 * `MemoryBus`, and to Redis tagged with the node's id; the node ignores its own events when
 * Redis echoes them back. So a node keeps serving its own clients while Redis is away.
 *
 * One publisher connection keeps a node's events in publish order; one subscriber connection
 * receives every node's events in the order Redis relayed them. The events a node publishes
 * in one turn of its event loop (a committed batch of messages is published in one loop) go
 * out as one Redis message: one PUBLISH, one JSON text to write and, on every other node, one
 * to read, instead of one per event — under chat load a node publishes hundreds per turn. At-most-once across nodes:
 * while the publisher is not connected, events are not sent and not queued (counted in
 * `dropped`, reported once per outage through `onError`); a command in flight when the link
 * broke is not resent later. When both connections are back (and the subscription is
 * confirmed) after a loss, the `onResume` handlers run — events may have been missed, so
 * caches are cleared and clients catch up from storage — and the node announces its return on
 * the channel so that the other nodes, which may have missed its dropped events without
 * losing their own link, run theirs too.
 */
import { Redis } from 'ioredis';
import type { DomainEvent } from '../domain/events.ts';
import type { EventBus } from '../domain/ports.ts';

/** The Redis channel every node publishes on and listens to. */
export const BUS_CHANNEL = 'careline:events';

export interface RedisBusOptions {
  /** redis://host:port[/db] */
  url: string;
  /** This node's id (unique per process in the cluster): its own events are not delivered twice. */
  nodeId: string;
  /** A subscriber threw, an event from Redis could not be read, or the link to Redis broke or dropped events. */
  onError?: (err: unknown) => void;
}

/**
 * What travels on the channel: the events a node published in one turn (`es`, in order), one
 * event (`e`, as nodes of an earlier version send), or a node saying its link came back.
 */
type Envelope = { n: string; es: DomainEvent[] } | { n: string; e: DomainEvent } | { n: string; resumed: true };

export class RedisBus implements EventBus {
  readonly #nodeId: string;
  /** How this node's own messages begin on the channel (`#send`): Redis echoes them back, and they are dropped unread. */
  readonly #ownPrefix: string;
  readonly #onError: (err: unknown) => void;
  readonly #pub: Redis;
  readonly #sub: Redis;
  #handlers: ((e: DomainEvent) => void)[] = [];
  #resumeHandlers: (() => void)[] = [];
  /** Whether the subscription is confirmed on the subscriber's current connection. */
  #subscribed = false;
  /** A connection dropped since both were last up: events may have been missed. */
  #lost = false;
  /** Events this node could not send across since it started (never sent later). */
  #dropped = 0;
  /** Events dropped in the current outage (reported once when it starts). */
  #droppedNow = 0;
  /** A connection error was reported in the current outage (retries fail again and again: one report). */
  #linkReported = false;
  /** Both connections were up once: a drop before that is no loss to recover from (nothing was expected of this node yet). */
  #everConnected = false;
  #closed = false;
  /** Events published in this turn, to go out together at its end. */
  #outgoing: DomainEvent[] = [];
  readonly #flush = () => this.#send();

  constructor(o: RedisBusOptions) {
    this.#nodeId = o.nodeId;
    this.#ownPrefix = `{"n":${JSON.stringify(o.nodeId)},`;
    this.#onError = o.onError ?? (() => {});
    const common = {
      // Reconnect for ever, backing off to 1 s: a node outlives a Redis restart.
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    };
    // No offline queue for the publisher: an event is sent now or dropped, never replayed late.
    this.#pub = new Redis(o.url, { ...common, enableOfflineQueue: false, connectionName: `careline-bus-pub:${o.nodeId}` });
    this.#sub = new Redis(o.url, { ...common, enableOfflineQueue: true, autoResubscribe: false, connectionName: `careline-bus-sub:${o.nodeId}` });
    for (const [name, c] of [['publisher', this.#pub], ['subscriber', this.#sub]] as const) {
      c.on('error', (err: unknown) => {
        if (this.#linkReported) return;
        this.#linkReported = true;
        this.#report(new Error(`event bus: Redis ${name} connection: ${String((err as Error)?.message ?? err)}`, { cause: err }));
      });
      c.on('close', () => this.#down(c === this.#sub));
      c.on('ready', () => {
        if (c === this.#sub) this.#subscribe();
        else this.#maybeResume();
      });
    }
    this.#sub.on('message', (_channel: string, raw: string) => this.#received(raw));
  }

  /** Both connections are up, subscribed, and nothing was lost since the last resume. */
  get connected(): boolean {
    return !this.#closed && !this.#lost && this.#subscribed && this.#pub.status === 'ready';
  }

  /** Events not sent to other nodes (Redis was not connected) since this bus started. */
  get dropped(): number {
    return this.#dropped;
  }

  publish(event: DomainEvent): void {
    this.#deliver(event);
    if (this.#closed) return;
    if (this.#pub.status !== 'ready') {
      this.#drop();
      return;
    }
    if (this.#outgoing.push(event) === 1) queueMicrotask(this.#flush);
  }

  /** The events of this turn, as one message. */
  #send(): void {
    const es = this.#outgoing;
    this.#outgoing = [];
    if (es.length === 0 || this.#closed) return;
    if (this.#pub.status !== 'ready') {
      for (let i = 0; i < es.length; i++) this.#drop();
      return;
    }
    this.#pub.publish(BUS_CHANNEL, JSON.stringify({ n: this.#nodeId, es } satisfies Envelope)).catch((err: unknown) => {
      // Written but not confirmed: the link broke; the events may or may not have gone out.
      this.#drop(err);
    });
  }

  subscribe(handler: (event: DomainEvent) => void): () => void {
    this.#handlers = [...this.#handlers, handler];
    return () => {
      this.#handlers = this.#handlers.filter((h) => h !== handler);
    };
  }

  onResume(handler: () => void): () => void {
    this.#resumeHandlers = [...this.#resumeHandlers, handler];
    return () => {
      this.#resumeHandlers = this.#resumeHandlers.filter((h) => h !== handler);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // What this turn published goes out before the connections close.
    this.#send();
    this.#closed = true;
    this.#handlers = [];
    this.#resumeHandlers = [];
    await Promise.all([this.#pub, this.#sub].map((c) => c.quit().catch(() => c.disconnect())));
  }

  #deliver(event: DomainEvent): void {
    for (const h of this.#handlers) {
      try {
        h(event);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  #received(raw: string): void {
    // This node's own message, echoed: a batch of events as large as any, not parsed to be dropped.
    if (raw.startsWith(this.#ownPrefix)) return;
    let env: Envelope;
    try {
      env = JSON.parse(raw) as Envelope;
    } catch (err) {
      this.#onError(new Error('event bus: an unreadable message on the channel', { cause: err }));
      return;
    }
    if (env.n === this.#nodeId) return;
    // Another node is back; if this one's own link is not whole yet, its own resume comes when it is.
    if ('resumed' in env) {
      if (!this.#lost) this.#runResume();
    } else if ('es' in env) {
      for (const e of env.es) this.#deliver(e);
    } else this.#deliver(env.e);
  }

  #subscribe(): void {
    this.#sub.subscribe(BUS_CHANNEL).then(
      () => {
        this.#subscribed = true;
        this.#maybeResume();
      },
      (err: unknown) => this.#report(err),
    );
  }

  #down(subscriber: boolean): void {
    if (this.#closed) return;
    if (subscriber) this.#subscribed = false;
    if (this.#everConnected) this.#lost = true;
  }

  #drop(err?: unknown): void {
    this.#dropped++;
    if (this.#droppedNow++ === 0) {
      this.#onError(new Error('event bus: Redis is not connected; events to other nodes are dropped until it is back', err === undefined ? {} : { cause: err }));
    }
    if (this.#everConnected) this.#lost = true;
  }

  /** Both connections are up and subscribed again after a loss: tell this node and the others. */
  #maybeResume(): void {
    if (this.#closed || !this.#subscribed || this.#pub.status !== 'ready') return;
    if (!this.#everConnected) {
      this.#everConnected = true;
      this.#droppedNow = 0;
      this.#linkReported = false;
      return;
    }
    if (!this.#lost) return;
    this.#lost = false;
    this.#droppedNow = 0;
    this.#linkReported = false;
    this.#pub.publish(BUS_CHANNEL, JSON.stringify({ n: this.#nodeId, resumed: true } satisfies Envelope)).catch(() => {});
    this.#runResume();
  }

  #runResume(): void {
    for (const h of this.#resumeHandlers) {
      try {
        h();
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  #report(err: unknown): void {
    if (!this.#closed) this.#onError(err);
  }
}
