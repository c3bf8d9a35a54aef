/**
 * Webhook subscriptions (`docs/webhooks.md`): a tenant's integrator (API key or app token) or
 * one of its `admin` users subscribes a URL to event types; each event becomes one delivery
 * per subscription, a job of the outbox (`WEBHOOK_JOB`, sent by `webhooks/` on any node). Here:
 * the checks, the management calls, the delivery log and replay.
 */
import type { Principal, WebhookAttempt, WebhookPatch, WebhookSubscription } from './types.ts';
import type { Storage } from './ports.ts';
import { fail } from './errors.ts';
import { requireTenantAdmin } from './access.ts';
import { newId, randomToken } from './ids.ts';

/** The event types a subscription may name (or `*`: all). */
export const WEBHOOK_EVENT_TYPES = [
  'message.created',
  'conversation.created',
  'conversation.updated',
  'conversation.removed',
  'participants.changed',
  'topic.started',
  'topic.replied',
  'topic.ended',
  'notification.read',
  'user.offline_unread',
  'webhook.disabled',
] as const;
/** Accepted in subscriptions now, emitted once calls exist. */
export const RESERVED_EVENT_TYPES = ['call.invited', 'call.answered', 'call.ended'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const KNOWN: ReadonlySet<string> = new Set<string>([...WEBHOOK_EVENT_TYPES, ...RESERVED_EVENT_TYPES, '*']);

/** The job kind of one delivery. */
export const WEBHOOK_JOB = 'webhook.deliver';

/** A delivery job's payload: the event as sent (the body is fixed at the event; only the signature's time changes per attempt). */
export interface WebhookJob {
  subscription_id: string;
  event_id: string;
  event_type: string;
  /** The JSON body, exactly as POSTed. */
  body: string;
}

export interface CreateWebhook {
  url: string;
  events: string[];
  description?: string | null;
  secret?: string;
}

export interface WebhookDeps {
  storage: Pick<Storage, 'webhooks' | 'jobs'>;
  maxPerTenant: number;
  maxAttempts: number;
  now?: () => number;
}

/** A subscription as shown: without its secret (given once, at creation or rotation). */
export type PublicWebhook = Omit<WebhookSubscription, 'secret'>;

export const publicWebhook = ({ secret: _s, ...rest }: WebhookSubscription): PublicWebhook => rest;

export function checkWebhookUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw fail('webhook.url_invalid', undefined, { url });
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username !== '' || u.password !== '' || url.length > 2048 || u.hostname === '') {
    throw fail('webhook.url_invalid', undefined, { url });
  }
  return u.toString();
}

export function checkEventTypes(events: readonly string[]): string[] {
  const unknown = events.filter((e) => !KNOWN.has(e));
  if (unknown.length) throw fail('webhook.event_unknown', `Unknown event type(s): ${unknown.join(', ')}.`, { unknown, known: [...KNOWN] });
  if (events.length === 0) throw fail('webhook.event_unknown', 'Name at least one event type (or "*").', { known: [...KNOWN] });
  return [...new Set(events)].sort();
}

function checkSecret(secret: string): string {
  if (secret.length < 16 || secret.length > 256) throw fail('request.invalid', 'A webhook secret is 16 to 256 characters.');
  return secret;
}

/** Whether the subscription wants this event type. */
export const wants = (s: Pick<WebhookSubscription, 'events' | 'status'>, type: string): boolean =>
  s.status === 'active' && (s.events.includes(type) || s.events.includes('*'));

/** A subscription with a patch applied (both backends): enabling resets the failure streak; disabling by hand says "manual". */
export function applyPatch(cur: WebhookSubscription, patch: WebhookPatch, now: number): WebhookSubscription {
  const next: WebhookSubscription = {
    ...cur,
    ...(patch.url !== undefined ? { url: patch.url } : {}),
    ...(patch.events !== undefined ? { events: patch.events } : {}),
    ...(patch.description !== undefined ? { description: patch.description } : {}),
    ...(patch.secret !== undefined ? { secret: patch.secret } : {}),
    updated_at: now,
  };
  if (patch.status === 'active' && cur.status !== 'active') Object.assign(next, { status: 'active', disabled_reason: null, disabled_at: null, failures: 0 });
  if (patch.status === 'disabled' && cur.status !== 'disabled') Object.assign(next, { status: 'disabled', disabled_reason: 'manual', disabled_at: now });
  return next;
}

