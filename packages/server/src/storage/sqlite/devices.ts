/**
 * Devices and push preferences in SQLite (migration 014; WeChat openids and a tenant's push
 * choices, migration 017). A registration is one transaction:
 * it refuses a de-registered code, clears the same vendor token from any other code of the
 * tenant (a reinstall that kept its token), then upserts the code's row.
 */
import type { EscalationPolicy, PushDelivery } from '../../domain/escalation.ts';
import type { DeviceStore } from '../../domain/ports.ts';
import type { Device, DeviceRegistration, OsType, PushMute, PushSettings, PushVendor, QuietHours, TenantPushSettings } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import type { Db } from './db.ts';

interface DeviceRow {
  device_id: string; user_id: string; os_type: number; vendor: string; push_token: string | null; device_info: string;
  push_enabled: number; deregistered_at: number | null; created_at: number; updated_at: number;
}
type SettingsRow = { push_enabled: number; quiet_hours: string | null; updated_at: number };
type MuteRow = { conversation_id: string; until: number | null; created_at: number };

const COLS = 'device_id, user_id, os_type, vendor, push_token, device_info, push_enabled, deregistered_at, created_at, updated_at';

const toDevice = (r: DeviceRow): Device => ({
  device_id: r.device_id, user_id: r.user_id, os_type: r.os_type as OsType, vendor: r.vendor as PushVendor, push_token: r.push_token,
  device_info: JSON.parse(r.device_info) as Record<string, unknown>, push_enabled: r.push_enabled === 1,
  deregistered_at: r.deregistered_at, created_at: r.created_at, updated_at: r.updated_at,
});
const toSettings = (r: SettingsRow): PushSettings => ({
  push_enabled: r.push_enabled === 1, quiet_hours: r.quiet_hours === null ? null : JSON.parse(r.quiet_hours) as QuietHours, updated_at: r.updated_at,
});
export const DEFAULT_PUSH_SETTINGS: PushSettings = { push_enabled: true, quiet_hours: null, updated_at: null };
type TenantPushRow = { preview_conversation_types: string; wechat: string; updated_at: number };
const toTenantPush = (r: TenantPushRow): TenantPushSettings => ({
  preview_conversation_types: JSON.parse(r.preview_conversation_types) as number[], wechat: JSON.parse(r.wechat) as TenantPushSettings['wechat'], updated_at: r.updated_at,
});
export const defaultTenantPush = (): TenantPushSettings => ({ preview_conversation_types: [], wechat: { enabled: false, templates: {} }, updated_at: null });

export class SqliteDeviceStore implements DeviceStore {
  readonly #get;
  readonly #list;
  readonly #register: (d: DeviceRegistration, now: number) => { device: Device; created: boolean };
  readonly #setPush;
  readonly #deregister;
  readonly #dropToken;
  readonly #settings;
  readonly #updateSettings: (tenantId: string, userId: string, patch: { push_enabled?: boolean; quiet_hours?: QuietHours | null }, now: number) => PushSettings;
  readonly #mute;
  readonly #getMute;
  readonly #unmute;
  readonly #mutes;
  readonly #setOpenid: (tenantId: string, userId: string, openid: string | null, now: number) => void;
  readonly #getOpenid;
  readonly #tenantPush;
  readonly #updateTenantPush: (tenantId: string, patch: { preview_conversation_types?: number[]; wechat?: TenantPushSettings['wechat'] }, now: number) => TenantPushSettings;

