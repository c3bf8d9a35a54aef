import type { TenantStore } from '../../domain/ports.ts';
import type { App, Tenant } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import type { Db } from './db.ts';

export class SqliteTenantStore implements TenantStore {
  readonly #createTenant: (t: Tenant) => void;
  readonly #getTenant;
  readonly #createApp;
  readonly #findApp;
  readonly #revokeApp;

  constructor(db: Db) {
    const insertTenant = db.prepare('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
    const insertSystem = db.prepare(
      "INSERT INTO users (tenant_id, id, role, name, avatar, disabled, created_at, updated_at) VALUES (?, 'system', 'system', 'System', NULL, 0, ?, ?)",
    );
    this.#createTenant = db.transaction((t: Tenant) => {
      if (insertTenant.run(t.id, t.name, t.created_at).changes === 0) throw fail('tenant.exists');
      insertSystem.run(t.id, t.created_at, t.created_at);
    });
    this.#getTenant = db.prepare('SELECT id, name, created_at FROM tenants WHERE id = ?');
    this.#createApp = db.prepare('INSERT INTO apps (id, tenant_id, name, key_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.#findApp = db.prepare('SELECT * FROM apps WHERE key_hash = ?');
    this.#revokeApp = db.prepare('UPDATE apps SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL');
  }

  async createTenant(t: Tenant): Promise<void> {
    this.#createTenant(t);
  }

  async getTenant(id: string): Promise<Tenant | null> {
    return (this.#getTenant.get(id) as Tenant | undefined) ?? null;
  }

  async createApp(app: App): Promise<void> {
    this.#createApp.run(app.id, app.tenant_id, app.name, app.key_hash, app.created_at, app.revoked_at);
  }

  async findAppByKeyHash(keyHash: string): Promise<App | null> {
    return (this.#findApp.get(keyHash) as App | undefined) ?? null;
  }

  async revokeApp(tenantId: string, appId: string, at: number): Promise<boolean> {
    return this.#revokeApp.run(at, tenantId, appId).changes > 0;
  }
}