export class WebhookService {
  readonly #d: WebhookDeps;
  readonly #now: () => number;
  /** A tenant's subscriptions changed (drop cached lists). */
  onChanged: ((tenantId: string) => void) | null = null;
  /** Delivery jobs were enqueued here (look for work now). */
  onEnqueued: (() => void) | null = null;
  /** Refuses an internal target (`webhook.url_forbidden`; the SSRF filter, `webhooks/ssrf.ts`). */
  checkTarget: ((url: string) => Promise<void>) | null = null;

  constructor(deps: WebhookDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  async create(p: Principal, input: CreateWebhook): Promise<{ webhook: PublicWebhook; secret: string }> {
    requireTenantAdmin(p);
    const url = checkWebhookUrl(input.url);
    await this.checkTarget?.(url);
    const events = checkEventTypes(input.events);
    const secret = input.secret !== undefined ? checkSecret(input.secret) : `whsec_${randomToken(24)}`;
    const existing = await this.#d.storage.webhooks.list(p.tenantId);
    if (existing.length >= this.#d.maxPerTenant) throw fail('webhook.too_many', undefined, { max: this.#d.maxPerTenant });
    const now = this.#now();
    const sub: WebhookSubscription = {
      id: newId(), tenant_id: p.tenantId, url, events, description: input.description ?? null, secret, status: 'active',
      disabled_reason: null, disabled_at: null, failures: 0, created_at: now, updated_at: now,
    };
    await this.#d.storage.webhooks.create(sub);
    this.onChanged?.(p.tenantId);
    return { webhook: publicWebhook(sub), secret };
  }

  async list(p: Principal): Promise<PublicWebhook[]> {
    requireTenantAdmin(p);
    return (await this.#d.storage.webhooks.list(p.tenantId)).map(publicWebhook);
  }

  async get(p: Principal, id: string): Promise<PublicWebhook> {
    requireTenantAdmin(p);
    const s = await this.#d.storage.webhooks.get(p.tenantId, id);
    if (!s) throw fail('webhook.not_found', undefined, { id });
    return publicWebhook(s);
  }

  /** Changes a subscription; `rotate_secret` makes a new secret, returned once. */
  async update(
    p: Principal, id: string, input: { url?: string; events?: string[]; description?: string | null; status?: 'active' | 'disabled'; secret?: string; rotate_secret?: boolean },
  ): Promise<{ webhook: PublicWebhook; secret?: string }> {
    requireTenantAdmin(p);
    const patch: WebhookPatch = {};
    if (input.url !== undefined) {
      patch.url = checkWebhookUrl(input.url);
      await this.checkTarget?.(patch.url);
    }
    if (input.events !== undefined) patch.events = checkEventTypes(input.events);
    if (input.description !== undefined) patch.description = input.description;
    if (input.status !== undefined) patch.status = input.status;
    if (input.secret !== undefined) patch.secret = checkSecret(input.secret);
    else if (input.rotate_secret) patch.secret = `whsec_${randomToken(24)}`;
    const s = await this.#d.storage.webhooks.update(p.tenantId, id, patch, this.#now());
    if (!s) throw fail('webhook.not_found', undefined, { id });
    this.onChanged?.(p.tenantId);
    return { webhook: publicWebhook(s), ...(patch.secret !== undefined ? { secret: s.secret } : {}) };
  }

  async delete(p: Principal, id: string): Promise<void> {
    requireTenantAdmin(p);
    if (!(await this.#d.storage.webhooks.delete(p.tenantId, id))) throw fail('webhook.not_found', undefined, { id });
    this.onChanged?.(p.tenantId);
  }

  /** The subscription's delivery log: attempts, newest first. */
  async attempts(p: Principal, id: string, q: { before?: string; delivery_id?: string; limit: number }): Promise<WebhookAttempt[]> {
    await this.get(p, id);
    return this.#d.storage.webhooks.attempts(p.tenantId, id, q);
  }

  /** Sends a delivery again (whatever became of it) as a new delivery with the same event and body. */
  async replay(p: Principal, id: string, deliveryId: string): Promise<{ delivery_id: string }> {
    const sub = await this.get(p, id);
    if (sub.status !== 'active') throw fail('webhook.disabled', undefined, { id });
    const job = await this.#d.storage.jobs.get(deliveryId);
    const payload = job?.payload as WebhookJob | undefined;
    if (!job || job.tenant_id !== p.tenantId || job.kind !== WEBHOOK_JOB || payload?.subscription_id !== id) {
      throw fail('webhook.delivery_not_found', undefined, { id, delivery_id: deliveryId });
    }
    const [r] = await this.#d.storage.jobs.enqueue([{
      tenant_id: p.tenantId, kind: WEBHOOK_JOB, payload, dedupe_key: null, max_attempts: this.#d.maxAttempts,
    }], this.#now());
    this.onEnqueued?.();
    return { delivery_id: r!.id };
  }
}
