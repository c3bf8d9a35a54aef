import type { TenantStore } from '../../domain/ports.ts';
import type { App, Tenant } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import type { PgDb } from './db.ts';

const APP_COLS = 'id, tenant_id, name, key_hash, created_at, revoked_at';

export class PgTenantStore implements TenantStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  /** The tenant and its `system` user in one statement (one transaction): both or neither. */
  async createTenant(t: Tenant): Promise<void> {
    const { rows } = await this.#db.write<{ n: number }>(
      `WITH t AS (INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id),
       u AS (INSERT INTO users (tenant_id, id, role, name, avatar, disabled, created_at, updated_at)
             SELECT t.id, 'system', 'system', 'System', NULL, false, $3, $3 FROM t)
       SELECT count(*)::int AS n FROM t`,
      [t.id, t.name, t.created_at],
    );
    if (rows[0]?.n !== 1) throw fail('tenant.exists');
  }

  async getTenant(id: string): Promise<Tenant | null> {
    const { rows } = await this.#db.query<Tenant>('SELECT id, name, created_at FROM tenants WHERE id = $1', [id]);
    return rows[0] ?? null;
  }

  async createApp(app: App): Promise<void> {
    await this.#db.write('INSERT INTO apps (id, tenant_id, name, key_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      app.id, app.tenant_id, app.name, app.key_hash, app.created_at, app.revoked_at,
    ]);
  }

  async findAppByKeyHash(keyHash: string): Promise<App | null> {
    const { rows } = await this.#db.query<App>(`SELECT ${APP_COLS} FROM apps WHERE key_hash = $1`, [keyHash]);
    return rows[0] ?? null;
  }

  async revokeApp(tenantId: string, appId: string, at: number): Promise<boolean> {
    const { rowCount } = await this.#db.write('UPDATE apps SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL', [at, tenantId, appId]);
    return rowCount > 0;
  }
}
