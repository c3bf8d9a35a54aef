/** Retention policies, legal holds and the deletion they drive, in SQLite (migration 016). */
import type { FileRecord, LegalHold, RetentionPolicy, RetentionStore } from '../../domain/ports.ts';
import type { Db } from './db.ts';

const FILE_COLS = 'f.tenant_id, f.id, f.conversation_id, f.uploader_id, f.kind, f.mime_type, f.file_name, f.size, f.blob_key, f.thumb_key, f.width, f.height, f.thumb_width, f.thumb_height, f.duration, f.state, f.message_id, f.created_at, f.attached_at';
const NOT_HELD = (t: string, c: string) => `NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = ${t} AND h.conversation_id = ${c})`;

export class SqliteRetentionStore implements RetentionStore {
  readonly #putPolicy;
  readonly #dropPolicy;
  readonly #policies;
  readonly #policiesOf;
  readonly #putHold;
  readonly #dropHold;
  readonly #hold;
  readonly #holds;
  readonly #expiring;
  readonly #expire;
  readonly #files;

  constructor(db: Db) {
    this.#putPolicy = db.prepare(
      `INSERT INTO retention_policies (tenant_id, conversation_type, days, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, conversation_type) DO UPDATE SET days = excluded.days, updated_at = excluded.updated_at`,
    );
    this.#dropPolicy = db.prepare('DELETE FROM retention_policies WHERE tenant_id = ? AND conversation_type = ?');
    this.#policies = db.prepare('SELECT tenant_id, conversation_type, days, updated_at FROM retention_policies ORDER BY tenant_id, conversation_type');
    this.#policiesOf = db.prepare('SELECT tenant_id, conversation_type, days, updated_at FROM retention_policies WHERE tenant_id = ? ORDER BY conversation_type');
    this.#putHold = db.prepare(
      `INSERT INTO legal_holds (tenant_id, conversation_id, reason, set_by, set_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at`,
    );
    this.#dropHold = db.prepare('DELETE FROM legal_holds WHERE tenant_id = ? AND conversation_id = ?');
    this.#hold = db.prepare('SELECT tenant_id, conversation_id, reason, set_by, set_at FROM legal_holds WHERE tenant_id = ? AND conversation_id = ?');
    this.#holds = db.prepare('SELECT tenant_id, conversation_id, reason, set_by, set_at FROM legal_holds WHERE tenant_id = ? ORDER BY conversation_id');
    this.#expiring = db.prepare(
      `SELECT c.id FROM conversations c
       WHERE c.tenant_id = @tenant AND c.type = @type AND c.id > @after AND ${NOT_HELD('c.tenant_id', 'c.id')}
         AND (EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.created_at < @before AND m.content IS NOT NULL)
              OR EXISTS (SELECT 1 FROM files f WHERE f.tenant_id = c.tenant_id AND f.conversation_id = c.id AND f.created_at < @before))
       ORDER BY c.id LIMIT @limit`,
    ).pluck();
    const held = db.prepare('SELECT 1 FROM legal_holds WHERE tenant_id = ? AND conversation_id = ?').pluck();
    const pick = db.prepare(
      'SELECT id FROM messages WHERE tenant_id = ? AND conversation_id = ? AND created_at < ? AND content IS NOT NULL ORDER BY seq LIMIT ?',
    ).pluck();
    const tombstone = db.prepare('UPDATE messages SET content = NULL WHERE tenant_id = ? AND conversation_id = ? AND id = ?');
    this.#expire = db.transaction((tenantId: string, conversationId: string, before: number, limit: number): string[] => {
      if (held.get(tenantId, conversationId)) return [];
      const ids = pick.all(tenantId, conversationId, before, limit) as string[];
      for (const id of ids) tombstone.run(tenantId, conversationId, id);
      return ids;
    });
    this.#files = db.prepare(
      `SELECT ${FILE_COLS} FROM files f
       WHERE f.tenant_id = @tenant AND f.conversation_id = @conv AND f.created_at < @before AND ${NOT_HELD('f.tenant_id', 'f.conversation_id')}
         AND (f.state = 'uploaded' OR f.message_id IS NULL
              OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = f.tenant_id AND m.id = f.message_id AND m.content IS NOT NULL))
       ORDER BY f.created_at, f.id LIMIT @limit`,
    );
  }

  async setPolicy(tenantId: string, conversationType: number, days: number | null, now: number): Promise<void> {
    if (days === null) this.#dropPolicy.run(tenantId, conversationType);
    else this.#putPolicy.run(tenantId, conversationType, days, now);
  }

  async policies(tenantId: string | null): Promise<RetentionPolicy[]> {
    return (tenantId === null ? this.#policies.all() : this.#policiesOf.all(tenantId)) as RetentionPolicy[];
  }

  async setHold(tenantId: string, conversationId: string, hold: { reason: string | null; by: string } | null, now: number): Promise<boolean> {
    if (hold === null) return this.#dropHold.run(tenantId, conversationId).changes > 0;
    return this.#putHold.run(tenantId, conversationId, hold.reason, hold.by, now).changes > 0;
  }

  async hold(tenantId: string, conversationId: string): Promise<LegalHold | null> {
    return (this.#hold.get(tenantId, conversationId) as LegalHold | undefined) ?? null;
  }

  async holds(tenantId: string): Promise<LegalHold[]> {
    return this.#holds.all(tenantId) as LegalHold[];
  }

  async expiring(tenantId: string, type: number, before: number, afterId: string, limit: number): Promise<string[]> {
    return this.#expiring.all({ tenant: tenantId, type, before, after: afterId, limit }) as string[];
  }

  async expireMessages(tenantId: string, conversationId: string, before: number, limit: number): Promise<string[]> {
    return this.#expire(tenantId, conversationId, before, limit);
  }

  async expiringFiles(tenantId: string, conversationId: string, before: number, limit: number): Promise<FileRecord[]> {
    return this.#files.all({ tenant: tenantId, conv: conversationId, before, limit }) as FileRecord[];
  }
}
