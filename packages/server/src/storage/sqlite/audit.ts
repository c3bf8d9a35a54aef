import type { AuditStore } from '../../domain/ports.ts';
import type { AuditEntry, AuditQuery, AuditRecord } from '../../domain/types.ts';
import { StatementCache, type Db } from './db.ts';

interface Row extends Omit<AuditRecord, 'detail'> {
  detail: string | null;
}

export class SqliteAuditStore implements AuditStore {
  readonly #sql: StatementCache;
  readonly #append: (entries: readonly AuditEntry[]) => void;

  constructor(db: Db) {
    this.#sql = new StatementCache(db);
    const ins = db.prepare('INSERT INTO audit_log (tenant_id, at, actor_kind, actor_id, action, conversation_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#append = db.transaction((entries: readonly AuditEntry[]) => {
      for (const e of entries) ins.run(e.tenant_id, e.at, e.actor_kind, e.actor_id, e.action, e.conversation_id, e.detail === null ? null : JSON.stringify(e.detail));
    });
  }

  async append(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length) this.#append(entries);
  }

  async query(tenantId: string, q: AuditQuery): Promise<AuditRecord[]> {
    const where = ['tenant_id = ?'];
    const args: unknown[] = [tenantId];
    if (q.conversation_id !== undefined) (where.push('conversation_id = ?'), args.push(q.conversation_id));
    if (q.actor_id !== undefined) (where.push('actor_id = ?'), args.push(q.actor_id));
    if (q.since !== undefined) (where.push('at >= ?'), args.push(q.since));
    if (q.until !== undefined) (where.push('at < ?'), args.push(q.until));
    if (q.after_id !== undefined) (where.push('id > ?'), args.push(q.after_id));
    const rows = this.#sql
      .get(`SELECT id, tenant_id, at, actor_kind, actor_id, action, conversation_id, detail FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`)
      .all(...args, q.limit) as Row[];
    return rows.map((r) => ({ ...r, detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>) }));
  }
}
