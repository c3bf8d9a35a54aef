/** Per-tenant settings in SQLite: one row a tenant, written the first time they change. */
import type { SettingsStore } from '../../domain/ports.ts';
import type { ConnectionPolicy, TenantSettings } from '../../domain/types.ts';
import type { Db } from './db.ts';

/** A tenant that never changed its settings (the column's SQL default, `allow_many`, is never used: every insert names the policy). */
const DEFAULTS: TenantSettings = { connection_policy: 'notify', updated_at: null, patient_to_patient: false };
type SettingsRow = { connection_policy: ConnectionPolicy; patient_to_patient: number; updated_at: number };

export class SqliteSettingsStore implements SettingsStore {
  readonly #get;
  readonly #update: (tenantId: string, patch: Partial<Omit<TenantSettings, 'updated_at'>>, now: number) => TenantSettings;

  constructor(db: Db) {
    const get = (this.#get = db.prepare('SELECT connection_policy, patient_to_patient, updated_at FROM tenant_settings WHERE tenant_id = ?'));
    const upsert = db.prepare(
      `INSERT INTO tenant_settings (tenant_id, connection_policy, patient_to_patient, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET connection_policy = excluded.connection_policy, patient_to_patient = excluded.patient_to_patient,
         updated_at = excluded.updated_at`,
    );
    this.#update = db.transaction((tenantId: string, patch: Partial<Omit<TenantSettings, 'updated_at'>>, now: number) => {
      const row = get.get(tenantId) as SettingsRow | undefined;
      const cur = row ? toSettings(row) : DEFAULTS;
      const next = {
        connection_policy: patch.connection_policy ?? cur.connection_policy,
        patient_to_patient: patch.patient_to_patient ?? cur.patient_to_patient,
        updated_at: now,
      };
      upsert.run(tenantId, next.connection_policy, next.patient_to_patient ? 1 : 0, now);
      return next;
    });
  }

  async get(tenantId: string): Promise<TenantSettings> {
    const r = this.#get.get(tenantId) as SettingsRow | undefined;
    return r ? toSettings(r) : { ...DEFAULTS };
  }

  async update(tenantId: string, patch: Partial<Omit<TenantSettings, 'updated_at'>>, now: number): Promise<TenantSettings> {
    return this.#update(tenantId, patch, now);
  }
}

function toSettings(r: SettingsRow): TenantSettings {
  return { connection_policy: r.connection_policy, updated_at: r.updated_at, patient_to_patient: r.patient_to_patient === 1 };
}
