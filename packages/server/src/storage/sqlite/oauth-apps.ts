/** Third-party apps (OAuth2 client credentials) in SQLite (migration 015). */
import type { OAuthAppStore } from '../../domain/ports.ts';
import type { OAuthApp } from '../../domain/types.ts';
import type { Db } from './db.ts';

const COLS = 'id, tenant_id, name, secret_hash, created_at, revoked_at';

export class SqliteOAuthAppStore implements OAuthAppStore {
  readonly #insert;
  readonly #find;
  readonly #list;
  readonly #revoke;

  constructor(db: Db) {
    this.#insert = db.prepare(`INSERT INTO oauth_apps (${COLS}) VALUES (@id, @tenant_id, @name, @secret_hash, @created_at, @revoked_at)`);
    this.#find = db.prepare(`SELECT ${COLS} FROM oauth_apps WHERE id = ?`);
    this.#list = db.prepare(`SELECT ${COLS} FROM oauth_apps WHERE tenant_id = ? ORDER BY id`);
    this.#revoke = db.prepare('UPDATE oauth_apps SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL');
  }

  async create(app: OAuthApp): Promise<void> {
    this.#insert.run(app);
  }

  async find(id: string): Promise<OAuthApp | null> {
    return (this.#find.get(id) as OAuthApp | undefined) ?? null;
  }

  async list(tenantId: string): Promise<OAuthApp[]> {
    return this.#list.all(tenantId) as OAuthApp[];
  }

  async revoke(tenantId: string, id: string, at: number): Promise<boolean> {
    return this.#revoke.run(at, tenantId, id).changes > 0;
  }
}
