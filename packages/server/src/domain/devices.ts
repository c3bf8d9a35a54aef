/**
 * Devices and push preferences (seed 003): registration of an install's unique code with its
 * one push token, push on/off per device and per user, mutes per conversation, quiet hours,
 * de-registration. Every call acts for one user (a user token, or an API key with
 * X-On-Behalf-Of); a device of another user or tenant is `device.not_found`.
 */
import { checkPolicy, PHONE_RE, type EscalationPolicy, type PushDelivery } from './escalation.ts';
import type { MemberDirectory } from './directory.ts';
import type { Storage } from './ports.ts';
import type { Device, OsType, Principal, PushMute, PushSettings, PushVendor, QuietHours, TenantPushSettings, WechatTemplate } from './types.ts';
import { isConversationType } from '@careline/protocol';
import { requireAccess, requireApp, requireUser } from './access.ts';
import { fail } from './errors.ts';

export const OS_TYPES: readonly OsType[] = [1, 2, 3, 4, -1];
export const PUSH_VENDORS: readonly PushVendor[] = ['apns', 'fcm', 'huawei', 'xiaomi', 'webpush', 'none'];
export const DEVICE_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
/** Largest `device_info`, as JSON. */
export const MAX_DEVICE_INFO_BYTES = 4096;

/** What the SDK sends to register (seed 003: device info, unique code, OS type, vendor and token, user id). */
export interface RegisterDevice {
  device_id: string;
  os_type: number;
  vendor: string;
  push_token?: string | null;
  /** APNs only: the PushKit VoIP token (hex), for call invites; null clears it, absent keeps it. */
  voip_token?: string | null;
  device_info?: Record<string, unknown>;
  /** The user the SDK was initialised with; when given it must be the caller. */
  user_id?: string;
}

const TOKEN_RULES: Record<Exclude<PushVendor, 'none' | 'webpush'>, { re: RegExp; what: string }> = {
  apns: { re: /^(?:[0-9a-fA-F]{2}){32,100}$/, what: 'an APNs device token is 64 or more hex digits' },
  fcm: { re: /^[A-Za-z0-9_:-]{32,4096}$/, what: 'an FCM registration token is 32 to 4096 characters of letters, digits and _ : -' },
  huawei: { re: /^[A-Za-z0-9_:.-]{32,512}$/, what: 'a Huawei Push Kit token is 32 to 512 characters of letters, digits and _ : . -' },
  xiaomi: { re: /^[A-Za-z0-9+/=]{20,512}$/, what: 'a MiPush regId is 20 to 512 base64 characters' },
};
const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** The token as stored (APNs hex in lower case), or throws `device.token_invalid`. */
export function checkPushToken(vendor: PushVendor, token: string): string {
  if (vendor === 'none') throw fail('device.token_invalid', 'A device with vendor "none" has no push token.');
  if (vendor === 'webpush') {
    type Sub = { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
    const sub = parseJson(token) as Sub | null;
    const ok = sub !== null && typeof sub === 'object' && typeof sub.endpoint === 'string' && /^https:\/\/\S+$/.test(sub.endpoint)
      && typeof sub.keys?.p256dh === 'string' && B64URL.test(sub.keys.p256dh) && typeof sub.keys.auth === 'string' && B64URL.test(sub.keys.auth);
    if (!ok || token.length > 4096) throw fail('device.token_invalid', 'A Web Push token is the browser\'s PushSubscription as JSON: {"endpoint": "https://…", "keys": {"p256dh", "auth"}}.');
    return token;
  }
  const rule = TOKEN_RULES[vendor];
  if (!rule.re.test(token)) throw fail('device.token_invalid', `Malformed push token: ${rule.what}.`);
  return vendor === 'apns' ? token.toLowerCase() : token;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** Checks quiet hours; throws `push.quiet_hours_invalid`. */
export function checkQuietHours(q: QuietHours): QuietHours {
  if (!HHMM.test(q.start) || !HHMM.test(q.end) || q.start === q.end) {
    throw fail('push.quiet_hours_invalid', 'Quiet hours need start and end as different HH:MM times (24 h); they may wrap midnight.');
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: q.time_zone });
  } catch {
    throw fail('push.quiet_hours_invalid', `Unknown time zone: ${q.time_zone}`);
  }
  return { start: q.start, end: q.end, time_zone: q.time_zone };
}