  constructor(db: Db) {
    this.#db2 = db;
    const get = (this.#get = db.prepare(`SELECT ${COLS} FROM devices WHERE tenant_id = ? AND device_id = ?`));
    this.#list = db.prepare(`SELECT ${COLS} FROM devices WHERE tenant_id = ? AND user_id = ? ORDER BY device_id`);
    const clearToken = db.prepare('UPDATE devices SET push_token = NULL, updated_at = ? WHERE tenant_id = ? AND vendor = ? AND push_token = ? AND device_id <> ?');
    const insert = db.prepare(
      `INSERT INTO devices (tenant_id, ${COLS}) VALUES (@tenant_id, @device_id, @user_id, @os_type, @vendor, @push_token, @device_info, 1, NULL, @now, @now)`,
    );
    const update = db.prepare(
      `UPDATE devices SET user_id = @user_id, os_type = @os_type, vendor = @vendor, push_token = @push_token, device_info = @device_info,
         push_enabled = CASE WHEN user_id = @user_id THEN push_enabled ELSE 1 END, updated_at = @now
       WHERE tenant_id = @tenant_id AND device_id = @device_id`,
    );
    this.#register = db.transaction((d: DeviceRegistration, now: number) => {
      const cur = get.get(d.tenant_id, d.device_id) as DeviceRow | undefined;
      if (cur && cur.deregistered_at !== null) throw fail('device.deregistered', undefined, { device_id: d.device_id });
      if (d.push_token !== null) clearToken.run(now, d.tenant_id, d.vendor, d.push_token, d.device_id);
      const row = { ...d, device_info: JSON.stringify(d.device_info), now };
      (cur ? update : insert).run(row);
      return { device: toDevice(get.get(d.tenant_id, d.device_id) as DeviceRow), created: !cur };
    });
    this.#setPush = db.prepare(`UPDATE devices SET push_enabled = ?, updated_at = ? WHERE tenant_id = ? AND device_id = ? RETURNING ${COLS}`);
    this.#deregister = db.prepare(
      `UPDATE devices SET push_token = NULL, deregistered_at = COALESCE(deregistered_at, @now), updated_at = @now
       WHERE tenant_id = @tenant_id AND device_id = @device_id RETURNING ${COLS}`,
    );
    this.#dropToken = db.prepare('UPDATE devices SET push_token = NULL, updated_at = ? WHERE tenant_id = ? AND device_id = ? AND push_token = ?');
    const settings = (this.#settings = db.prepare('SELECT push_enabled, quiet_hours, updated_at FROM push_settings WHERE tenant_id = ? AND user_id = ?'));
    const upsertSettings = db.prepare(
      `INSERT INTO push_settings (tenant_id, user_id, push_enabled, quiet_hours, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET push_enabled = excluded.push_enabled, quiet_hours = excluded.quiet_hours, updated_at = excluded.updated_at`,
    );
    this.#updateSettings = db.transaction((tenantId: string, userId: string, patch: { push_enabled?: boolean; quiet_hours?: QuietHours | null }, now: number) => {
      const row = settings.get(tenantId, userId) as SettingsRow | undefined;
      const cur = row ? toSettings(row) : DEFAULT_PUSH_SETTINGS;
      const next: PushSettings = {
        push_enabled: patch.push_enabled ?? cur.push_enabled,
        quiet_hours: patch.quiet_hours === undefined ? cur.quiet_hours : patch.quiet_hours,
        updated_at: now,
      };
      upsertSettings.run(tenantId, userId, next.push_enabled ? 1 : 0, next.quiet_hours === null ? null : JSON.stringify(next.quiet_hours), now);
      return next;
    });
    this.#mute = db.prepare(
      `INSERT INTO push_mutes (tenant_id, user_id, conversation_id, until, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET until = excluded.until`,
    );
    this.#getMute = db.prepare('SELECT conversation_id, until, created_at FROM push_mutes WHERE tenant_id = ? AND user_id = ? AND conversation_id = ?');
    this.#unmute = db.prepare('DELETE FROM push_mutes WHERE tenant_id = ? AND user_id = ? AND conversation_id = ?');
    this.#mutes = db.prepare('SELECT conversation_id, until, created_at FROM push_mutes WHERE tenant_id = ? AND user_id = ? ORDER BY conversation_id');
    const clearOpenid = db.prepare('DELETE FROM push_wechat_users WHERE tenant_id = ? AND (user_id = ? OR openid = ?)');
    const insertOpenid = db.prepare('INSERT INTO push_wechat_users (tenant_id, user_id, openid, updated_at) VALUES (?, ?, ?, ?)');
    this.#setOpenid = db.transaction((tenantId: string, userId: string, openid: string | null, now: number) => {
      clearOpenid.run(tenantId, userId, openid);
      if (openid !== null) insertOpenid.run(tenantId, userId, openid, now);
    });
    this.#getOpenid = db.prepare('SELECT openid FROM push_wechat_users WHERE tenant_id = ? AND user_id = ?');
    const tenantPush = (this.#tenantPush = db.prepare('SELECT preview_conversation_types, wechat, updated_at FROM push_tenant_settings WHERE tenant_id = ?'));
    const upsertTenantPush = db.prepare(
      `INSERT INTO push_tenant_settings (tenant_id, preview_conversation_types, wechat, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET preview_conversation_types = excluded.preview_conversation_types, wechat = excluded.wechat, updated_at = excluded.updated_at`,
    );
    this.#updateTenantPush = db.transaction((tenantId: string, patch: { preview_conversation_types?: number[]; wechat?: TenantPushSettings['wechat'] }, now: number) => {
      const row = tenantPush.get(tenantId) as TenantPushRow | undefined;
      const cur = row ? toTenantPush(row) : defaultTenantPush();
      const next: TenantPushSettings = {
        preview_conversation_types: patch.preview_conversation_types ?? cur.preview_conversation_types, wechat: patch.wechat ?? cur.wechat, updated_at: now,
      };
      upsertTenantPush.run(tenantId, JSON.stringify(next.preview_conversation_types), JSON.stringify(next.wechat), now);
      return next;
    });
  }

  async register(d: DeviceRegistration, now: number): Promise<{ device: Device; created: boolean }> {
    return this.#register(d, now);
  }

  async get(tenantId: string, deviceId: string): Promise<Device | null> {
    const r = this.#get.get(tenantId, deviceId) as DeviceRow | undefined;
    return r ? toDevice(r) : null;
  }

  async listForUser(tenantId: string, userId: string): Promise<Device[]> {
    return (this.#list.all(tenantId, userId) as DeviceRow[]).map(toDevice);
  }

  async setPush(tenantId: string, deviceId: string, enabled: boolean, now: number): Promise<Device | null> {
    const r = this.#setPush.get(enabled ? 1 : 0, now, tenantId, deviceId) as DeviceRow | undefined;
    return r ? toDevice(r) : null;
  }

  async deregister(tenantId: string, deviceId: string, now: number): Promise<Device | null> {
    const r = this.#deregister.get({ tenant_id: tenantId, device_id: deviceId, now }) as DeviceRow | undefined;
    return r ? toDevice(r) : null;
  }

  async dropToken(tenantId: string, deviceId: string, token: string, now: number): Promise<boolean> {
    return this.#dropToken.run(now, tenantId, deviceId, token).changes > 0;
  }

  async getSettings(tenantId: string, userId: string): Promise<PushSettings> {
    const r = this.#settings.get(tenantId, userId) as SettingsRow | undefined;
    return r ? toSettings(r) : { ...DEFAULT_PUSH_SETTINGS };
  }

  async updateSettings(tenantId: string, userId: string, patch: { push_enabled?: boolean; quiet_hours?: QuietHours | null }, now: number): Promise<PushSettings> {
    return this.#updateSettings(tenantId, userId, patch, now);
  }

  async mute(tenantId: string, userId: string, conversationId: string, until: number | null, now: number): Promise<PushMute> {
    this.#mute.run(tenantId, userId, conversationId, until, now);
    return this.#getMute.get(tenantId, userId, conversationId) as MuteRow;
  }

  async unmute(tenantId: string, userId: string, conversationId: string): Promise<boolean> {
    return this.#unmute.run(tenantId, userId, conversationId).changes > 0;
  }

  async mutes(tenantId: string, userId: string): Promise<PushMute[]> {
    return this.#mutes.all(tenantId, userId) as MuteRow[];
  }

  async setWechatOpenid(tenantId: string, userId: string, openid: string | null, now: number): Promise<void> {
    this.#setOpenid(tenantId, userId, openid, now);
  }

  async getWechatOpenid(tenantId: string, userId: string): Promise<string | null> {
    return (this.#getOpenid.get(tenantId, userId) as { openid: string } | undefined)?.openid ?? null;
  }

  async getTenantPush(tenantId: string): Promise<TenantPushSettings> {
    const r = this.#tenantPush.get(tenantId) as TenantPushRow | undefined;
    return r ? toTenantPush(r) : defaultTenantPush();
  }

  async updateTenantPush(tenantId: string, patch: { preview_conversation_types?: number[]; wechat?: TenantPushSettings['wechat'] }, now: number): Promise<TenantPushSettings> {
    return this.#updateTenantPush(tenantId, patch, now);
  }
  // Push, round two (migration 022): VoIP tokens, phones, escalation policies, per-channel status.
  #stmts: ReturnType<typeof roundTwo> | null = null;
  #db2: Db | null = null;

  #r2(): ReturnType<typeof roundTwo> {
    return (this.#stmts ??= roundTwo(this.#db2!));
  }

  async setVoipToken(tenantId: string, deviceId: string, token: string | null, now: number): Promise<boolean> {
    return this.#r2().setVoip.run(token, now, tenantId, deviceId).changes > 0;
  }

  async getVoipToken(tenantId: string, deviceId: string): Promise<string | null> {
    return (this.#r2().getVoip.get(tenantId, deviceId) as string | null | undefined) ?? null;
  }

  async setPhone(tenantId: string, userId: string, phone: string | null, now: number): Promise<void> {
    if (phone === null) this.#r2().delPhone.run(tenantId, userId);
    else this.#r2().putPhone.run(tenantId, userId, phone, now);
  }

  async getPhone(tenantId: string, userId: string): Promise<string | null> {
    return (this.#r2().getPhone.get(tenantId, userId) as string | undefined) ?? null;
  }

  async getEscalation(tenantId: string, userId: string): Promise<EscalationPolicy | null> {
    const j = this.#r2().getPolicy.get(tenantId, userId) as string | undefined;
    return j === undefined ? null : (JSON.parse(j) as EscalationPolicy);
  }

  async setEscalation(tenantId: string, userId: string, policy: EscalationPolicy | null, now: number): Promise<void> {
    if (policy === null) this.#r2().delPolicy.run(tenantId, userId);
    else this.#r2().putPolicy.run(tenantId, userId, JSON.stringify(policy), now);
  }

  async recordDelivery(tenantId: string, d: Pick<PushDelivery, 'subject_id' | 'user_id' | 'channel' | 'status' | 'detail'>, now: number): Promise<void> {
    this.#r2().putDelivery.run(tenantId, d.subject_id, d.user_id, d.channel, d.status, d.detail, now, now);
  }

  async deliveries(tenantId: string, subjectId: string): Promise<PushDelivery[]> {
    return this.#r2().listDeliveries.all(tenantId, subjectId) as PushDelivery[];
  }
}

function roundTwo(db: Db) {
  return {
    setVoip: db.prepare('UPDATE devices SET voip_token = ?, updated_at = ? WHERE tenant_id = ? AND device_id = ?'),
    getVoip: db.prepare('SELECT voip_token FROM devices WHERE tenant_id = ? AND device_id = ?').pluck(),
    putPhone: db.prepare(
      'INSERT INTO push_sms_users (tenant_id, user_id, phone, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, user_id) DO UPDATE SET phone = excluded.phone, updated_at = excluded.updated_at',
    ),
    delPhone: db.prepare('DELETE FROM push_sms_users WHERE tenant_id = ? AND user_id = ?'),
    getPhone: db.prepare('SELECT phone FROM push_sms_users WHERE tenant_id = ? AND user_id = ?').pluck(),
    putPolicy: db.prepare(
      'INSERT INTO push_escalation (tenant_id, user_id, policy, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, user_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at',
    ),
    delPolicy: db.prepare('DELETE FROM push_escalation WHERE tenant_id = ? AND user_id = ?'),
    getPolicy: db.prepare('SELECT policy FROM push_escalation WHERE tenant_id = ? AND user_id = ?').pluck(),
    putDelivery: db.prepare(
      `INSERT INTO push_deliveries (tenant_id, subject_id, user_id, channel, status, detail, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, subject_id, user_id, channel) DO UPDATE SET status = excluded.status, detail = excluded.detail, updated_at = excluded.updated_at`,
    ),
    listDeliveries: db.prepare(
      'SELECT subject_id, user_id, channel, status, detail, created_at, updated_at FROM push_deliveries WHERE tenant_id = ? AND subject_id = ? ORDER BY user_id, channel',
    ),
  };
}
