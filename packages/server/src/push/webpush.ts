/**
 * Web Push for browsers (RFC 8030) through the `web-push` package: the payload encrypted for
 * the browser's subscription (RFC 8291, `Content-Encoding: aes128gcm`, with the subscription's
 * `p256dh` key and `auth` secret), the request signed with the server's VAPID key (RFC 8292,
 * `Authorization: vapid t=<ES256 JWT>, k=<public key>`; `aud` the push service's origin,
 * `sub` the configured contact). The token is the browser's `PushSubscription` as JSON. The
 * `Topic` header (a hash of the message id, 32 characters) lets the push service replace a
 * repeated push it still holds; `Urgency: high` (`normal` in quiet hours), `TTL` a week.
 * Answers: 201/200/202 sent; 404 and 410 (the subscription expired or was unsubscribed): gone;
 * 429 and 5xx, and network errors: retry; anything else (400, 401/403 a VAPID problem, 413):
 * failed.
 */
import https from 'node:https';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type webpushLib from 'web-push';
import { threadOf, type PushNotification, type PushSender, type SendOutcome } from './vendor.ts';

/** `web-push`, loaded when a node is configured for Web Push (its constructor), not by every node at start. */
let lib: typeof webpushLib | null = null;
const webpush = (): typeof webpushLib => (lib ??= createRequire(import.meta.url)('web-push') as typeof webpushLib);

export interface WebPushOptions {
  /** The VAPID key pair, base64url (public: the uncompressed P-256 point; private: the 32-byte scalar), as `web-push generate-vapid-keys` prints them. */
  publicKey: string;
  privateKey: string;
  /** A `mailto:` or `https:` contact for the push services (VAPID `sub`). */
  subject: string;
  /** Certificate authorities to trust for push services in place of the system's (a private push service). */
  ca?: string | Buffer;
  timeoutMs?: number;
  /** How long the push service keeps a push for an offline browser (default 7 days). */
  ttlSeconds?: number;
}

/** What the service worker gets (decrypted by the browser): the generic title, the badge, ids; `body` only when previews are on. */
export function webPushPayload(n: PushNotification): Record<string, unknown> {
  return { title: n.title, ...(n.body !== undefined ? { body: n.body } : {}), badge: n.badge, quiet: n.quiet, tag: threadOf(n), data: n.data };
}

/** The `Topic` header for a collapse id: 32 base64url characters (RFC 8030's limit). */
export const webPushTopic = (collapseId: string) => createHash('sha256').update(collapseId).digest('base64url').slice(0, 32);

interface Subscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export class WebPushSender implements PushSender {
  readonly vendor = 'webpush' as const;
  readonly #o: WebPushOptions;
  readonly #agent: https.Agent;

  constructor(o: WebPushOptions) {
    if (!o.publicKey || !o.privateKey || !o.subject) throw new Error('push.webpush: publicKey, privateKey and subject are all needed');
    if (!/^(mailto:|https:)/.test(o.subject)) throw new Error('push.webpush.subject: a mailto: or https: URL');
    // Throws when the keys are not a P-256 pair in base64url.
    webpush().getVapidHeaders('https://push.example', o.subject, o.publicKey, o.privateKey, 'aes128gcm');
    this.#o = o;
    this.#agent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(o.ca ? { ca: o.ca } : {}) });
  }

  get publicKey(): string {
    return this.#o.publicKey;
  }

  async send(token: string, n: PushNotification): Promise<SendOutcome> {
    let sub: Subscription;
    try {
      sub = JSON.parse(token) as Subscription;
    } catch {
      return { kind: 'gone', reason: 'malformed subscription' };
    }
    let req: webpushLib.RequestDetails;
    try {
      req = webpush().generateRequestDetails(sub, JSON.stringify(webPushPayload(n)), {
        vapidDetails: { subject: this.#o.subject, publicKey: this.#o.publicKey, privateKey: this.#o.privateKey },
        TTL: this.#o.ttlSeconds ?? 7 * 86_400,
        urgency: n.quiet ? 'normal' : 'high',
        topic: webPushTopic(n.collapse_id),
        contentEncoding: 'aes128gcm',
      });
    } catch (err) {
      // The subscription's keys are not usable (the registration checks only their form).
      return { kind: 'gone', reason: `subscription: ${(err as Error).message}` };
    }
    let r: { status: number; location: string | null };
    try {
      r = await this.#post(req);
    } catch (err) {
      return { kind: 'retry', reason: `network: ${(err as Error).message}` };
    }
    if (r.status >= 200 && r.status < 300) return { kind: 'sent', id: r.location };
    const reason = `http ${r.status}`;
    if (r.status === 404 || r.status === 410) return { kind: 'gone', reason };
    if (r.status === 429 || r.status >= 500) return { kind: 'retry', reason };
    return { kind: 'failed', reason };
  }

  #post(d: webpushLib.RequestDetails): Promise<{ status: number; location: string | null }> {
    return new Promise((resolve, reject) => {
      const body = d.body ?? Buffer.alloc(0);
      const headers: Record<string, string | number> = { ...(d.headers as Record<string, string>), 'content-length': body.length };
      const req = https.request(d.endpoint, { method: 'POST', agent: this.#agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: typeof res.headers.location === 'string' ? res.headers.location : null }));
        res.on('error', reject);
      });
      req.setTimeout(this.#o.timeoutMs ?? 10_000, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
