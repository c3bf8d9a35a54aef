/**
 * Webhooks on one node (`docs/webhooks.md`): the planner turns committed facts into delivery
 * jobs — one per event and subscription that wants it, with the dedupe key `<subscription>:<event
 * key>` — and a `JobRunner` sends the cluster's delivery jobs (`webhooks.workers` at a time; any
 * node may send any job).
 *
 * Messages (and the topic events they carry) come from the after-commit outbox
 * (`after-commit.ts`): a job written in the append's own transaction, so no committed message
 * misses its deliveries. The other events are taken after their commit on the node where they
 * happen: conversation and participant changes (the after-commit hook's local events: what
 * this node's domain publishes, each event published by exactly one node), notifications read (`NotificationService.onRead`), a user gone offline with unread
 * messages or notifications (`presence.changed`, published once cluster-wide), and a
 * subscription disabled after persistent failure (`webhook.disabled`).
 */
import type { Logger } from 'pino';
import type { Core } from '../core.ts';
import type { DomainEvent } from '../domain/events.ts';
import type { NewJob } from '../domain/ports.ts';
import type { WebhookSubscription } from '../domain/types.ts';
import { JobRunner } from '../domain/jobs.ts';
import { WEBHOOK_JOB, wants, type WebhookEventType, type WebhookJob } from '../domain/webhooks.ts';
import type { Metrics } from '../ops/metrics.ts';
import { eventBody, eventsOf, webhookEvent, type WebhookEvent } from './events.ts';
import { WebhookWorker } from './worker.ts';
import type { AfterCommit } from './after-commit.ts';
import { TargetFilter } from './ssrf.ts';