/** Whether `at` (ms) falls in the quiet hours (start inclusive, end exclusive, in their time zone). */
export function inQuietHours(q: QuietHours | null, at: number): boolean {
  if (!q) return false;
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: q.time_zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const hh = parts.find((p) => p.type === 'hour')?.value ?? '00';
  const mm = parts.find((p) => p.type === 'minute')?.value ?? '00';
  const now = `${hh}:${mm}`;
  return q.start < q.end ? now >= q.start && now < q.end : now >= q.start || now < q.end;
}

/** The placeholders a WeChat template's data and url may use (nothing else: no names, no text unless previews are on). */
export const WECHAT_PLACEHOLDERS = ['title', 'body', 'time', 'badge', 'conversation_id', 'message_id'] as const;
export const OPENID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const TEMPLATE_KEY_RE = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

function checkPlaceholders(text: string, what: string): void {
  for (const m of text.matchAll(/\{([^{}]*)\}/g)) {
    if (!(WECHAT_PLACEHOLDERS as readonly string[]).includes(m[1]!)) {
      throw fail('push.settings_invalid', `${what}: unknown placeholder {${m[1]}}; use ${WECHAT_PLACEHOLDERS.map((x) => `{${x}}`).join(', ')}.`);
    }
  }
}

/** Checks a WeChat template; throws `push.settings_invalid`. */
export function checkWechatTemplate(t: WechatTemplate): WechatTemplate {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(t.template_id)) throw fail('push.settings_invalid', 'template_id: the template id from the WeChat Official Account console.');
  const keys = Object.keys(t.data);
  if (keys.length === 0 || keys.length > 20) throw fail('push.settings_invalid', 'data: 1 to 20 template keywords.');
  for (const k of keys) {
    if (!TEMPLATE_KEY_RE.test(k)) throw fail('push.settings_invalid', `data: "${k}" is not a template keyword (e.g. thing1, time2).`);
    const v = t.data[k]!;
    if (typeof v !== 'string' || v.length > 200) throw fail('push.settings_invalid', `data.${k}: a text of at most 200 characters.`);
    checkPlaceholders(v, `data.${k}`);
  }
  if (t.url !== null) {
    if (!/^https?:\/\/\S+$/.test(t.url) || t.url.length > 1024) throw fail('push.settings_invalid', 'url: an http(s) URL.');
    checkPlaceholders(t.url, 'url');
  }
  if (t.miniprogram !== null) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(t.miniprogram.appid) || t.miniprogram.pagepath.length > 1024) throw fail('push.settings_invalid', 'miniprogram: {appid, pagepath}.');
    checkPlaceholders(t.miniprogram.pagepath, 'miniprogram.pagepath');
  }
  return { template_id: t.template_id, url: t.url, miniprogram: t.miniprogram, data: { ...t.data } };
}

export interface DeviceServiceOptions {
  storage: Storage;
  directory: MemberDirectory;
  now?: () => number;
}

export class DeviceService {
  readonly #storage: Storage;
  readonly #directory: MemberDirectory;
  readonly #now: () => number;

  constructor(opts: DeviceServiceOptions) {
    this.#storage = opts.storage;
    this.#directory = opts.directory;
    this.#now = opts.now ?? Date.now;
  }

