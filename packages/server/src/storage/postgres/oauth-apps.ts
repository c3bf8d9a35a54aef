/** Third-party apps (OAuth2 client credentials) in PostgreSQL (migration 007). */
import type { OAuthAppStore } from '../../domain/ports.ts';
import type { OAuthApp } from '../../domain/types.ts';
import type { PgDb } from './db.ts';

const COLS = 'id, tenant_id, name, secret_hash, created_at, revoked_at';
const toApp = (r: OAuthApp): OAuthApp => ({ ...r, created_at: Number(r.created_at), revoked_at: r.revoked_at === null ? null : Number(r.revoked_at) });

export class PgOAuthAppStore implements OAuthAppStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async create(app: OAuthApp): Promise<void> {
    await this.#db.write(`INSERT INTO oauth_apps (${COLS}) VALUES ($1, $2, $3, $4, $5, $6)`,
      [app.id, app.tenant_id, app.name, app.secret_hash, app.created_at, app.revoked_at]);
  }

  async find(id: string): Promise<OAuthApp | null> {
    const { rows } = await this.#db.query<OAuthApp>(`SELECT ${COLS} FROM oauth_apps WHERE id = $1`, [id]);
    return rows[0] ? toApp(rows[0]) : null;
  }

  async list(tenantId: string): Promise<OAuthApp[]> {
    const { rows } = await this.#db.query<OAuthApp>(`SELECT ${COLS} FROM oauth_apps WHERE tenant_id = $1 ORDER BY id`, [tenantId]);
    return rows.map(toApp);
  }

  async revoke(tenantId: string, id: string, at: number): Promise<boolean> {
    const r = await this.#db.write('UPDATE oauth_apps SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL', [at, tenantId, id]);
    return r.rowCount > 0;
  }
}
