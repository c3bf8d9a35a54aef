/** Prometheus metrics of one server instance (its own registry, so several can share a process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Histogram({
    name: 'careline_http_request_duration_seconds', help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry],
  });
  readonly wsConnections = new Gauge({ name: 'careline_ws_connections', help: 'Open WebSocket connections', registers: [this.registry] });
  readonly wsFramesIn = new Counter({ name: 'careline_ws_frames_in_total', help: 'Frames received, by type', labelNames: ['type'], registers: [this.registry] });
  /** Frames written; a plain number on the hot path, read by the counter at scrape time. */
  framesOut = 0;
  readonly wsFramesOut = new Counter({
    name: 'careline_ws_frames_out_total', help: 'Frames sent', registers: [this.registry],
    collect: () => {
      const m = this.wsFramesOut;
      m.reset();
      m.inc(this.framesOut);
    },
  });
  readonly wsClosed = new Counter({ name: 'careline_ws_closed_total', help: 'Connections closed by the server, by close code', labelNames: ['code'], registers: [this.registry] });
  readonly messagesCommitted = new Counter({ name: 'careline_messages_committed_total', help: 'Messages committed', registers: [this.registry] });
  readonly commitBatch = new Histogram({
    name: 'careline_commit_batch_size', help: 'Messages per group commit', buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000], registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'careline_commit_duration_seconds', help: 'Duration of one group commit', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1], registers: [this.registry],
  });
  readonly errors = new Counter({ name: 'careline_errors_total', help: 'Errors reported to clients, by code', labelNames: ['code'], registers: [this.registry] });
  readonly pushEnqueued = new Counter({ name: 'careline_push_enqueued_total', help: 'Push jobs enqueued (one per message and device), by vendor', labelNames: ['vendor'], registers: [this.registry] });
  readonly pushSent = new Counter({ name: 'careline_push_sent_total', help: 'Pushes the vendor accepted, by vendor', labelNames: ['vendor'], registers: [this.registry] });
  readonly pushFailed = new Counter({
    name: 'careline_push_failed_total', help: 'Push attempts that failed, by vendor and reason (the vendor\'s, or network)', labelNames: ['vendor', 'reason'], registers: [this.registry],
  });
  readonly pushRetried = new Counter({ name: 'careline_push_retried_total', help: 'Push attempts that will be retried, by vendor', labelNames: ['vendor'], registers: [this.registry] });
  readonly pushDropped = new Counter({
    name: 'careline_push_dropped_total', help: 'Push jobs dropped before sending, by reason (read, push_off, muted, deregistered, no_token, token_gone)', labelNames: ['reason'], registers: [this.registry],
  });
  readonly pushLatency = new Histogram({
    name: 'careline_push_request_duration_seconds', help: 'Duration of one request to a push vendor, by vendor', labelNames: ['vendor'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry],
  });
  readonly pushDelay = new Histogram({
    name: 'careline_push_delay_seconds', help: 'Time from a message\'s commit to its push being accepted by the vendor, by vendor', labelNames: ['vendor'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [this.registry],
  });
  readonly webhookEnqueued = new Counter({ name: 'careline_webhook_enqueued_total', help: 'Webhook deliveries enqueued (one per event and subscription), by event type', labelNames: ['type'], registers: [this.registry] });
  readonly webhookAttempts = new Counter({
    name: 'careline_webhook_attempts_total', help: 'Webhook delivery attempts, by outcome (ok, failed)', labelNames: ['outcome'], registers: [this.registry],
  });
  readonly webhookLatency = new Histogram({
    name: 'careline_webhook_request_duration_seconds', help: 'Duration of one webhook delivery attempt', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10], registers: [this.registry],
  });
  readonly webhookDisabled = new Counter({ name: 'careline_webhook_disabled_total', help: 'Webhook subscriptions disabled after persistent failure', registers: [this.registry] });

  /** The node's recent messages (`domain/recent.ts`), read at scrape time; set once the core is up. */
  recent: { hits: number; misses: number; bytes: number } | null = null;
  readonly historyPages: Counter = new Counter({
    name: 'careline_history_pages_total', help: 'History pages asked for while the recent-message copies are on, by where they were answered from (memory, storage)',
    labelNames: ['from'], registers: [this.registry],
    collect: () => {
      const m = this.historyPages;
      m.reset();
      m.inc({ from: 'memory' }, this.recent?.hits ?? 0);
      m.inc({ from: 'storage' }, this.recent?.misses ?? 0);
    },
  });
  readonly recentBytes: Gauge = new Gauge({
    name: 'careline_recent_messages_bytes', help: 'Bytes of messages the node keeps for history pages (an estimate; bounded by cache.recentMessagesMb)', registers: [this.registry],
    collect: (): void => this.recentBytes.set(this.recent?.bytes ?? 0),
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'careline_' });
  }
}
