/**
 * WeChat template messages (seed 000: when a patient has no live connection, a template
 * message through the tenant's Official Account tells them). Auth: `GET /cgi-bin/token?
 * grant_type=client_credential&appid=…&secret=…` for an `access_token` (two hours), cached
 * until five minutes before it expires and fetched again at once when WeChat says it is
 * invalid or expired (errcode 40001, 40014, 42001) — then the send is tried again once.
 * `POST /cgi-bin/message/template/send?access_token=…` with `{touser: <openid>, template_id,
 * url | miniprogram, client_msg_id: <message id> (WeChat sends one message per openid and
 * client_msg_id), data: {<keyword>: {value}}}`; the values are the tenant's template texts
 * with the placeholders filled in (`{title}`, `{body}`, `{time}`…: generic unless previews are
 * on). Answers (errcode): 0 sent; 40003 (invalid openid): the openid is gone (cleared);
 * -1 (system busy), 45009 (quota reached) and HTTP 5xx: retry; anything else (40037 template
 * id, 43004 the user does not follow the account, 47003 data…): failed.
 *
 * `WechatWorker` is the `push.wechat` job handler, planned by `planner.ts` for a recipient
 * with no live connection whose tenant enabled the channel and who has an openid.
 */
import type https from 'node:https';
import type { Job, Storage } from '../domain/ports.ts';
import type { WechatTemplate } from '../domain/types.ts';
import type { MessageService } from '../domain/messages.ts';
import type { NotificationService } from '../domain/notifications.ts';
import type { SendOutcome } from './vendor.ts';
import { httpsAgent, httpsRequest, parseJson, type HttpReply } from './https.ts';
import { AccessTokenCache } from './token-cache.ts';
import { PushRetry, previewFor, type PushObserver } from './worker.ts';
import type { WechatJob } from './planner.ts';

export { WECHAT_JOB } from './planner.ts';

export interface WechatOptions {
  appId: string;
  appSecret: string;
  /** https://api.weixin.qq.com */
  url: string;
  ca?: string | Buffer;
  timeoutMs?: number;
  now?: () => number;
}

const TOKEN_INVALID = new Set([40001, 40014, 42001]);
const RETRY = new Set([-1, 45009]);
const GONE = new Set([40003]);

/** WeChat's length limits of template keyword types (by the keyword's name: thing1, phrase2…), in characters. */
const KEYWORD_LIMITS: [RegExp, number][] = [[/^thing/, 20], [/^phrase/, 5], [/^(character_string|number|letter)/, 32]];

/** The template's texts with the placeholders filled in, each value cut to its keyword type's limit. */
export function fillTemplate(t: WechatTemplate, values: Record<string, string>): { url: string | null; pagepath: string | null; data: Record<string, { value: string }> } {
  const fill = (s: string, enc: (v: string) => string = (v) => v) => s.replace(/\{([a-z_]+)\}/g, (m, k: string) => (values[k] === undefined ? m : enc(values[k])));
  const cut = (key: string, v: string) => {
    const limit = KEYWORD_LIMITS.find(([re]) => re.test(key))?.[1];
    const chars = [...v];
    return limit !== undefined && chars.length > limit ? `${chars.slice(0, limit - 1).join('')}…` : v;
  };
  return {
    url: t.url === null ? null : fill(t.url, encodeURIComponent),
    pagepath: t.miniprogram === null ? null : fill(t.miniprogram.pagepath, encodeURIComponent),
    data: Object.fromEntries(Object.entries(t.data).map(([k, v]) => [k, { value: cut(k, fill(v)) }])),
  };
}

export class WechatSender {
  readonly vendor = 'wechat' as const;
  readonly #o: WechatOptions;
  readonly #agent: https.Agent;
  readonly tokens: AccessTokenCache;

  constructor(o: WechatOptions) {
    if (!o.appId || !o.appSecret) throw new Error('push.wechat: appId and appSecret are both needed');
    this.#o = o;
    this.#agent = httpsAgent(o.ca);
    this.tokens = new AccessTokenCache(async () => {
      const q = new URLSearchParams({ grant_type: 'client_credential', appid: o.appId, secret: o.appSecret });
      const r = await httpsRequest(this.#agent, 'GET', `${this.#base}/cgi-bin/token?${q}`, {}, null, o.timeoutMs);
      const j = parseJson<{ access_token?: unknown; expires_in?: unknown; errcode?: unknown; errmsg?: unknown }>(r.text);
      if (r.status !== 200 || typeof j?.access_token !== 'string') throw new Error(`WeChat token: ${r.status} errcode ${String(j?.errcode ?? '-')} ${String(j?.errmsg ?? '')}`.trim());
      return { token: j.access_token, expiresIn: typeof j.expires_in === 'number' ? j.expires_in : 7200 };
    }, o.now ? { now: o.now } : {});
  }

  get #base(): string {
    return this.#o.url.replace(/\/+$/, '');
  }

