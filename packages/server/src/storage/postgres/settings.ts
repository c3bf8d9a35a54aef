/**
 * Per-tenant settings in PostgreSQL (migration 002): one row a tenant, written the first time
 * they change. An update is one upsert that applies the patch to the row as it is at that
 * moment (locked), so updates of different settings at once all stay.
 */
import type { SettingsStore } from '../../domain/ports.ts';
import type { ConnectionPolicy, TenantSettings } from '../../domain/types.ts';
import type { PgDb } from './db.ts';

/** A tenant that never changed its settings. */
const DEFAULTS: TenantSettings = { connection_policy: 'notify', updated_at: null, patient_to_patient: false };
type SettingsRow = { connection_policy: ConnectionPolicy; patient_to_patient: boolean; updated_at: number };

const toSettings = (r: SettingsRow): TenantSettings => ({
  connection_policy: r.connection_policy, patient_to_patient: r.patient_to_patient, updated_at: Number(r.updated_at),
});

export class PgSettingsStore implements SettingsStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async get(tenantId: string): Promise<TenantSettings> {
    const { rows } = await this.#db.query<SettingsRow>('SELECT connection_policy, patient_to_patient, updated_at FROM tenant_settings WHERE tenant_id = $1', [tenantId]);
    return rows[0] ? toSettings(rows[0]) : { ...DEFAULTS };
  }

  async update(tenantId: string, patch: Partial<Omit<TenantSettings, 'updated_at'>>, now: number): Promise<TenantSettings> {
    const { rows } = await this.#db.write<SettingsRow>(
      `INSERT INTO tenant_settings (tenant_id, connection_policy, patient_to_patient, updated_at)
       VALUES ($1, COALESCE($2::text, $5::text), COALESCE($3::boolean, $6::boolean), $4)
       ON CONFLICT (tenant_id) DO UPDATE SET
         connection_policy = COALESCE($2::text, tenant_settings.connection_policy),
         patient_to_patient = COALESCE($3::boolean, tenant_settings.patient_to_patient),
         updated_at = EXCLUDED.updated_at
       RETURNING connection_policy, patient_to_patient, updated_at`,
      [tenantId, patch.connection_policy ?? null, patch.patient_to_patient ?? null, now, DEFAULTS.connection_policy, DEFAULTS.patient_to_patient],
    );
    return toSettings(rows[0]!);
  }
}
