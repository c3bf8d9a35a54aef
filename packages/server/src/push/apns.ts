/**
 * Apple Push Notification service over HTTP/2 with token auth: an ES256 JWT (header `kid` =
 * key id, claims `iss` = team id and `iat`) signed with the `.p8` key, reused for 50 minutes
 * (Apple refuses a token older than an hour and one refreshed more than every 20 minutes),
 * one HTTP/2 connection reused for every request. `POST /3/device/<token>` with `apns-topic`,
 * `apns-push-type: alert`, `apns-priority: 10`, `apns-collapse-id` (the message id) and
 * `apns-expiration`; the body is `aps` (alert title, badge, sound unless quiet,
 * `mutable-content`) and `careline` (ids).
 * Answers: 200 sent; 410 (Unregistered) and 400 BadDeviceToken / DeviceTokenNotForTopic: the
 * token is gone; 403 ExpiredProviderToken / InvalidProviderToken: a new JWT, then retry; 429
 * and 5xx: retry; anything else: failed.
 */
import http2 from 'node:http2';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { threadOf, type PushNotification, type PushSender, type SendOutcome } from './vendor.ts';

export interface ApnsOptions {
  /** https://api.push.apple.com (or the sandbox, or a gateway). */
  url: string;
  /** The `.p8` key (PEM text or a key object). */
  key: string | KeyObject;
  keyId: string;
  teamId: string;
  /** The app's bundle id. */
  topic: string;
  /** Certificate authorities to trust for `url` in place of the system's. */
  ca?: string | Buffer;
  /** How long one request may take (default 10 s). */
  timeoutMs?: number;
  /** How long the vendor keeps trying to deliver a push to an offline phone (default 7 days). */
  expirySeconds?: number;
  now?: () => number;
}

/** Apple's limit is an hour; refresh well before, and never more often than every 20 minutes. */
const JWT_REUSE_MS = 50 * 60_000;
const GONE_400 = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic']);
const NEW_JWT_403 = new Set(['ExpiredProviderToken', 'InvalidProviderToken']);

const b64url = (x: string | Buffer) => Buffer.from(x).toString('base64url');

