/**
 * Firebase Cloud Messaging, HTTP v1. Auth: the service account's key signs an RS256 JWT
 * (`iss` the account's email, `scope` firebase.messaging, `aud` the token endpoint, an hour
 * long) that the token endpoint exchanges (OAuth2 JWT bearer grant) for an access token,
 * cached until five minutes before it expires and fetched once for concurrent sends. Then
 * `POST /v1/projects/<project>/messages:send` with `{message: {token, notification: {title},
 * data (ids, as strings), android: {collapse_key, priority, notification: {notification_count,
 * tag}}, apns: {headers: {apns-collapse-id}, payload: {aps: {badge}}}}}`. Connections kept alive.
 * Answers: 200 sent; `UNREGISTERED` (404, or 400 with that error code): the token is gone;
 * 401: a new access token, then retry; 429 and 5xx: retry; other: failed.
 */
import https from 'node:https';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { threadOf, type PushNotification, type PushSender, type SendOutcome } from './vendor.ts';

export interface ServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  token_uri?: string;
}

export interface FcmOptions {
  account: ServiceAccount;
  /** https://fcm.googleapis.com (or a gateway). */
  url: string;
  /** The OAuth2 token endpoint (default: the account's `token_uri`, else Google's). */
  tokenUrl?: string;
  /** The project to send in (default: the account's). */
  projectId?: string;
  ca?: string | Buffer;
  timeoutMs?: number;
  now?: () => number;
}

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const REFRESH_BEFORE_MS = 5 * 60_000;

const b64url = (x: string | Buffer) => Buffer.from(x).toString('base64url');

interface Reply {
  status: number;
  text: string;
}

export class FcmSender implements PushSender {
  readonly vendor = 'fcm' as const;
  readonly #o: FcmOptions;
  readonly #key: KeyObject;
  readonly #agent: https.Agent;
  readonly #now: () => number;
  readonly #tokenUrl: string;
  #access: { token: string; until: number } | null = null;
  #fetching: Promise<string> | null = null;

  constructor(o: FcmOptions) {
    this.#o = o;
    if (!o.account.client_email || !o.account.private_key || !(o.projectId || o.account.project_id)) {
      throw new Error('push.fcm.serviceAccountFile: expected a service account key (client_email, private_key, project_id)');
    }
    this.#key = createPrivateKey(o.account.private_key);
    this.#agent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(o.ca ? { ca: o.ca } : {}) });
    this.#now = o.now ?? Date.now;
    this.#tokenUrl = o.tokenUrl || o.account.token_uri || GOOGLE_TOKEN_URL;
  }

  /** The signed assertion the token endpoint exchanges. */
  assertion(): string {
    const iat = Math.floor(this.#now() / 1000);
    const claims = { iss: this.#o.account.client_email, scope: FCM_SCOPE, aud: this.#tokenUrl, iat, exp: iat + 3600 };
    const input = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), this.#key))}`;
  }

  async #accessToken(): Promise<string> {
    if (this.#access && this.#now() < this.#access.until - REFRESH_BEFORE_MS) return this.#access.token;
    this.#fetching ??= (async () => {
      try {
        const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: this.assertion() }).toString();
        const r = await this.#request(this.#tokenUrl, { 'content-type': 'application/x-www-form-urlencoded' }, body);
        const parsed = r.status === 200 ? (JSON.parse(r.text) as { access_token?: unknown; expires_in?: unknown }) : null;
        if (!parsed || typeof parsed.access_token !== 'string') throw new Error(`FCM token endpoint answered ${r.status}`);
        const ttl = typeof parsed.expires_in === 'number' ? parsed.expires_in : 3600;
        this.#access = { token: parsed.access_token, until: this.#now() + ttl * 1000 };
        return parsed.access_token;
      } finally {
        this.#fetching = null;
      }
    })();
    return this.#fetching;
  }

  #request(url: string, headers: Record<string, string>, body: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method: 'POST', agent: this.#agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.setTimeout(this.#o.timeoutMs ?? 10_000, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The `messages:send` body: ids, the generic title and the badge (and the body where the tenant turned previews on). */
  static body(token: string, n: PushNotification): Record<string, unknown> {
    // FCM data values are strings.
    const data = Object.fromEntries(Object.entries(n.data).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
    if (n.voip) {
      // A call invite: data only (the app shows its own incoming-call screen), high priority,
      // expiring with the ring time.
      return {
        message: {
          token, data,
          android: { collapse_key: n.collapse_id, priority: 'HIGH', ttl: `${n.voip.ttl_seconds}s` },
          apns: { headers: { 'apns-collapse-id': n.collapse_id, 'apns-priority': '10', 'apns-push-type': 'background' }, payload: { aps: { 'content-available': 1 } } },
        },
      };
    }
    const androidNote: Record<string, unknown> = { notification_count: n.badge, tag: threadOf(n) };
    if (!n.quiet) androidNote.default_sound = true;
    return {
      message: {
        token,
        notification: n.body !== undefined ? { title: n.title, body: n.body } : { title: n.title },
        data,
        android: { collapse_key: n.collapse_id, priority: 'HIGH', notification: androidNote },
        apns: { headers: { 'apns-collapse-id': n.collapse_id }, payload: { aps: { badge: n.badge } } },
      },
    };
  }

  async send(token: string, n: PushNotification): Promise<SendOutcome> {
    let access: string;
    try {
      access = await this.#accessToken();
    } catch (err) {
      return { kind: 'retry', reason: `oauth: ${(err as Error).message}` };
    }
    const project = this.#o.projectId || this.#o.account.project_id;
    let r: Reply;
    try {
      r = await this.#request(`${this.#o.url.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(project)}/messages:send`,
        { authorization: `Bearer ${access}`, 'content-type': 'application/json' }, JSON.stringify(FcmSender.body(token, n)));
    } catch (err) {
      return { kind: 'retry', reason: `network: ${(err as Error).message}` };
    }
    if (r.status === 200) {
      let id: string | null = null;
      try {
        id = (JSON.parse(r.text) as { name?: string }).name ?? null;
      } catch {
        // no name
      }
      return { kind: 'sent', id };
    }
    let reason = `http ${r.status}`;
    try {
      const e = (JSON.parse(r.text) as { error?: { status?: string; details?: { errorCode?: string }[] } }).error;
      reason = e?.details?.find((d) => typeof d.errorCode === 'string')?.errorCode ?? e?.status ?? reason;
    } catch {
      // not JSON
    }
    if (reason === 'UNREGISTERED') return { kind: 'gone', reason };
    if (r.status === 401) {
      this.#access = null;
      return { kind: 'retry', reason: 'UNAUTHENTICATED' };
    }
    if (r.status === 429 || r.status >= 500) return { kind: 'retry', reason };
    return { kind: 'failed', reason };
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
