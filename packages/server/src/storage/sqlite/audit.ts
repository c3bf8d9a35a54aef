import type { AuditStore } from '../../domain/ports.ts';
import type { AuditEntry, AuditQuery, AuditRecord } from '../../domain/types.ts';
import { auditHash, canonicalDetail, GENESIS_HASH } from '../../domain/audit.ts';
import { StatementCache, type Db } from './db.ts';

interface Row extends Omit<AuditRecord, 'detail'> {
  detail: string | null;
}

const COLS = 'id, tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash, hash';
const toRecord = (r: Row): AuditRecord => ({ ...r, detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>) });

/**
 * The audit log, a hash chain per tenant (migration 006). `append` computes each record's
 * seq and hash inside its transaction, on the one write connection (the writer thread), so
 * the chain follows the commit order. The table refuses UPDATE and DELETE of a chained record
 * (triggers), which guards against mistakes; against someone with the file, the chain does.
 */
export class SqliteAuditStore implements AuditStore {
  readonly #sql: StatementCache;
  readonly #append: (entries: readonly AuditEntry[]) => void;

  constructor(db: Db) {
    this.#sql = new StatementCache(db);
    const headOf = db.prepare('SELECT seq, hash FROM audit_log WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1');
    const ins = db.prepare(
      'INSERT INTO audit_log (tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#append = db.transaction((entries: readonly AuditEntry[]) => {
      const heads = new Map<string, { seq: number; hash: string }>();
      for (const e of entries) {
        const head = heads.get(e.tenant_id) ?? (headOf.get(e.tenant_id) as { seq: number; hash: string } | undefined) ?? { seq: 0, hash: GENESIS_HASH };
        const detail = canonicalDetail(e.detail);
        // The hash of e.detail is the hash of the stored (canonical) text read back.
        const rec = { ...e, seq: head.seq + 1, prev_hash: head.hash };
        const hash = auditHash(rec);
        ins.run(e.tenant_id, rec.seq, e.at, e.actor_kind, e.actor_id, e.app_id, e.action, e.conversation_id, detail, rec.prev_hash, hash);
        heads.set(e.tenant_id, { seq: rec.seq, hash });
      }
    });
    // Records stored before the chain existed join it when a writing connection first opens
    // the database after migration 006 (the writer thread, or the inline connection).
    if (!db.pragma('query_only', { simple: true })) chainUnchained(db, headOf);
  }

  async append(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length) this.#append(entries);
  }

  async query(tenantId: string, q: AuditQuery): Promise<AuditRecord[]> {
    const where = ['tenant_id = ?'];
    const args: unknown[] = [tenantId];
    if (q.conversation_id !== undefined) (where.push('conversation_id = ?'), args.push(q.conversation_id));
    if (q.actor_id !== undefined) (where.push('actor_id = ?'), args.push(q.actor_id));
    if (q.app_id !== undefined) (where.push('app_id = ?'), args.push(q.app_id));
    if (q.since !== undefined) (where.push('at >= ?'), args.push(q.since));
    if (q.until !== undefined) (where.push('at < ?'), args.push(q.until));
    if (q.after_id !== undefined) (where.push('id > ?'), args.push(q.after_id));
    const rows = this.#sql.get(`SELECT ${COLS} FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`).all(...args, q.limit) as Row[];
    return rows.map(toRecord);
  }

  async chain(tenantId: string, q: { after_seq: number; limit: number }): Promise<AuditRecord[]> {
    const rows = this.#sql.get(`SELECT ${COLS} FROM audit_log WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`).all(tenantId, q.after_seq, q.limit) as Row[];
    return rows.map(toRecord);
  }

  async head(tenantId: string): Promise<{ seq: number; hash: string } | null> {
    const r = this.#sql.get('SELECT seq, hash FROM audit_log WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1').get(tenantId) as
      | { seq: number; hash: string }
      | undefined;
    return r ?? null;
  }

  async tenants(): Promise<string[]> {
    return this.#sql.pluck('SELECT DISTINCT tenant_id FROM audit_log ORDER BY tenant_id').all() as string[];
  }

  async unchained(tenantId: string): Promise<number> {
    return this.#sql.pluck('SELECT count(*) FROM audit_log WHERE seq IS NULL AND tenant_id = ?').get(tenantId) as number;
  }
}

/** Chains the records that have no seq yet, in id order per tenant, after the tenant's head: one transaction. */
function chainUnchained(db: Db, headOf: ReturnType<Db['prepare']>): void {
  const page = db.prepare(`SELECT ${COLS} FROM audit_log WHERE seq IS NULL AND id > ? ORDER BY id LIMIT 1000`);
  const set = db.prepare('UPDATE audit_log SET seq = ?, detail = ?, prev_hash = ?, hash = ? WHERE id = ?');
  db.transaction(() => {
    const heads = new Map<string, { seq: number; hash: string }>();
    for (let after = 0; ; ) {
      const rows = page.all(after) as Row[];
      for (const row of rows) {
        const r = toRecord(row);
        const head = heads.get(r.tenant_id) ?? (headOf.get(r.tenant_id) as { seq: number; hash: string } | undefined) ?? { seq: 0, hash: GENESIS_HASH };
        const rec = { ...r, seq: head.seq + 1, prev_hash: head.hash };
        const hash = auditHash(rec);
        set.run(rec.seq, canonicalDetail(r.detail), rec.prev_hash, hash, r.id);
        heads.set(r.tenant_id, { seq: rec.seq, hash });
        after = r.id;
      }
      if (rows.length < 1000) break;
    }
  })();
}