/** The provider token: an ES256 JWT (the signature in JOSE's raw r‖s form). */
export function apnsJwt(key: KeyObject, keyId: string, teamId: string, nowMs: number): string {
  const input = `${b64url(JSON.stringify({ alg: 'ES256', kid: keyId }))}.${b64url(JSON.stringify({ iss: teamId, iat: Math.floor(nowMs / 1000) }))}`;
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

/** The JSON body APNs gets: nothing but ids, the generic title and the badge (and the alert body where the tenant turned previews on). */
export function apnsBody(n: PushNotification): Record<string, unknown> {
  const aps: Record<string, unknown> = {
    alert: n.body !== undefined ? { title: n.title, body: n.body } : { title: n.title }, badge: n.badge, 'mutable-content': 1, 'thread-id': threadOf(n),
  };
  if (n.quiet) aps['interruption-level'] = 'passive';
  else aps.sound = 'default';
  return { aps, careline: n.data };
}

/** A VoIP push's body (PushKit): no alert (the app reports the call to CallKit), the call's ids only. */
export function apnsVoipBody(n: PushNotification): Record<string, unknown> {
  return { aps: {}, careline: n.data };
}

export class ApnsSender implements PushSender {
  readonly vendor = 'apns' as const;
  readonly #o: ApnsOptions;
  readonly #key: KeyObject;
  readonly #now: () => number;
  #session: http2.ClientHttp2Session | null = null;
  #jwt: { token: string; at: number } | null = null;
  #closed = false;

  constructor(o: ApnsOptions) {
    this.#o = o;
    this.#key = typeof o.key === 'string' ? createPrivateKey(o.key) : o.key;
    if (this.#key.asymmetricKeyType !== 'ec') throw new Error('push.apns.keyFile: expected the .p8 EC (P-256) key from Apple');
    this.#now = o.now ?? Date.now;
  }

  #token(): string {
    const now = this.#now();
    if (!this.#jwt || now - this.#jwt.at >= JWT_REUSE_MS) this.#jwt = { token: apnsJwt(this.#key, this.#o.keyId, this.#o.teamId, now), at: now };
    return this.#jwt.token;
  }

  #connection(): http2.ClientHttp2Session {
    const s = this.#session;
    if (s && !s.closed && !s.destroyed) return s;
    const session = http2.connect(this.#o.url, this.#o.ca ? { ca: this.#o.ca } : {});
    // Errors surface on the requests; a connection that ends is replaced at the next send.
    session.on('error', () => {});
    const forget = () => {
      if (this.#session === session) this.#session = null;
    };
    session.on('close', forget);
    session.on('goaway', forget);
    session.unref();
    this.#session = session;
    return session;
  }

  send(token: string, n: PushNotification): Promise<SendOutcome> {
    if (this.#closed) return Promise.resolve({ kind: 'retry', reason: 'closing' });
    const body = JSON.stringify(n.voip ? apnsVoipBody(n) : apnsBody(n));
    const headers: http2.OutgoingHttpHeaders = n.voip ? {
      ':method': 'POST',
      ':path': `/3/device/${token}`,
      authorization: `bearer ${this.#token()}`,
      // VoIP pushes go to the app's VoIP topic, to the PushKit token, at once, and expire with the ring.
      'apns-topic': `${this.#o.topic}.voip`,
      'apns-push-type': 'voip',
      'apns-priority': '10',
      'apns-collapse-id': n.collapse_id,
      'apns-expiration': String(Math.floor(this.#now() / 1000) + n.voip.ttl_seconds),
      'content-type': 'application/json',
    } : {
      ':method': 'POST',
      ':path': `/3/device/${token}`,
      authorization: `bearer ${this.#token()}`,
      'apns-topic': this.#o.topic,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-collapse-id': n.collapse_id,
      'apns-expiration': String(Math.floor(this.#now() / 1000) + (this.#o.expirySeconds ?? 7 * 86_400)),
      'content-type': 'application/json',
    };
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      const done = (o: SendOutcome) => {
        if (settled) return;
        settled = true;
        resolve(o);
      };
      let req: http2.ClientHttp2Stream;
      try {
        req = this.#connection().request(headers);
      } catch (err) {
        this.#session = null;
        done({ kind: 'retry', reason: `network: ${(err as Error).message}` });
        return;
      }
      let status = 0;
      let apnsId: string | null = null;
      const chunks: Buffer[] = [];
      req.setTimeout(this.#o.timeoutMs ?? 10_000, () => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        done({ kind: 'retry', reason: 'timeout' });
      });
      req.on('response', (h) => {
        status = Number(h[':status']);
        const id = h['apns-id'];
        apnsId = typeof id === 'string' ? id : null;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', (err) => done({ kind: 'retry', reason: `network: ${err.message}` }));
      req.on('end', () => done(this.#outcome(status, apnsId, Buffer.concat(chunks).toString('utf8'))));
      req.end(body);
    });
  }

  #outcome(status: number, id: string | null, text: string): SendOutcome {
    if (status === 200) return { kind: 'sent', id };
    let reason = `http ${status}`;
    try {
      const r = (JSON.parse(text) as { reason?: unknown }).reason;
      if (typeof r === 'string') reason = r;
    } catch {
      // not JSON
    }
    if (status === 410 || (status === 400 && GONE_400.has(reason))) return { kind: 'gone', reason };
    if (status === 403 && NEW_JWT_403.has(reason)) {
      this.#jwt = null;
      return { kind: 'retry', reason };
    }
    if (status === 429 || status >= 500 || status === 0) return { kind: 'retry', reason };
    return { kind: 'failed', reason };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const s = this.#session;
    this.#session = null;
    if (s && !s.closed) await new Promise<void>((r) => s.close(() => r()));
  }
}
