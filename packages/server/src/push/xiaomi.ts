/**
 * Xiaomi MiPush (server API v3). Auth: `Authorization: key=<AppSecret>` on every request.
 * `POST /v3/message/regid`, form-encoded (`application/x-www-form-urlencoded;charset=UTF-8`):
 * `registration_id` (the regId), `restricted_package_name` (the app's package), `payload`
 * (the ids as JSON, handed to the app), `title`, `description` (a generic sentence unless
 * previews are on), `pass_through=0` (a notification bar message), `notify_type` (-1 sound,
 * vibration and light; 4 light only in quiet hours), `notify_id` (one per conversation: the
 * next push of the conversation replaces the shown one), `time_to_live` (ms),
 * `extra.notify_effect=1` (open the app), `extra.channel_id` when configured (Android 8+).
 * Answers (`{result, code, data, reason}`): code 0 sent — unless the regId is among
 * `data.bad_regids`, then gone; 20301 (invalid regId): gone; 21301 (authentication failed:
 * the AppSecret is wrong): failed; 10002, 10003, 10027, 10037 (service paused or busy, rate
 * limits) and 200001 (daily quota reached), HTTP 429 and 5xx: retry; anything else: failed.
 */
import type https from 'node:https';
import { createHash } from 'node:crypto';
import { threadOf, type PushNotification, type PushSender, type SendOutcome } from './vendor.ts';
import { httpsAgent, httpsRequest, parseJson, type HttpReply } from './https.ts';

export interface XiaomiOptions {
  appSecret: string;
  /** The app's package name (`restricted_package_name`). */
  packageName: string;
  /** https://api.xmpush.xiaomi.com (mainland China) or https://api.xmpush.global.xiaomi.com */
  url: string;
  body: string;
  /** The notification channel the app created (Android 8+), `extra.channel_id`; empty: none. */
  channelId?: string;
  ca?: string | Buffer;
  timeoutMs?: number;
  ttlSeconds?: number;
}

const GONE_CODES = new Set([20301]);
const RETRY_CODES = new Set([10002, 10003, 10027, 10037, 200001]);

/** A notify_id per conversation (a non-negative 31-bit integer). */
export const xiaomiNotifyId = (conversationId: string) => createHash('sha256').update(conversationId).digest().readUInt32BE(0) & 0x7fffffff;

/** The form MiPush gets: ids, the generic title and description. */
export function xiaomiForm(token: string, n: PushNotification, o: { packageName: string; body: string; channelId?: string; ttlSeconds?: number }): URLSearchParams {
  const f = new URLSearchParams({
    registration_id: token,
    restricted_package_name: o.packageName,
    payload: JSON.stringify(n.data),
    title: n.title,
    description: n.body ?? o.body,
    pass_through: '0',
    notify_type: n.quiet ? '4' : '-1',
    notify_id: String(xiaomiNotifyId(threadOf(n))),
    time_to_live: String((o.ttlSeconds ?? 7 * 86_400) * 1000),
    'extra.notify_effect': '1',
  });
  if (o.channelId) f.set('extra.channel_id', o.channelId);
  return f;
}

export class XiaomiSender implements PushSender {
  readonly vendor = 'xiaomi' as const;
  readonly #o: XiaomiOptions;
  readonly #agent: https.Agent;

  constructor(o: XiaomiOptions) {
    if (!o.appSecret || !o.packageName) throw new Error('push.xiaomi: appSecret and packageName are both needed');
    this.#o = o;
    this.#agent = httpsAgent(o.ca);
  }

  async send(token: string, n: PushNotification): Promise<SendOutcome> {
    let r: HttpReply;
    try {
      r = await httpsRequest(this.#agent, 'POST', `${this.#o.url.replace(/\/+$/, '')}/v3/message/regid`, {
        authorization: `key=${this.#o.appSecret}`, 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
      }, xiaomiForm(token, n, this.#o).toString(), this.#o.timeoutMs);
    } catch (err) {
      return { kind: 'retry', reason: `network: ${(err as Error).message}` };
    }
    if (r.status === 429 || r.status >= 500) return { kind: 'retry', reason: `http ${r.status}` };
    const j = parseJson<{ result?: unknown; code?: unknown; data?: { id?: unknown; bad_regids?: unknown } }>(r.text);
    const code = typeof j?.code === 'number' ? j.code : null;
    if (r.status === 200 && code === 0 && j?.result === 'ok') {
      const bad = typeof j.data?.bad_regids === 'string' ? j.data.bad_regids.split(',') : [];
      if (bad.includes(token)) return { kind: 'gone', reason: 'bad_regids' };
      return { kind: 'sent', id: typeof j.data?.id === 'string' ? j.data.id : null };
    }
    if (code !== null && GONE_CODES.has(code)) return { kind: 'gone', reason: String(code) };
    if (code !== null && RETRY_CODES.has(code)) return { kind: 'retry', reason: String(code) };
    return { kind: 'failed', reason: code !== null ? String(code) : `http ${r.status}` };
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
