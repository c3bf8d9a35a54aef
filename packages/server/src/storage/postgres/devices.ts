/**
 * Devices and push preferences in PostgreSQL (migration 006; WeChat openids and a tenant's push
 * choices, migration 009), with the semantics of the SQLite
 * store. A registration is one transaction: it locks the code's row (if any), refuses a
 * de-registered code, clears the same vendor token from any other code of the tenant, then
 * upserts; two registrations racing for one token meet the unique index and the loser runs
 * again (it then takes the token: the later registration wins).
 */
import type { EscalationPolicy, PushDelivery } from '../../domain/escalation.ts';
import type { DeviceStore } from '../../domain/ports.ts';
import type { Device, DeviceRegistration, OsType, PushMute, PushSettings, PushVendor, QuietHours, TenantPushSettings } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import { isUniqueViolation, type PgDb } from './db.ts';

interface DeviceRow {
  device_id: string; user_id: string; os_type: number; vendor: string; push_token: string | null; device_info: string;
  push_enabled: boolean; deregistered_at: number | null; created_at: number; updated_at: number;
}
type SettingsRow = { push_enabled: boolean; quiet_hours: string | null; updated_at: number };
type MuteRow = { conversation_id: string; until: number | null; created_at: number };

const COLS = 'device_id, user_id, os_type, vendor, push_token, device_info, push_enabled, deregistered_at, created_at, updated_at';
const DEFAULTS: PushSettings = { push_enabled: true, quiet_hours: null, updated_at: null };

const num = (v: number | null): number | null => (v === null ? null : Number(v));
const toDevice = (r: DeviceRow): Device => ({
  device_id: r.device_id, user_id: r.user_id, os_type: r.os_type as OsType, vendor: r.vendor as PushVendor, push_token: r.push_token,
  device_info: JSON.parse(r.device_info) as Record<string, unknown>, push_enabled: r.push_enabled,
  deregistered_at: num(r.deregistered_at), created_at: Number(r.created_at), updated_at: Number(r.updated_at),
});
const toSettings = (r: SettingsRow): PushSettings => ({
  push_enabled: r.push_enabled, quiet_hours: r.quiet_hours === null ? null : JSON.parse(r.quiet_hours) as QuietHours, updated_at: Number(r.updated_at),
});
type TenantPushRow = { preview_conversation_types: string; wechat: string; updated_at: number };
const toTenantPush = (r: TenantPushRow): TenantPushSettings => ({
  preview_conversation_types: JSON.parse(r.preview_conversation_types) as number[], wechat: JSON.parse(r.wechat) as TenantPushSettings['wechat'],
  updated_at: Number(r.updated_at),
});
const defaultTenantPush = (): TenantPushSettings => ({ preview_conversation_types: [], wechat: { enabled: false, templates: {} }, updated_at: null });
const toMute = (r: MuteRow): PushMute => ({ conversation_id: r.conversation_id, until: num(r.until), created_at: Number(r.created_at) });

