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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'careline_' });
  }
}
