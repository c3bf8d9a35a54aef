/** Resumable (tus) uploads in PostgreSQL (migration 008), as the SQLite store; correct with several nodes writing. */
import type { FileUpload, UploadPart, UploadStore } from '../../domain/ports.ts';
import type { PgDb } from './db.ts';

const NAMES = ['tenant_id', 'id', 'conversation_id', 'uploader_id', 'file_name', 'declared_type', 'length', 'upload_offset', 'parts', 'state', 'file_id', 'error', 'created_at', 'updated_at'] as const;
const COLS = NAMES.join(', ');

type Row = Record<(typeof NAMES)[number], unknown>;
const toUpload = (r: Row): FileUpload => ({
  ...(r as unknown as FileUpload),
  length: Number(r.length),
  upload_offset: Number(r.upload_offset),
  parts: JSON.parse(r.parts as string) as UploadPart[],
  created_at: Number(r.created_at),
  updated_at: Number(r.updated_at),
});

export class PgUploadStore implements UploadStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async create(u: FileUpload): Promise<void> {
    const row = { ...u, parts: JSON.stringify(u.parts) } as Record<string, unknown>;
    await this.#db.write(`INSERT INTO file_uploads (${COLS}) VALUES (${NAMES.map((_, i) => `$${i + 1}`).join(', ')})`, NAMES.map((n) => row[n]));
  }

  async get(tenantId: string, id: string): Promise<FileUpload | null> {
    const { rows } = await this.#db.query<Row>(`SELECT ${COLS} FROM file_uploads WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return rows[0] ? toUpload(rows[0]) : null;
  }

  async appendPart(tenantId: string, id: string, offset: number, part: UploadPart, now: number): Promise<boolean> {
    // One conditional update: the row lock makes two PATCHes at one offset (any nodes) take turns, and the second finds the offset moved.
    const { rowCount } = await this.#db.write(
      `UPDATE file_uploads SET upload_offset = upload_offset + $4, parts = (parts::jsonb || jsonb_build_array($5::jsonb))::text, updated_at = $6
       WHERE tenant_id = $1 AND id = $2 AND state = 'uploading' AND upload_offset = $3 AND upload_offset + $4 <= length`,
      [tenantId, id, offset, part.size, JSON.stringify(part), now],
    );
    return rowCount > 0;
  }

  async setState(tenantId: string, id: string, from: FileUpload['state'], to: FileUpload['state'], fields: { file_id?: string | null; error?: string | null }, now: number): Promise<boolean> {
    const { rowCount } = await this.#db.write(
      `UPDATE file_uploads SET state = $4, file_id = COALESCE($5, file_id), error = COALESCE($6, error), updated_at = $7
       WHERE tenant_id = $1 AND id = $2 AND state = $3`,
      [tenantId, id, from, to, fields.file_id ?? null, fields.error ?? null, now],
    );
    return rowCount > 0;
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.#db.write('DELETE FROM file_uploads WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
    return rowCount > 0;
  }

  async stale(before: number, limit: number): Promise<FileUpload[]> {
    const { rows } = await this.#db.query<Row>(`SELECT ${COLS} FROM file_uploads WHERE updated_at < $1 ORDER BY updated_at, tenant_id, id LIMIT $2`, [before, limit]);
    return rows.map(toUpload);
  }
}
