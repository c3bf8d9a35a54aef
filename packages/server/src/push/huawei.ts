/**
 * Huawei Push Kit (HMS Core push, server API v1). Auth: OAuth2 client credentials — the app
 * id and app secret posted to the token endpoint (`grant_type=client_credentials`) for an
 * access token, cached until five minutes before it expires (`token-cache.ts`). Then
 * `POST /v1/<app id>/messages:send` with `Authorization: Bearer <token>` and
 * `{validate_only: false, message: {token: [<push token>], data: "<ids as JSON>", android:
 * {urgency, category: "IM", ttl, bi_tag: <message id>, notification: {title, body,
 * click_action: {type: 3}, tag: <conversation id>, default_sound, badge?}}}}`.
 * Answers (the `code` of the JSON body): 80000000 sent; 80100000 (partly sent) with the token
 * among `illegal_tokens`, and 80300007 (all tokens invalid): the token is gone;
 * 80200001 / 80200003 (OAuth authentication failed / token expired, HTTP 401): a new access
 * token, then retry; HTTP 429, 5xx (503 is Huawei's flow control) and 81000001 (internal
 * error): retry; anything else (80100001 parameter error, 80100003 bad message structure,
 * 80300008 message too large…): failed.
 */
import type https from 'node:https';
import { threadOf, type PushNotification, type PushSender, type SendOutcome } from './vendor.ts';
import { httpsAgent, httpsRequest, parseJson, type HttpReply } from './https.ts';
import { AccessTokenCache } from './token-cache.ts';

export interface HuaweiOptions {
  appId: string;
  appSecret: string;
  /** https://push-api.cloud.huawei.com */
  url: string;
  /** https://oauth-login.cloud.huawei.com/oauth2/v3/token */
  tokenUrl: string;
  /** The text under the title (Push Kit needs one): a generic sentence unless previews are on. */
  body: string;
  /** The app's launcher activity class, for the icon badge (`badge.class`); empty: no badge. */
  badgeClass?: string;
  ca?: string | Buffer;
  timeoutMs?: number;
  ttlSeconds?: number;
  now?: () => number;
}

export const HUAWEI_SENT = '80000000';
const PARTLY_SENT = '80100000';
const ALL_TOKENS_INVALID = '80300007';
const NEW_TOKEN = new Set(['80200001', '80200003']);
const INTERNAL_ERROR = '81000001';

/** The `messages:send` body: ids, the generic title and body, the badge. */
export function huaweiBody(token: string, n: PushNotification, o: { body: string; badgeClass?: string; ttlSeconds?: number }): Record<string, unknown> {
  const notification: Record<string, unknown> = {
    title: n.title, body: n.body ?? o.body, click_action: { type: 3 }, tag: threadOf(n), importance: n.quiet ? 'LOW' : 'NORMAL',
  };
  if (!n.quiet) notification.default_sound = true;
  if (o.badgeClass) notification.badge = { set_num: n.badge, class: o.badgeClass };
  return {
    validate_only: false,
    message: {
      token: [token],
      data: JSON.stringify(n.data),
      android: { urgency: 'HIGH', category: 'IM', ttl: `${o.ttlSeconds ?? 7 * 86_400}s`, bi_tag: n.collapse_id, notification },
    },
  };
}

export class HuaweiSender implements PushSender {
  readonly vendor = 'huawei' as const;
  readonly #o: HuaweiOptions;
  readonly #agent: https.Agent;
  readonly tokens: AccessTokenCache;

  constructor(o: HuaweiOptions) {
    if (!o.appId || !o.appSecret) throw new Error('push.huawei: appId and appSecret are both needed');
    this.#o = o;
    this.#agent = httpsAgent(o.ca);
    this.tokens = new AccessTokenCache(async () => {
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: o.appId, client_secret: o.appSecret }).toString();
      const r = await httpsRequest(this.#agent, 'POST', o.tokenUrl, { 'content-type': 'application/x-www-form-urlencoded' }, form, o.timeoutMs);
      const j = parseJson<{ access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown }>(r.text);
      if (r.status !== 200 || typeof j?.access_token !== 'string') throw new Error(`Huawei OAuth answered ${r.status} ${String(j?.error ?? '')} ${String(j?.error_description ?? '')}`.trim());
      return { token: j.access_token, expiresIn: typeof j.expires_in === 'number' ? j.expires_in : 3600 };
    }, o.now ? { now: o.now } : {});
  }

  async send(token: string, n: PushNotification): Promise<SendOutcome> {
    let access: string;
    try {
      access = await this.tokens.get();
    } catch (err) {
      return { kind: 'retry', reason: `oauth: ${(err as Error).message}` };
    }
    let r: HttpReply;
    try {
      r = await httpsRequest(this.#agent, 'POST', `${this.#o.url.replace(/\/+$/, '')}/v1/${encodeURIComponent(this.#o.appId)}/messages:send`,
        { authorization: `Bearer ${access}`, 'content-type': 'application/json;charset=utf-8' }, JSON.stringify(huaweiBody(token, n, this.#o)), this.#o.timeoutMs);
    } catch (err) {
      return { kind: 'retry', reason: `network: ${(err as Error).message}` };
    }
    const j = parseJson<{ code?: unknown; msg?: unknown; requestId?: unknown }>(r.text);
    const code = j && typeof j.code === 'string' ? j.code : null;
    if (code === HUAWEI_SENT && r.status === 200) return { kind: 'sent', id: typeof j?.requestId === 'string' ? j.requestId : null };
    if (code === PARTLY_SENT) {
      const detail = typeof j?.msg === 'string' ? parseJson<{ illegal_tokens?: unknown }>(j.msg) : null;
      const illegal = Array.isArray(detail?.illegal_tokens) ? detail.illegal_tokens : [];
      if (illegal.includes(token)) return { kind: 'gone', reason: code };
      return { kind: 'sent', id: typeof j?.requestId === 'string' ? j.requestId : null };
    }
    if (code === ALL_TOKENS_INVALID) return { kind: 'gone', reason: code };
    if ((code !== null && NEW_TOKEN.has(code)) || r.status === 401) {
      this.tokens.invalidate(access);
      return { kind: 'retry', reason: code ?? 'http 401' };
    }
    if (r.status === 429 || r.status >= 500 || code === INTERNAL_ERROR) return { kind: 'retry', reason: code ?? `http ${r.status}` };
    return { kind: 'failed', reason: code ?? `http ${r.status}` };
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