export interface Webhooks {
  /** Null when `webhooks.workers` is 0. */
  runner: JobRunner | null;
  /** Events handed over and not yet enqueued, then their enqueues: resolves when all are done. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Backoff for a delivery's retries: doubling from `base`, at most `max`, with jitter (half to all of it). */
export function webhookBackoff(base: number, max: number, random: () => number = Math.random): (attempts: number) => number {
  return (attempts) => {
    const d = Math.min(max, base * 2 ** Math.max(0, attempts - 1));
    return Math.round(d / 2 + random() * (d / 2));
  };
}

/** Most events being turned into jobs at once; the rest wait in order. */
const PARALLEL = 8;
/** Most events waiting; past it an event is dropped (and logged): the node is far behind its database. */
const MAX_WAITING = 100_000;

export function startWebhooks(core: Core, metrics: Metrics, log: Logger, afterCommit: AfterCommit): Webhooks {
  const c = core.config.webhooks;
  const storage = core.storage;
  let runner: JobRunner | null = null;

  // Each tenant's subscriptions, read at most every `webhooks.cacheMs` (changes made on this node drop it at once).
  const cache = new Map<string, { at: number; subs: Promise<WebhookSubscription[]>; none: boolean }>();
  const subscriptions = (tenantId: string): Promise<WebhookSubscription[]> => {
    const now = Date.now();
    const hit = cache.get(tenantId);
    if (hit && now - hit.at < c.cacheMs) return hit.subs;
    const entry = { at: now, subs: storage.webhooks.list(tenantId).then((l) => l.filter((s) => s.status === 'active')), none: false };
    entry.subs.then((l) => {
      entry.none = l.length === 0;
    }, () => cache.delete(tenantId));
    if (cache.size > 10_000) cache.clear();
    cache.set(tenantId, entry);
    return entry.subs;
  };
  /** Known (fresh in the cache) to have no active subscription: the common case costs nothing more. */
  const surelyNone = (tenantId: string): boolean => {
    const hit = cache.get(tenantId);
    return hit !== undefined && hit.none && Date.now() - hit.at < c.cacheMs;
  };
  core.webhooks.onChanged = (tenantId) => cache.delete(tenantId);
  // SSRF: internal targets are refused when subscribing and on every attempt, unless allowed.
  const targets = new TargetFilter(c.allowedTargets);
  core.webhooks.checkTarget = (url) => targets.check(url);

  const enqueue = async (tenantId: string, subs: readonly WebhookSubscription[], events: readonly WebhookEvent[]) => {
    const jobs: NewJob[] = [];
    for (const e of events) {
      const body = eventBody(e);
      for (const s of subs) {
        if (!wants(s, e.type)) continue;
        const payload: WebhookJob = { subscription_id: s.id, event_id: e.id, event_type: e.type, body };
        jobs.push({ tenant_id: tenantId, kind: WEBHOOK_JOB, payload, dedupe_key: `${s.id}:${e.key}`, max_attempts: c.maxAttempts });
      }
    }
    if (!jobs.length) return;
    const r = await storage.jobs.enqueue(jobs, Date.now());
    for (let i = 0; i < jobs.length; i++) if (r[i]!.created) metrics.webhookEnqueued.inc({ type: (jobs[i]!.payload as WebhookJob).event_type });
    runner?.poke();
  };

  // Work in arrival order, PARALLEL at a time.
  const waiting: (() => Promise<void>)[] = [];
  let active = 0;
  let idle: (() => void)[] = [];
  const pump = () => {
    while (active < PARALLEL && waiting.length) {
      const task = waiting.shift()!;
      active++;
      task().catch((err) => log.error({ err }, 'webhooks: could not enqueue the deliveries of an event')).finally(() => {
        active--;
        pump();
      });
    }
    if (active === 0 && !waiting.length) {
      const done = idle;
      idle = [];
      for (const r of done) r();
    }
  };
  let dropped = 0;
  const submit = (task: () => Promise<void>) => {
    if (waiting.length >= MAX_WAITING) {
      if (dropped++ % 1000 === 0) log.error({ dropped }, 'webhooks: too many events waiting to be enqueued; events dropped');
      return;
    }
    waiting.push(task);
    pump();
  };

  /** One tenant's event(s): nothing is read unless the tenant has a subscription. */
  const consider = (tenantId: string, make: (want: (t: WebhookEventType) => boolean) => Promise<WebhookEvent[]>) => {
    if (surelyNone(tenantId)) return;
    submit(async () => {
      const subs = await subscriptions(tenantId);
      if (!subs.length) return;
      const want = (t: WebhookEventType) => subs.some((s) => wants(s, t));
      const events = await make(want);
      if (events.length) await enqueue(tenantId, subs, events);
    });
  };

  // Messages: from the after-commit outbox (a job written in the append's transaction), awaited,
  // so a failure runs the outbox job again (the dedupe keys keep deliveries single).
  afterCommit.add({
    name: 'webhooks',
    wants: (tenantId) => !surelyNone(tenantId),
    messages: async (tenantId, messages, recipients) => {
      if (surelyNone(tenantId)) return;
      const subs = await subscriptions(tenantId);
      if (!subs.length) return;
      const want = (t: WebhookEventType) => subs.some((s) => wants(s, t));
      const now = Date.now();
      const events = (await Promise.all(messages.map((message) =>
        eventsOf({ kind: 'message.created', tenant_id: tenantId, message, recipients }, want, storage, now)))).flat();
      if (events.length) await enqueue(tenantId, subs, events);
    },
  });

  const onEvent = (e: DomainEvent) => {
    if (e.kind === 'conversation.changed') {
      consider(e.tenant_id, (want) => eventsOf(e, want, storage, Date.now()));
    } else if (e.kind === 'presence.changed' && !e.online) {
      consider(e.tenant_id, async (want) => {
        if (!want('user.offline_unread')) return [];
        const user = await storage.users.getUser(e.tenant_id, e.user_id);
        if (!user) return [];
        const p = { kind: 'user' as const, tenantId: e.tenant_id, userId: user.id, role: user.role, sessionId: 'webhooks' };
        const [messages, notes] = await Promise.all([core.messages.unreadTotal(p), core.notifications.unread(p)]);
        const notifications = notes.total;
        if (messages.count === 0 && notifications === 0) return [];
        return [webhookEvent('user.offline_unread', e.tenant_id, {
          user_id: e.user_id, last_seen: e.last_seen, unread_messages: messages.count, unread_sessions: messages.sessions, unread_notifications: notes,
        }, `user.offline_unread:${e.user_id}:${e.last_seen ?? Date.now()}`, Date.now())];
      });
    }
  };

  // This node's own other events, as the domain publishes them (after commit).
  afterCommit.add({ name: 'webhooks-events', event: onEvent });
  core.notifications.onRead = (tenantId, userId, sel, marked, unread) =>
    consider(tenantId, async (want) => want('notification.read')
      ? [webhookEvent('notification.read', tenantId, { user_id: userId, marked, selection: sel, unread }, null, Date.now())]
      : []);
  core.webhooks.onEnqueued = () => runner?.poke();

  if (c.workers > 0) {
    const worker = new WebhookWorker({
      storage, timeoutMs: c.timeoutMs, disableAfterFailures: c.disableAfterFailures, targets,
      observer: {
        attempt: (ok, ms) => {
          metrics.webhookAttempts.inc({ outcome: ok ? 'ok' : 'failed' });
          metrics.webhookLatency.observe(ms / 1000);
        },
      },
      onDisabled: (sub, at) => {
        metrics.webhookDisabled.inc();
        cache.delete(sub.tenant_id);
        log.warn({ tenant: sub.tenant_id, webhook: sub.id, url: sub.url, failures: c.disableAfterFailures }, 'webhooks: subscription disabled after persistent failure');
        consider(sub.tenant_id, async (want) => want('webhook.disabled')
          ? [webhookEvent('webhook.disabled', sub.tenant_id, {
            subscription_id: sub.id, url: sub.url, reason: 'failing', failures: c.disableAfterFailures, disabled_at: at,
          }, `webhook.disabled:${sub.id}:${at}`, Date.now())]
          : []);
      },
    });
    runner = new JobRunner({
      jobs: storage.jobs, worker: `${core.nodeId}:${process.pid}:webhooks`, concurrency: c.workers, pollMs: c.pollMs,
      // A delivery's request may take the whole timeout: the lease outlasts it.
      leaseMs: Math.max(60_000, c.timeoutMs * 3),
      backoff: webhookBackoff(c.retryBaseMs, c.retryMaxMs),
      onError: (err, job) => {
        if (job) log.warn({ err: (err as Error).message, job: job.id, attempt: job.attempts }, 'webhooks: delivery attempt failed');
        else log.error({ err }, 'webhooks: the job queue failed');
      },
    }).register(WEBHOOK_JOB, worker.handle);
    runner.start();
  }

  const drain = () => new Promise<void>((resolve) => {
    if (active === 0 && !waiting.length) resolve();
    else idle.push(resolve);
  });
  return {
    runner,
    drain,
    async close() {
      core.notifications.onRead = null;
      core.webhooks.onChanged = null;
      core.webhooks.checkTarget = null;
      core.webhooks.onEnqueued = null;
      await drain();
      await runner?.close();
    },
  };
}
