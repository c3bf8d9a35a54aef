import type { TenantStore } from '../../domain/ports.ts';
import type { App, Tenant } from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import type { Db } from './db.ts';

export class SqliteTenantStore implements TenantStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async createTenant(t: Tenant): Promise<void> {
    const run = this.#db.transaction(() => {
      const r = this.#db.prepare('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(t.id, t.name, t.created_at);
      if (r.changes === 0) throw fail('tenant.exists');
      this.#db
        .prepare("INSERT INTO users (tenant_id, id, role, name, avatar, disabled, created_at, updated_at) VALUES (?, 'system', 'system', 'System', NULL, 0, ?, ?)")
        .run(t.id, t.created_at, t.created_at);
    });
    run();
  }

  async getTenant(id: string): Promise<Tenant | null> {
    return (this.#db.prepare('SELECT id, name, created_at FROM tenants WHERE id = ?').get(id) as Tenant | undefined) ?? null;
  }

  async createApp(app: App): Promise<void> {
    this.#db
      .prepare('INSERT INTO apps (id, tenant_id, name, key_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(app.id, app.tenant_id, app.name, app.key_hash, app.created_at, app.revoked_at);
  }

  async findAppByKeyHash(keyHash: string): Promise<App | null> {
    return (this.#db.prepare('SELECT * FROM apps WHERE key_hash = ?').get(keyHash) as App | undefined) ?? null;
  }

  async revokeApp(tenantId: string, appId: string, at: number): Promise<boolean> {
    return this.#db.prepare('UPDATE apps SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL').run(at, tenantId, appId).changes > 0;
  }
}
