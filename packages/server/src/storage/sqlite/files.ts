/** Uploaded files' metadata in SQLite (migration 011). */
import type { FileRecord, FileStore } from '../../domain/ports.ts';
import type { Db } from './db.ts';

const COLS = 'tenant_id, id, conversation_id, uploader_id, kind, mime_type, file_name, size, blob_key, thumb_key, width, height, thumb_width, thumb_height, duration, state, message_id, created_at, attached_at';

export class SqliteFileStore implements FileStore {
  readonly #insert;
  readonly #get;
  readonly #attach;
  readonly #orphans;
  readonly #delete;
  readonly #release;
  readonly #deleteOrphan;

  constructor(db: Db) {
    this.#insert = db.prepare(`INSERT INTO files (${COLS}) VALUES (${COLS.split(', ').map((c) => `@${c}`).join(', ')})`);
    this.#get = db.prepare(`SELECT ${COLS} FROM files WHERE tenant_id = ? AND id = ?`);
    this.#attach = db.prepare(
      `UPDATE files SET state = 'attached', message_id = ?, attached_at = ?
       WHERE tenant_id = ? AND id = ? AND conversation_id = ? AND uploader_id = ? AND state = 'uploaded'`,
    );
    this.#orphans = db.prepare(`SELECT ${COLS} FROM files WHERE state = 'uploaded' AND created_at < ? ORDER BY created_at, tenant_id, id LIMIT ?`);
    this.#delete = db.prepare('DELETE FROM files WHERE tenant_id = ? AND id = ?');
    this.#release = db.prepare("UPDATE files SET state = 'uploaded', message_id = NULL, attached_at = NULL WHERE tenant_id = ? AND id = ? AND state = 'attached' AND message_id = ?");
    this.#deleteOrphan = db.prepare("DELETE FROM files WHERE tenant_id = ? AND id = ? AND state = 'uploaded' AND created_at < ?");
  }

  async create(file: FileRecord): Promise<void> {
    this.#insert.run(file);
  }

  async get(tenantId: string, id: string): Promise<FileRecord | null> {
    return (this.#get.get(tenantId, id) as FileRecord | undefined) ?? null;
  }

  async attach(tenantId: string, id: string, conversationId: string, uploaderId: string, messageId: string, now: number): Promise<boolean> {
    return this.#attach.run(messageId, now, tenantId, id, conversationId, uploaderId).changes > 0;
  }

  async orphans(before: number, limit: number): Promise<FileRecord[]> {
    return this.#orphans.all(before, limit) as FileRecord[];
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    return this.#delete.run(tenantId, id).changes > 0;
  }

  async release(tenantId: string, id: string, messageId: string): Promise<boolean> {
    return this.#release.run(tenantId, id, messageId).changes > 0;
  }

  async deleteOrphan(tenantId: string, id: string, before: number): Promise<boolean> {
    return this.#deleteOrphan.run(tenantId, id, before).changes > 0;
  }
}