export class PgDeviceStore implements DeviceStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async register(d: DeviceRegistration, now: number): Promise<{ device: Device; created: boolean }> {
    return this.#db.tx(async (q) => {
      const { rows: cur } = await q.query<{ deregistered_at: number | null }>(
        'SELECT deregistered_at FROM devices WHERE tenant_id = $1 AND device_id = $2 FOR UPDATE', [d.tenant_id, d.device_id],
      );
      if (cur[0] && cur[0].deregistered_at !== null) throw fail('device.deregistered', undefined, { device_id: d.device_id });
      if (d.push_token !== null) {
        await q.query('UPDATE devices SET push_token = NULL, updated_at = $1 WHERE tenant_id = $2 AND vendor = $3 AND push_token = $4 AND device_id <> $5',
          [now, d.tenant_id, d.vendor, d.push_token, d.device_id]);
      }
      const { rows } = await q.query<DeviceRow & { created: boolean }>(
        `INSERT INTO devices (tenant_id, ${COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, NULL, $8, $8)
         ON CONFLICT (tenant_id, device_id) DO UPDATE SET user_id = EXCLUDED.user_id, os_type = EXCLUDED.os_type, vendor = EXCLUDED.vendor,
           push_token = EXCLUDED.push_token, device_info = EXCLUDED.device_info,
           push_enabled = CASE WHEN devices.user_id = EXCLUDED.user_id THEN devices.push_enabled ELSE TRUE END, updated_at = EXCLUDED.updated_at
         WHERE devices.deregistered_at IS NULL
         RETURNING ${COLS}, (xmax = 0) AS created`,
        [d.tenant_id, d.device_id, d.user_id, d.os_type, d.vendor, d.push_token, JSON.stringify(d.device_info), now],
      );
      // No row: de-registered meanwhile (by a transaction that committed before this one's lock).
      if (!rows[0]) throw fail('device.deregistered', undefined, { device_id: d.device_id });
      return { device: toDevice(rows[0]), created: rows[0].created };
    }, { retryIf: (err) => isUniqueViolation(err) });
  }

  async get(tenantId: string, deviceId: string): Promise<Device | null> {
    const { rows } = await this.#db.query<DeviceRow>(`SELECT ${COLS} FROM devices WHERE tenant_id = $1 AND device_id = $2`, [tenantId, deviceId]);
    return rows[0] ? toDevice(rows[0]) : null;
  }

  async listForUser(tenantId: string, userId: string): Promise<Device[]> {
    const { rows } = await this.#db.query<DeviceRow>(`SELECT ${COLS} FROM devices WHERE tenant_id = $1 AND user_id = $2 ORDER BY device_id`, [tenantId, userId]);
    return rows.map(toDevice);
  }

  async setPush(tenantId: string, deviceId: string, enabled: boolean, now: number): Promise<Device | null> {
    const { rows } = await this.#db.write<DeviceRow>(
      `UPDATE devices SET push_enabled = $1, updated_at = $2 WHERE tenant_id = $3 AND device_id = $4 RETURNING ${COLS}`, [enabled, now, tenantId, deviceId],
    );
    return rows[0] ? toDevice(rows[0]) : null;
  }

  async deregister(tenantId: string, deviceId: string, now: number): Promise<Device | null> {
    const { rows } = await this.#db.write<DeviceRow>(
      `UPDATE devices SET push_token = NULL, deregistered_at = COALESCE(deregistered_at, $1), updated_at = $1
       WHERE tenant_id = $2 AND device_id = $3 RETURNING ${COLS}`, [now, tenantId, deviceId],
    );
    return rows[0] ? toDevice(rows[0]) : null;
  }

  async dropToken(tenantId: string, deviceId: string, token: string, now: number): Promise<boolean> {
    const r = await this.#db.write('UPDATE devices SET push_token = NULL, updated_at = $1 WHERE tenant_id = $2 AND device_id = $3 AND push_token = $4',
      [now, tenantId, deviceId, token]);
    return r.rowCount > 0;
  }

  async getSettings(tenantId: string, userId: string): Promise<PushSettings> {
    const { rows } = await this.#db.query<SettingsRow>('SELECT push_enabled, quiet_hours, updated_at FROM push_settings WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
    return rows[0] ? toSettings(rows[0]) : { ...DEFAULTS };
  }

  async updateSettings(tenantId: string, userId: string, patch: { push_enabled?: boolean; quiet_hours?: QuietHours | null }, now: number): Promise<PushSettings> {
    // $4: whether the patch names quiet_hours ($5 its value, possibly NULL).
    const { rows } = await this.#db.write<SettingsRow>(
      `INSERT INTO push_settings (tenant_id, user_id, push_enabled, quiet_hours, updated_at)
       VALUES ($1, $2, COALESCE($3::boolean, TRUE), CASE WHEN $4::boolean THEN $5::text ELSE NULL END, $6)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET
         push_enabled = COALESCE($3::boolean, push_settings.push_enabled),
         quiet_hours = CASE WHEN $4::boolean THEN $5::text ELSE push_settings.quiet_hours END,
         updated_at = EXCLUDED.updated_at
       RETURNING push_enabled, quiet_hours, updated_at`,
      [tenantId, userId, patch.push_enabled ?? null, patch.quiet_hours !== undefined, patch.quiet_hours ? JSON.stringify(patch.quiet_hours) : null, now],
    );
    return toSettings(rows[0]!);
  }

  async mute(tenantId: string, userId: string, conversationId: string, until: number | null, now: number): Promise<PushMute> {
    const { rows } = await this.#db.write<MuteRow>(
      `INSERT INTO push_mutes (tenant_id, user_id, conversation_id, until, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET until = EXCLUDED.until
       RETURNING conversation_id, until, created_at`,
      [tenantId, userId, conversationId, until, now],
    );
    return toMute(rows[0]!);
  }

  async unmute(tenantId: string, userId: string, conversationId: string): Promise<boolean> {
    const r = await this.#db.write('DELETE FROM push_mutes WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $3', [tenantId, userId, conversationId]);
    return r.rowCount > 0;
  }

  async mutes(tenantId: string, userId: string): Promise<PushMute[]> {
    const { rows } = await this.#db.query<MuteRow>(
      'SELECT conversation_id, until, created_at FROM push_mutes WHERE tenant_id = $1 AND user_id = $2 ORDER BY conversation_id', [tenantId, userId],
    );
    return rows.map(toMute);
  }

  async setWechatOpenid(tenantId: string, userId: string, openid: string | null, now: number): Promise<void> {
    await this.#db.tx(async (q) => {
      await q.query('DELETE FROM push_wechat_users WHERE tenant_id = $1 AND (user_id = $2 OR openid = $3)', [tenantId, userId, openid]);
      if (openid !== null) {
        await q.query('INSERT INTO push_wechat_users (tenant_id, user_id, openid, updated_at) VALUES ($1, $2, $3, $4)', [tenantId, userId, openid, now]);
      }
    }, { retryIf: (err) => isUniqueViolation(err) });
  }

  async getWechatOpenid(tenantId: string, userId: string): Promise<string | null> {
    const { rows } = await this.#db.query<{ openid: string }>('SELECT openid FROM push_wechat_users WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
    return rows[0]?.openid ?? null;
  }

  async getTenantPush(tenantId: string): Promise<TenantPushSettings> {
    const { rows } = await this.#db.query<TenantPushRow>(
      'SELECT preview_conversation_types, wechat, updated_at FROM push_tenant_settings WHERE tenant_id = $1', [tenantId],
    );
    return rows[0] ? toTenantPush(rows[0]) : defaultTenantPush();
  }

  async updateTenantPush(tenantId: string, patch: { preview_conversation_types?: number[]; wechat?: TenantPushSettings['wechat'] }, now: number): Promise<TenantPushSettings> {
    const { rows } = await this.#db.write<TenantPushRow>(
      `INSERT INTO push_tenant_settings (tenant_id, preview_conversation_types, wechat, updated_at)
       VALUES ($1, COALESCE($2::text, '[]'), COALESCE($3::text, '{"enabled":false,"templates":{}}'), $4)
       ON CONFLICT (tenant_id) DO UPDATE SET
         preview_conversation_types = COALESCE($2::text, push_tenant_settings.preview_conversation_types),
         wechat = COALESCE($3::text, push_tenant_settings.wechat),
         updated_at = EXCLUDED.updated_at
       RETURNING preview_conversation_types, wechat, updated_at`,
      [tenantId, patch.preview_conversation_types ? JSON.stringify(patch.preview_conversation_types) : null, patch.wechat ? JSON.stringify(patch.wechat) : null, now],
    );
    return toTenantPush(rows[0]!);
  }
  // Push, round two (migration 014): VoIP tokens, phones, escalation policies, per-channel status.
  async setVoipToken(tenantId: string, deviceId: string, token: string | null, now: number): Promise<boolean> {
    const r = await this.#db.write('UPDATE devices SET voip_token = $1, updated_at = $2 WHERE tenant_id = $3 AND device_id = $4', [token, now, tenantId, deviceId]);
    return r.rowCount > 0;
  }

  async getVoipToken(tenantId: string, deviceId: string): Promise<string | null> {
    const { rows } = await this.#db.query<{ voip_token: string | null }>('SELECT voip_token FROM devices WHERE tenant_id = $1 AND device_id = $2', [tenantId, deviceId]);
    return rows[0]?.voip_token ?? null;
  }

  async setPhone(tenantId: string, userId: string, phone: string | null, now: number): Promise<void> {
    if (phone === null) await this.#db.write('DELETE FROM push_sms_users WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
    else {
      await this.#db.write(
        `INSERT INTO push_sms_users (tenant_id, user_id, phone, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET phone = excluded.phone, updated_at = excluded.updated_at`, [tenantId, userId, phone, now]);
    }
  }

  async getPhone(tenantId: string, userId: string): Promise<string | null> {
    const { rows } = await this.#db.query<{ phone: string }>('SELECT phone FROM push_sms_users WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
    return rows[0]?.phone ?? null;
  }

  async getEscalation(tenantId: string, userId: string): Promise<EscalationPolicy | null> {
    const { rows } = await this.#db.query<{ policy: string }>('SELECT policy FROM push_escalation WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
    return rows[0] ? (JSON.parse(rows[0].policy) as EscalationPolicy) : null;
  }

  async setEscalation(tenantId: string, userId: string, policy: EscalationPolicy | null, now: number): Promise<void> {
    if (policy === null) await this.#db.write('DELETE FROM push_escalation WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
    else {
      await this.#db.write(
        `INSERT INTO push_escalation (tenant_id, user_id, policy, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`, [tenantId, userId, JSON.stringify(policy), now]);
    }
  }

  async recordDelivery(tenantId: string, d: Pick<PushDelivery, 'subject_id' | 'user_id' | 'channel' | 'status' | 'detail'>, now: number): Promise<void> {
    await this.#db.write(
      `INSERT INTO push_deliveries (tenant_id, subject_id, user_id, channel, status, detail, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (tenant_id, subject_id, user_id, channel) DO UPDATE SET status = excluded.status, detail = excluded.detail, updated_at = excluded.updated_at`,
      [tenantId, d.subject_id, d.user_id, d.channel, d.status, d.detail, now]);
  }

  async deliveries(tenantId: string, subjectId: string): Promise<PushDelivery[]> {
    const { rows } = await this.#db.query<PushDelivery>(
      `SELECT subject_id, user_id, channel, status, detail, created_at, updated_at FROM push_deliveries
       WHERE tenant_id = $1 AND subject_id = $2 ORDER BY user_id, channel`, [tenantId, subjectId]);
    return rows.map((r) => ({ ...r, created_at: Number(r.created_at), updated_at: Number(r.updated_at) }));
  }
}
