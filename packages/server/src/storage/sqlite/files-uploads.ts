/** Resumable (tus) uploads in SQLite (migration 016). */
import type { FileUpload, UploadPart, UploadStore } from '../../domain/ports.ts';
import type { Db } from './db.ts';

const COLS = 'tenant_id, id, conversation_id, uploader_id, file_name, declared_type, length, upload_offset, parts, state, file_id, error, created_at, updated_at';

type Row = Omit<FileUpload, 'parts'> & { parts: string };
const toUpload = (r: Row): FileUpload => ({ ...r, parts: JSON.parse(r.parts) as UploadPart[] });

export class SqliteUploadStore implements UploadStore {
  readonly #insert;
  readonly #get;
  readonly #append;
  readonly #setState;
  readonly #delete;
  readonly #stale;

  constructor(db: Db) {
    this.#insert = db.prepare(`INSERT INTO file_uploads (${COLS}) VALUES (${COLS.split(', ').map((c) => `@${c}`).join(', ')})`);
    this.#get = db.prepare(`SELECT ${COLS} FROM file_uploads WHERE tenant_id = ? AND id = ?`);
    this.#append = db.prepare(
      `UPDATE file_uploads SET upload_offset = upload_offset + @size, parts = json_insert(parts, '$[#]', json(@part)), updated_at = @now
       WHERE tenant_id = @tenant AND id = @id AND state = 'uploading' AND upload_offset = @offset AND upload_offset + @size <= length`,
    );
    this.#setState = db.prepare(
      `UPDATE file_uploads SET state = @to, file_id = COALESCE(@file_id, file_id), error = COALESCE(@error, error), updated_at = @now
       WHERE tenant_id = @tenant AND id = @id AND state = @from`,
    );
    this.#delete = db.prepare('DELETE FROM file_uploads WHERE tenant_id = ? AND id = ?');
    this.#stale = db.prepare(`SELECT ${COLS} FROM file_uploads WHERE updated_at < ? ORDER BY updated_at, tenant_id, id LIMIT ?`);
  }

  async create(u: FileUpload): Promise<void> {
    this.#insert.run({ ...u, parts: JSON.stringify(u.parts) });
  }

  async get(tenantId: string, id: string): Promise<FileUpload | null> {
    const r = this.#get.get(tenantId, id) as Row | undefined;
    return r ? toUpload(r) : null;
  }

  async appendPart(tenantId: string, id: string, offset: number, part: UploadPart, now: number): Promise<boolean> {
    return this.#append.run({ tenant: tenantId, id, offset, size: part.size, part: JSON.stringify(part), now }).changes > 0;
  }

  async setState(tenantId: string, id: string, from: FileUpload['state'], to: FileUpload['state'], fields: { file_id?: string | null; error?: string | null }, now: number): Promise<boolean> {
    return this.#setState.run({ tenant: tenantId, id, from, to, file_id: fields.file_id ?? null, error: fields.error ?? null, now }).changes > 0;
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    return this.#delete.run(tenantId, id).changes > 0;
  }

  async stale(before: number, limit: number): Promise<FileUpload[]> {
    return (this.#stale.all(before, limit) as Row[]).map(toUpload);
  }
}
