import type { AuthSessionStore } from '../../domain/ports.ts';
import type { AuthSession } from '../../domain/types.ts';
import type { Db } from './db.ts';

export class SqliteAuthSessionStore implements AuthSessionStore {
  readonly #get;
  readonly #insert;
  readonly #revoke;
  constructor(db: Db) {
    this.#get = db.prepare('SELECT * FROM auth_sessions WHERE id = ?');
    this.#insert = db.prepare('INSERT INTO auth_sessions (id, tenant_id, user_id, platform, device_id, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.#revoke = db.prepare('UPDATE auth_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
  }

  async createSession(s: AuthSession): Promise<void> {
    this.#insert.run(s.id, s.tenant_id, s.user_id, s.platform, s.device_id, s.created_at, s.expires_at, s.revoked_at);
  }

  async getSession(id: string): Promise<AuthSession | null> {
    return (this.#get.get(id) as AuthSession | undefined) ?? null;
  }

  async revokeSession(id: string, at: number): Promise<boolean> {
    return this.#revoke.run(at, id).changes > 0;
  }
}
