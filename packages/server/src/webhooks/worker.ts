/**
 * Sends one webhook delivery (`webhook.deliver`, a job of the outbox), run by a `JobRunner`
 * on any node. It reads the subscription again (deleted: the delivery is dropped; disabled: it
 * is logged as not sent, for a replay later; a new URL or secret is used), POSTs the event's body signed for this attempt's time, and
 * records the attempt (status, latency, error) in the delivery log. A 2xx answer is done; any
 * other answer, no answer within `webhooks.timeoutMs`, or a refused connection is a failed
 * attempt: the handler throws and the runner retries with backoff and jitter, until the job's
 * last attempt (then it is dead, kept, and can be replayed). The failure that makes the
 * subscription's streak reach `webhooks.disableAfterFailures` disables it (`onDisabled`).
 * At-least-once: a node that dies mid-request leaves the job to run again, so receivers
 * de-duplicate by `Careline-Event-Id`.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { TargetFilter } from './ssrf.ts';
import type { Job, Storage } from '../domain/ports.ts';
import type { WebhookSubscription } from '../domain/types.ts';
import type { WebhookJob } from '../domain/webhooks.ts';
import { newId } from '../domain/ids.ts';
import { signatureHeader } from './sign.ts';

export interface WebhookWorkerOptions {
  storage: Pick<Storage, 'webhooks'>;
  timeoutMs: number;
  disableAfterFailures: number;
  /** A subscription was disabled by this attempt (once per disabling, cluster-wide). */
  onDisabled?: (sub: WebhookSubscription, at: number) => void;
  observer?: { attempt(ok: boolean, ms: number): void };
  /** The SSRF filter (`ssrf.ts`): internal targets refused unless allowed; null: none (not for production). */
  targets?: TargetFilter | null;
  now?: () => number;
}

/** A failed attempt the runner retries (the handler threw it). */
export class WebhookRetry extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'WebhookRetry';
  }
}

const USER_AGENT = 'Careline-Webhooks/1';

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 32 }), https: new https.Agent({ keepAlive: true, maxSockets: 32 }) };

/**
 * POSTs one delivery; resolves with the status (redirects are not followed: a 3xx is a
 * failure). The connection's address goes through the target filter: a name resolving to an
 * internal address, or an internal address in the URL, fails the attempt before any byte is sent.
 */
function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number, targets: TargetFilter | null): Promise<number> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (targets && isIP(host) !== 0 && !targets.allows(host, host)) {
    return Promise.reject(Object.assign(new Error(`refused: ${host} is an internal address (webhooks.allowedTargets)`), { code: 'EFORBIDDEN' }));
  }
  const secure = u.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(u, {
      method: 'POST', agent: secure ? agents.https : agents.http, headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      ...(targets ? { lookup: targets.lookup } : {}),
    }, (res) => {
      // The answer's body is not used: read (bounded by the same timeout) so the connection is reused.
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(body);
  });
}
const ERROR_MAX = 500;

export class WebhookWorker {
  readonly #o: WebhookWorkerOptions;
  readonly #now: () => number;

  constructor(o: WebhookWorkerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  readonly handle = async (job: Job): Promise<void> => {
    const j = job.payload as WebhookJob;
    const sub = await this.#o.storage.webhooks.get(job.tenant_id, j.subscription_id);
    if (!sub) return;
    const sentAt = this.#now();
    const base = { tenant_id: job.tenant_id, subscription_id: sub.id, delivery_id: job.id, event_id: j.event_id, event_type: j.event_type, attempt: job.attempts };
    if (sub.status !== 'active') {
      // Not sent, but logged: the integrator sees the delivery and can replay it once the subscription is enabled.
      await this.#o.storage.webhooks.recordAttempt({
        ...base, id: newId(), ok: false, status_code: null, latency_ms: 0, error: 'not sent: the subscription is disabled', at: sentAt,
      }, Number.MAX_SAFE_INTEGER);
      return;
    }
    const t = Math.floor(sentAt / 1000);
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const headers = {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'careline-signature': signatureHeader(sub.secret, t, j.body),
        'careline-event-id': j.event_id,
        'careline-event-type': j.event_type,
        'careline-delivery-id': job.id,
        'careline-delivery-attempt': String(job.attempts),
      };
      status = await post(sub.url, j.body, headers, this.#o.timeoutMs, this.#o.targets ?? null);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      error = e.name === 'TimeoutError' || e.name === 'AbortError' || e.message === 'timeout'
        ? `no answer within ${this.#o.timeoutMs} ms`
        : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : e.cause?.message ? ` (${e.cause.message})` : ''}`;
    }
    const latency = Math.round(performance.now() - started);
    const ok = status !== null && status >= 200 && status < 300;
    if (!ok && error === null) error = `HTTP ${status}`;
    if (error !== null && error.length > ERROR_MAX) error = error.slice(0, ERROR_MAX);
    this.#o.observer?.attempt(ok, latency);
    const { disabled } = await this.#o.storage.webhooks.recordAttempt({
      ...base, id: newId(), ok, status_code: status, latency_ms: latency, error, at: sentAt,
    }, this.#o.disableAfterFailures);
    if (disabled) this.#o.onDisabled?.(sub, sentAt);
    // A disabled subscription gets no more attempts (its deliveries can be replayed once it is enabled again).
    if (!ok && !disabled) throw new WebhookRetry(error!);
  };
}
