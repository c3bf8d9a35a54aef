/**
 * Retention policies, legal holds and the deletion they drive, in PostgreSQL (migration 008).
 * Setting a hold and expiring messages both lock the conversation's row first, so with several
 * nodes a hold set before an expiry commits is seen by it, and none is deleted after.
 */
import type { FileRecord, LegalHold, RetentionPolicy, RetentionStore } from '../../domain/ports.ts';
import type { PgDb } from './db.ts';

const FILE_COLS = 'f.tenant_id, f.id, f.conversation_id, f.uploader_id, f.kind, f.mime_type, f.file_name, f.size, f.blob_key, f.thumb_key, f.width, f.height, f.thumb_width, f.thumb_height, f.duration, f.state, f.message_id, f.created_at, f.attached_at';
const NOT_HELD = (t: string, c: string) => `NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = ${t} AND h.conversation_id = ${c})`;

const num = <T extends object>(r: T, keys: (keyof T)[]): T => {
  const o = { ...r } as Record<string, unknown>;
  for (const k of keys) if (o[k as string] !== null && o[k as string] !== undefined) o[k as string] = Number(o[k as string]);
  return o as T;
};

export class PgRetentionStore implements RetentionStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async setPolicy(tenantId: string, conversationType: number, days: number | null, now: number): Promise<void> {
    if (days === null) await this.#db.write('DELETE FROM retention_policies WHERE tenant_id = $1 AND conversation_type = $2', [tenantId, conversationType]);
    else {
      await this.#db.write(
        `INSERT INTO retention_policies (tenant_id, conversation_type, days, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, conversation_type) DO UPDATE SET days = excluded.days, updated_at = excluded.updated_at`,
        [tenantId, conversationType, days, now],
      );
    }
  }

  async policies(tenantId: string | null): Promise<RetentionPolicy[]> {
    const { rows } = tenantId === null
      ? await this.#db.query<RetentionPolicy>('SELECT tenant_id, conversation_type, days, updated_at FROM retention_policies ORDER BY tenant_id, conversation_type')
      : await this.#db.query<RetentionPolicy>('SELECT tenant_id, conversation_type, days, updated_at FROM retention_policies WHERE tenant_id = $1 ORDER BY conversation_type', [tenantId]);
    return rows.map((r) => num(r, ['updated_at']));
  }

  async setHold(tenantId: string, conversationId: string, hold: { reason: string | null; by: string } | null, now: number): Promise<boolean> {
    return this.#db.tx(async (q) => {
      await q.query('SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 FOR UPDATE', [tenantId, conversationId]);
      if (hold === null) return (await q.query('DELETE FROM legal_holds WHERE tenant_id = $1 AND conversation_id = $2', [tenantId, conversationId])).rowCount > 0;
      const r = await q.query(
        `INSERT INTO legal_holds (tenant_id, conversation_id, reason, set_by, set_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at`,
        [tenantId, conversationId, hold.reason, hold.by, now],
      );
      return r.rowCount > 0;
    });
  }

  async hold(tenantId: string, conversationId: string): Promise<LegalHold | null> {
    const { rows } = await this.#db.query<LegalHold>('SELECT tenant_id, conversation_id, reason, set_by, set_at FROM legal_holds WHERE tenant_id = $1 AND conversation_id = $2', [tenantId, conversationId]);
    return rows[0] ? num(rows[0], ['set_at']) : null;
  }

  async holds(tenantId: string): Promise<LegalHold[]> {
    const { rows } = await this.#db.query<LegalHold>('SELECT tenant_id, conversation_id, reason, set_by, set_at FROM legal_holds WHERE tenant_id = $1 ORDER BY conversation_id', [tenantId]);
    return rows.map((r) => num(r, ['set_at']));
  }

  async expiring(tenantId: string, type: number, before: number, afterId: string, limit: number): Promise<string[]> {
    const { rows } = await this.#db.query<{ id: string }>(
      `SELECT c.id FROM conversations c
       WHERE c.tenant_id = $1 AND c.type = $2 AND c.id > $3 AND ${NOT_HELD('c.tenant_id', 'c.id')}
         AND (EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.created_at < $4 AND m.content IS NOT NULL)
              OR EXISTS (SELECT 1 FROM files f WHERE f.tenant_id = c.tenant_id AND f.conversation_id = c.id AND f.created_at < $4))
       ORDER BY c.id LIMIT $5`,
      [tenantId, type, afterId, before, limit],
    );
    return rows.map((r) => r.id);
  }

  async expireMessages(tenantId: string, conversationId: string, before: number, limit: number): Promise<string[]> {
    return this.#db.tx(async (q) => {
      await q.query('SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 FOR UPDATE', [tenantId, conversationId]);
      if ((await q.query('SELECT 1 FROM legal_holds WHERE tenant_id = $1 AND conversation_id = $2', [tenantId, conversationId])).rowCount > 0) return [];
      const { rows } = await q.query<{ id: string }>(
        `UPDATE messages SET content = NULL
         WHERE tenant_id = $1 AND conversation_id = $2 AND seq IN (
           SELECT seq FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND created_at < $3 AND content IS NOT NULL ORDER BY seq LIMIT $4)
         RETURNING id`,
        [tenantId, conversationId, before, limit],
      );
      return rows.map((r) => r.id);
    });
  }

  async expiringFiles(tenantId: string, conversationId: string, before: number, limit: number): Promise<FileRecord[]> {
    const { rows } = await this.#db.query<FileRecord>(
      `SELECT ${FILE_COLS} FROM files f
       WHERE f.tenant_id = $1 AND f.conversation_id = $2 AND f.created_at < $3 AND ${NOT_HELD('f.tenant_id', 'f.conversation_id')}
         AND (f.state = 'uploaded' OR f.message_id IS NULL
              OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = f.tenant_id AND m.id = f.message_id AND m.content IS NOT NULL))
       ORDER BY f.created_at, f.id LIMIT $4`,
      [tenantId, conversationId, before, limit],
    );
    return rows.map((r) => num(r, ['size', 'created_at', 'attached_at']));
  }
}
