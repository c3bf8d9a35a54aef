/** Uploaded files' metadata in PostgreSQL (migration 004), as the SQLite store. */
import type { FileRecord, FileStore } from '../../domain/ports.ts';
import type { PgDb } from './db.ts';

const NAMES = ['tenant_id', 'id', 'conversation_id', 'uploader_id', 'kind', 'mime_type', 'file_name', 'size', 'blob_key', 'thumb_key', 'width', 'height', 'thumb_width', 'thumb_height', 'duration', 'state', 'message_id', 'created_at', 'attached_at'] as const;
const COLS = NAMES.join(', ');

type Row = Record<(typeof NAMES)[number], unknown>;

const toFile = (r: Row): FileRecord => ({
  ...(r as unknown as FileRecord),
  size: Number(r.size),
  created_at: Number(r.created_at),
  attached_at: r.attached_at === null ? null : Number(r.attached_at),
});

export class PgFileStore implements FileStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async create(file: FileRecord): Promise<void> {
    await this.#db.write(`INSERT INTO files (${COLS}) VALUES (${NAMES.map((_, i) => `$${i + 1}`).join(', ')})`, NAMES.map((n) => file[n]));
  }

  async get(tenantId: string, id: string): Promise<FileRecord | null> {
    const { rows } = await this.#db.query<Row>(`SELECT ${COLS} FROM files WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return rows[0] ? toFile(rows[0]) : null;
  }

  async attach(tenantId: string, id: string, conversationId: string, uploaderId: string, messageId: string, now: number): Promise<boolean> {
    // One conditional update: of two messages attaching the same file, one changes the row.
    const { rowCount } = await this.#db.write(
      `UPDATE files SET state = 'attached', message_id = $1, attached_at = $2
       WHERE tenant_id = $3 AND id = $4 AND conversation_id = $5 AND uploader_id = $6 AND state = 'uploaded'`,
      [messageId, now, tenantId, id, conversationId, uploaderId],
    );
    return rowCount > 0;
  }

  async orphans(before: number, limit: number): Promise<FileRecord[]> {
    const { rows } = await this.#db.query<Row>(`SELECT ${COLS} FROM files WHERE state = 'uploaded' AND created_at < $1 ORDER BY created_at, tenant_id, id LIMIT $2`, [before, limit]);
    return rows.map(toFile);
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.#db.write('DELETE FROM files WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
    return rowCount > 0;
  }

  async release(tenantId: string, id: string, messageId: string): Promise<boolean> {
    const { rowCount } = await this.#db.write(
      "UPDATE files SET state = 'uploaded', message_id = NULL, attached_at = NULL WHERE tenant_id = $1 AND id = $2 AND state = 'attached' AND message_id = $3",
      [tenantId, id, messageId],
    );
    return rowCount > 0;
  }

  async deleteOrphan(tenantId: string, id: string, before: number): Promise<boolean> {
    const { rowCount } = await this.#db.write("DELETE FROM files WHERE tenant_id = $1 AND id = $2 AND state = 'uploaded' AND created_at < $3", [tenantId, id, before]);
    return rowCount > 0;
  }
}