  /** Registers (or updates) the caller's install: one push token per unique code. */
  async register(p: Principal, input: RegisterDevice): Promise<{ device: Device; created: boolean }> {
    const userId = requireUser(p);
    if (input.user_id !== undefined && input.user_id !== userId) {
      throw fail('auth.forbidden', 'user_id names another user than the caller: a device registers for the signed-in user.');
    }
    if (!DEVICE_ID_RE.test(input.device_id)) throw fail('device.id_invalid');
    if (!OS_TYPES.includes(input.os_type as OsType)) throw fail('device.os_type_unknown', undefined, { os_type: input.os_type });
    if (!PUSH_VENDORS.includes(input.vendor as PushVendor)) throw fail('device.vendor_unknown', undefined, { vendor: input.vendor });
    const vendor = input.vendor as PushVendor;
    const token = input.push_token === undefined || input.push_token === null ? null : checkPushToken(vendor, input.push_token);
    const info = input.device_info ?? {};
    if (Buffer.byteLength(JSON.stringify(info)) > MAX_DEVICE_INFO_BYTES) {
      throw fail('request.invalid', `device_info is larger than ${MAX_DEVICE_INFO_BYTES} bytes as JSON.`);
    }
    let voip: string | null | undefined;
    if (input.voip_token !== undefined && input.voip_token !== null) {
      if (vendor !== 'apns' || !/^(?:[0-9a-fA-F]{2}){32,100}$/.test(input.voip_token)) throw fail('push.voip_token_invalid');
      voip = input.voip_token.toLowerCase();
    } else voip = input.voip_token;
    const r = await this.#storage.devices.register({
      tenant_id: p.tenantId, device_id: input.device_id, user_id: userId, os_type: input.os_type as OsType, vendor, push_token: token, device_info: info,
    }, this.#now());
    // A vendor other than APNs has no VoIP token: one left from an earlier registration goes.
    if (voip !== undefined || vendor !== 'apns') await this.#storage.devices.setVoipToken(p.tenantId, input.device_id, vendor === 'apns' ? voip ?? null : null, this.#now());
    return r;
  }

  /** Whether the caller's install has a VoIP token. */
  async hasVoipToken(p: Principal, deviceId: string): Promise<boolean> {
    return (await this.#storage.devices.getVoipToken(p.tenantId, deviceId)) !== null;
  }

  /** Sets (null: clears) a user's phone number (E.164) for the SMS rung of the escalation ladder. */
  async setPhone(p: Principal, userId: string, phone: string | null): Promise<{ user_id: string; phone: string | null }> {
    requireApp(p, 'sets a user\'s phone number');
    if (phone !== null && !PHONE_RE.test(phone)) throw fail('push.phone_invalid');
    if (!(await this.#storage.users.getUser(p.tenantId, userId))) throw fail('user.not_found', undefined, { user_id: userId });
    await this.#storage.devices.setPhone(p.tenantId, userId, phone, this.#now());
    return { user_id: userId, phone };
  }

  async phone(p: Principal, userId: string): Promise<{ user_id: string; phone: string | null }> {
    requireApp(p, 'reads a user\'s phone number');
    if (!(await this.#storage.users.getUser(p.tenantId, userId))) throw fail('user.not_found', undefined, { user_id: userId });
    return { user_id: userId, phone: await this.#storage.devices.getPhone(p.tenantId, userId) };
  }

  /** The escalation policy of the tenant (`userId` null) or of one user (null: none of their own). */
  async escalation(p: Principal, userId: string | null): Promise<{ user_id: string | null; policy: EscalationPolicy | null }> {
    requireApp(p, 'reads escalation policies');
    if (userId !== null && !(await this.#storage.users.getUser(p.tenantId, userId))) throw fail('user.not_found', undefined, { user_id: userId });
    return { user_id: userId, policy: await this.#storage.devices.getEscalation(p.tenantId, userId ?? '') };
  }

  /** Sets (null: removes) the tenant's policy or a user's own (which replaces the tenant's for them). */
  async setEscalation(p: Principal, userId: string | null, input: unknown): Promise<{ user_id: string | null; policy: EscalationPolicy | null }> {
    requireApp(p, 'sets escalation policies');
    if (userId !== null && !(await this.#storage.users.getUser(p.tenantId, userId))) throw fail('user.not_found', undefined, { user_id: userId });
    const policy = input === null ? null : checkPolicy(input);
    await this.#storage.devices.setEscalation(p.tenantId, userId ?? '', policy, this.#now());
    return { user_id: userId, policy };
  }

  /** Every channel's status of the pushes of a message, notification or call (by user, then channel). */
  async deliveries(p: Principal, subjectId: string): Promise<PushDelivery[]> {
    requireApp(p, 'reads push deliveries');
    return this.#storage.devices.deliveries(p.tenantId, subjectId);
  }

  async list(p: Principal): Promise<Device[]> {
    return this.#storage.devices.listForUser(p.tenantId, requireUser(p));
  }

  /** The caller's device, or `device.not_found` (another user's or tenant's code included). */
  async get(p: Principal, deviceId: string): Promise<Device> {
    const userId = requireUser(p);
    const d = DEVICE_ID_RE.test(deviceId) ? await this.#storage.devices.get(p.tenantId, deviceId) : null;
    if (!d || d.user_id !== userId) throw fail('device.not_found', undefined, { device_id: deviceId });
    return d;
  }

  async setPush(p: Principal, deviceId: string, enabled: boolean): Promise<Device> {
    await this.get(p, deviceId);
    const d = await this.#storage.devices.setPush(p.tenantId, deviceId, enabled, this.#now());
    if (!d) throw fail('device.not_found', undefined, { device_id: deviceId });
    return d;
  }

  /** De-registers the unique code: it keeps no token and never gets a push again. Repeating it changes nothing. */
  async deregister(p: Principal, deviceId: string): Promise<Device> {
    await this.get(p, deviceId);
    const d = await this.#storage.devices.deregister(p.tenantId, deviceId, this.#now());
    if (!d) throw fail('device.not_found', undefined, { device_id: deviceId });
    return d;
  }

  async settings(p: Principal): Promise<PushSettings> {
    return this.#storage.devices.getSettings(p.tenantId, requireUser(p));
  }

  async updateSettings(p: Principal, patch: { push_enabled?: boolean; quiet_hours?: QuietHours | null }): Promise<PushSettings> {
    const userId = requireUser(p);
    const clean: { push_enabled?: boolean; quiet_hours?: QuietHours | null } = {};
    if (patch.push_enabled !== undefined) clean.push_enabled = patch.push_enabled;
    if (patch.quiet_hours !== undefined) clean.quiet_hours = patch.quiet_hours === null ? null : checkQuietHours(patch.quiet_hours);
    return this.#storage.devices.updateSettings(p.tenantId, userId, clean, this.#now());
  }

  /** Mutes a conversation the caller is in, until `until` (ms, in the future) or until unmuted (null). */
  async mute(p: Principal, conversationId: string, until: number | null): Promise<PushMute> {
    const userId = requireUser(p);
    const now = this.#now();
    if (until !== null && (!Number.isSafeInteger(until) || until <= now)) throw fail('push.mute_invalid', undefined, { until });
    await requireAccess(this.#directory, p, conversationId);
    return this.#storage.devices.mute(p.tenantId, userId, conversationId, until, now);
  }

  async unmute(p: Principal, conversationId: string): Promise<boolean> {
    return this.#storage.devices.unmute(p.tenantId, requireUser(p), conversationId);
  }

  async mutes(p: Principal): Promise<PushMute[]> {
    return this.#storage.devices.mutes(p.tenantId, requireUser(p));
  }

  // ---- the integrator's side: a tenant's push choices, users' WeChat openids ----------------

  async tenantPush(p: Principal): Promise<TenantPushSettings> {
    requireApp(p, 'reads the tenant\'s push settings');
    return this.#storage.devices.getTenantPush(p.tenantId);
  }

  /** Changes the tenant's previews per conversation type and/or its WeChat channel (the fields given). */
  async updateTenantPush(p: Principal, patch: {
    preview_conversation_types?: number[];
    wechat?: { enabled: boolean; templates?: { message?: { template_id: string; url?: string | null; miniprogram?: { appid: string; pagepath: string } | null; data: Record<string, string> } } };
  }): Promise<TenantPushSettings> {
    requireApp(p, 'changes the tenant\'s push settings');
    const clean: { preview_conversation_types?: number[]; wechat?: TenantPushSettings['wechat'] } = {};
    if (patch.preview_conversation_types !== undefined) {
      const types = [...new Set(patch.preview_conversation_types)].sort((a, b) => a - b);
      const bad = types.find((t) => !isConversationType(t));
      if (bad !== undefined) throw fail('push.settings_invalid', `preview_conversation_types: ${bad} is not a conversation type (0–12).`);
      clean.preview_conversation_types = types;
    }
    if (patch.wechat !== undefined) {
      const m = patch.wechat.templates?.message;
      const message = m ? checkWechatTemplate({ template_id: m.template_id, url: m.url ?? null, miniprogram: m.miniprogram ?? null, data: m.data }) : undefined;
      if (patch.wechat.enabled && !message) throw fail('push.settings_invalid', 'wechat: enabling it needs templates.message.');
      clean.wechat = { enabled: patch.wechat.enabled, templates: message ? { message } : {} };
    }
    return this.#storage.devices.updateTenantPush(p.tenantId, clean, this.#now());
  }

  /** Sets (null: clears) a user's WeChat openid, for template messages; the user must exist in the tenant. */
  async setWechatOpenid(p: Principal, userId: string, openid: string | null): Promise<{ user_id: string; openid: string | null }> {
    requireApp(p, 'sets a user\'s WeChat openid');
    if (openid !== null && !OPENID_RE.test(openid)) throw fail('push.openid_invalid');
    if (!(await this.#storage.users.getUser(p.tenantId, userId))) throw fail('user.not_found', undefined, { user_id: userId });
    await this.#storage.devices.setWechatOpenid(p.tenantId, userId, openid, this.#now());
    return { user_id: userId, openid };
  }

  async wechatOpenid(p: Principal, userId: string): Promise<{ user_id: string; openid: string | null }> {
    requireApp(p, 'reads a user\'s WeChat openid');
    if (!(await this.#storage.users.getUser(p.tenantId, userId))) throw fail('user.not_found', undefined, { user_id: userId });
    return { user_id: userId, openid: await this.#storage.devices.getWechatOpenid(p.tenantId, userId) };
  }
}
