/**
 * The audit log in PostgreSQL (migration 002), a hash chain per tenant.
 *
 * Several nodes may append to one tenant's chain at once. An append takes the row of each of
 * its tenants in `audit_heads` (the tenant's newest seq and hash) with an upsert that locks it
 * and returns its current values, computes the records' seq and hashes from there, inserts
 * them and moves the heads, all in one transaction: a second append of the tenant waits for
 * the first to commit and continues from its head, so the chain's order is the commit order.
 * Heads are taken in tenant order (a batch can hold several tenants), so two appends never
 * wait for each other in a circle. Round trips: BEGIN, the lock, the records with the new
 * heads (one statement) sent with the COMMIT. A node's appends run in call order, as all its
 * writes (`PgDb.tx`).
 * The table refuses UPDATE of a chained record, DELETE and TRUNCATE (triggers).
 */
import type { AuditStore } from '../../domain/ports.ts';
import type { AuditEntry, AuditQuery, AuditRecord } from '../../domain/types.ts';
import { auditHash, canonicalDetail, GENESIS_HASH } from '../../domain/audit.ts';
import type { PgDb } from './db.ts';

interface Row {
  id: string | number;
  tenant_id: string;
  seq: string | number;
  at: string | number;
  actor_kind: AuditRecord['actor_kind'];
  actor_id: string;
  app_id: string | null;
  action: string;
  conversation_id: string;
  detail: string | null;
  prev_hash: string;
  hash: string;
}

const COLS = 'id, tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash, hash';

const toRecord = (r: Row): AuditRecord => ({
  id: Number(r.id),
  tenant_id: r.tenant_id,
  seq: Number(r.seq),
  at: Number(r.at),
  actor_kind: r.actor_kind,
  actor_id: r.actor_id,
  app_id: r.app_id,
  action: r.action,
  conversation_id: r.conversation_id,
  detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
  prev_hash: r.prev_hash,
  hash: r.hash,
});

/** Locks the heads of the tenants (in tenant order), creating the missing ones, and returns them as they are now. */
const LOCK_HEADS = `INSERT INTO audit_heads (tenant_id, seq, hash)
  SELECT t, 0, $2 FROM unnest($1::text[]) AS t ORDER BY t
  ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_heads.seq
  RETURNING tenant_id, seq, hash`;

/** Inserts the records (in the batch's order: ids follow seqs) and moves the heads, in one statement. */
const STORE = `WITH stored AS (
    INSERT INTO audit_log (tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash, hash)
    SELECT tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash, hash
      FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
        WITH ORDINALITY AS v (tenant_id, seq, at, actor_kind, actor_id, app_id, action, conversation_id, detail, prev_hash, hash, n)
      ORDER BY n
  )
  UPDATE audit_heads h SET seq = v.seq, hash = v.hash
    FROM unnest($12::text[], $13::bigint[], $14::text[]) AS v (tenant_id, seq, hash) WHERE h.tenant_id = v.tenant_id`;

export class PgAuditStore implements AuditStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async append(entries: readonly AuditEntry[]): Promise<void> {
    if (!entries.length) return;
    const tenants = [...new Set(entries.map((e) => e.tenant_id))].sort();
    // Canonical details do not depend on the chain: made once, outside the transaction (which may be retried).
    const details = entries.map((e) => canonicalDetail(e.detail));
    await this.#db.tx(async (q) => {
      const locked = await q.query<{ tenant_id: string; seq: string | number; hash: string }>(LOCK_HEADS, [tenants, GENESIS_HASH]);
      const heads = new Map(locked.rows.map((r) => [r.tenant_id, { seq: Number(r.seq), hash: r.hash }]));
      const cols: unknown[][] = Array.from({ length: 11 }, () => []);
      entries.forEach((e, i) => {
        const head = heads.get(e.tenant_id)!;
        // The hash covers the detail as it is read back: the canonical text, parsed.
        const detail = details[i]!;
        const rec = {
          tenant_id: e.tenant_id, seq: head.seq + 1, at: e.at, actor_kind: e.actor_kind, actor_id: e.actor_id, app_id: e.app_id,
          action: e.action, conversation_id: e.conversation_id, detail: detail === null ? null : (JSON.parse(detail) as Record<string, unknown>),
          prev_hash: head.hash,
        };
        const hash = auditHash(rec);
        const row = [e.tenant_id, rec.seq, e.at, e.actor_kind, e.actor_id, e.app_id, e.action, e.conversation_id, detail, rec.prev_hash, hash];
        row.forEach((v, c) => cols[c]!.push(v));
        heads.set(e.tenant_id, { seq: rec.seq, hash });
      });
      const moved = [...heads];
      // Not awaited: it goes out with the COMMIT, and the transaction fails if it does.
      void q.query(STORE, [...cols, moved.map(([t]) => t), moved.map(([, h]) => h.seq), moved.map(([, h]) => h.hash)]);
    });
  }

  async query(tenantId: string, q: AuditQuery): Promise<AuditRecord[]> {
    const where = ['tenant_id = $1'];
    const args: unknown[] = [tenantId];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(`${sql} $${args.length}`);
    };
    if (q.conversation_id !== undefined) add('conversation_id =', q.conversation_id);
    if (q.actor_id !== undefined) add('actor_id =', q.actor_id);
    if (q.app_id !== undefined) add('app_id =', q.app_id);
    if (q.since !== undefined) add('at >=', q.since);
    if (q.until !== undefined) add('at <', q.until);
    if (q.after_id !== undefined) add('id >', q.after_id);
    args.push(q.limit);
    const { rows } = await this.#db.query<Row>(`SELECT ${COLS} FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${args.length}`, args);
    return rows.map(toRecord);
  }

  async chain(tenantId: string, q: { after_seq: number; limit: number }): Promise<AuditRecord[]> {
    const { rows } = await this.#db.query<Row>(`SELECT ${COLS} FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [tenantId, q.after_seq, q.limit]);
    return rows.map(toRecord);
  }

  async head(tenantId: string): Promise<{ seq: number; hash: string } | null> {
    // From the log itself, not audit_heads: what verify walks is what the head must match.
    const { rows } = await this.#db.query<{ seq: string | number; hash: string }>(
      'SELECT seq, hash FROM audit_log WHERE tenant_id = $1 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1',
      [tenantId],
    );
    const r = rows[0];
    return r ? { seq: Number(r.seq), hash: r.hash } : null;
  }

  async tenants(): Promise<string[]> {
    // The heads table has a row per tenant with records: no scan of the log.
    const { rows } = await this.#db.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM audit_heads WHERE seq > 0
       UNION SELECT DISTINCT tenant_id FROM audit_log WHERE seq IS NULL ORDER BY 1`,
    );
    return rows.map((r) => r.tenant_id);
  }

  async unchained(tenantId: string): Promise<number> {
    const { rows } = await this.#db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log WHERE seq IS NULL AND tenant_id = $1', [tenantId]);
    return rows[0]!.n;
  }
}