  /** Sends one template message to `openid`. */
  async send(openid: string, template: WechatTemplate, values: Record<string, string>, clientMsgId: string): Promise<SendOutcome> {
    const filled = fillTemplate(template, values);
    const body: Record<string, unknown> = { touser: openid, template_id: template.template_id, client_msg_id: clientMsgId, data: filled.data };
    if (template.miniprogram) body.miniprogram = { appid: template.miniprogram.appid, pagepath: filled.pagepath };
    else if (filled.url) body.url = filled.url;
    const text = JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let access: string;
      try {
        access = await this.tokens.get();
      } catch (err) {
        return { kind: 'retry', reason: `token: ${(err as Error).message}` };
      }
      let r: HttpReply;
      try {
        r = await httpsRequest(this.#agent, 'POST', `${this.#base}/cgi-bin/message/template/send?access_token=${encodeURIComponent(access)}`,
          { 'content-type': 'application/json;charset=utf-8' }, text, this.#o.timeoutMs);
      } catch (err) {
        return { kind: 'retry', reason: `network: ${(err as Error).message}` };
      }
      if (r.status >= 500 || r.status === 429) return { kind: 'retry', reason: `http ${r.status}` };
      const j = parseJson<{ errcode?: unknown; msgid?: unknown }>(r.text);
      const code = typeof j?.errcode === 'number' ? j.errcode : null;
      if (code === 0) return { kind: 'sent', id: j?.msgid === undefined ? null : String(j.msgid) };
      if (code !== null && TOKEN_INVALID.has(code)) {
        this.tokens.invalidate(access);
        if (attempt === 0) continue;
        return { kind: 'retry', reason: String(code) };
      }
      if (code !== null && GONE.has(code)) return { kind: 'gone', reason: String(code) };
      if (code !== null && RETRY.has(code)) return { kind: 'retry', reason: String(code) };
      return { kind: 'failed', reason: code === null ? `http ${r.status}` : String(code) };
    }
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}

export interface WechatWorkerOptions {
  storage: Pick<Storage, 'devices' | 'conversations' | 'users' | 'messages'>;
  messages: Pick<MessageService, 'unreadTotal'>;
  notifications: Pick<NotificationService, 'unread'>;
  sender: WechatSender;
  title: string;
  /** The generic line ({body} unless previews are on). */
  body: string;
  /** The time zone of `{time}`. */
  timeZone: string;
  observer?: PushObserver;
  now?: () => number;
}

/** `{time}`: "YYYY-MM-DD HH:mm" in the configured time zone (WeChat's time keyword format). */
export function wechatTime(ms: number, timeZone: string): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(ms).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

export class WechatWorker {
  readonly #o: WechatWorkerOptions;
  readonly #now: () => number;

  constructor(o: WechatWorkerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** The `JobRunner` handler of `push.wechat`: the same drops as a device push (read, push off, muted), then the template message. */
  readonly handle = async (job: Job): Promise<void> => {
    await this.run(job);
  };

  /** Sends one template message; says what became of it (a retry throws `PushRetry`). */
  async run(job: Job): Promise<{ status: 'sent' | 'dropped' | 'failed'; detail: string | null }> {
    const j = job.payload as WechatJob;
    const t = job.tenant_id;
    const obs = this.#o.observer;
    const drop = (reason: string) => {
      obs?.dropped(reason);
      return { status: 'dropped' as const, detail: reason };
    };
    const s = this.#o.storage;
    const [tenantPush, openid, settings, mutes, participants, user] = await Promise.all([
      s.devices.getTenantPush(t), s.devices.getWechatOpenid(t, j.user_id), s.devices.getSettings(t, j.user_id), s.devices.mutes(t, j.user_id),
      s.conversations.getParticipants(t, j.conversation_id, [j.user_id]), s.users.getUser(t, j.user_id),
    ]);
    const template = tenantPush.wechat.templates.message;
    if (!tenantPush.wechat.enabled || !template) return drop('unconfigured');
    if (openid === null) return drop('no_token');
    if (!settings.push_enabled) return drop('push_off');
    const mute = mutes.find((m) => m.conversation_id === j.conversation_id);
    if (mute && (mute.until === null || mute.until > this.#now())) return drop('muted');
    const member = participants[0];
    if (!member || !user) return drop('left');
    if (member.read_seq >= j.seq) return drop('read');

    const principal = { kind: 'user' as const, tenantId: t, userId: j.user_id, role: user.role, sessionId: 'push' };
    const [unread, notes, preview] = await Promise.all([
      this.#o.messages.unreadTotal(principal), this.#o.notifications.unread(principal),
      previewFor(s, t, j.conversation_id, j.message_id, tenantPush.preview_conversation_types),
    ]);
    const values = {
      title: this.#o.title, body: preview ?? this.#o.body, time: wechatTime(j.created_at, this.#o.timeZone), badge: String(unread.count + notes.total),
      conversation_id: j.conversation_id, message_id: j.message_id,
    };
    const started = this.#now();
    let outcome: SendOutcome;
    try {
      outcome = await this.#o.sender.send(openid, template, values, j.message_id);
    } catch (err) {
      outcome = { kind: 'retry', reason: `error: ${(err as Error).message}` };
    }
    const ended = this.#now();
    switch (outcome.kind) {
      case 'sent':
        obs?.sent('wechat', ended - started, ended - j.created_at);
        return { status: 'sent', detail: outcome.id };
      case 'gone':
        obs?.failed('wechat', outcome.reason);
        if ((await s.devices.getWechatOpenid(t, j.user_id)) === openid) await s.devices.setWechatOpenid(t, j.user_id, null, ended);
        return drop('token_gone');
      case 'failed':
        obs?.failed('wechat', outcome.reason);
        return { status: 'failed', detail: outcome.reason };
      case 'retry':
        obs?.failed('wechat', outcome.reason);
        if (job.attempts < job.max_attempts) obs?.retried('wechat');
        throw new PushRetry('wechat', outcome.reason);
    }
  }
}
