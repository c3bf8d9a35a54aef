/**
 * Webhook subscriptions and their delivery attempts in PostgreSQL (migration 007), with the
 * semantics of the SQLite store. Several nodes record attempts at once: the attempt and the
 * move of the failure streak are one transaction that locks the subscription's row (the
 * UPDATE), so the failure that reaches the limit, and only it, disables the subscription.
 */
import type { WebhookStore } from '../../domain/ports.ts';
import type { WebhookAttempt, WebhookPatch, WebhookStatus, WebhookSubscription } from '../../domain/types.ts';
import { applyPatch } from '../../domain/webhooks.ts';
import type { PgDb } from './db.ts';

interface SubRow {
  tenant_id: string; id: string; url: string; events: string; description: string | null; secret: string; status: string;
  disabled_reason: string | null; disabled_at: number | null; failures: number; created_at: number; updated_at: number;
}
interface AttemptRow {
  tenant_id: string; id: string; subscription_id: string; delivery_id: string; event_id: string; event_type: string; attempt: number;
  ok: boolean; status_code: number | null; latency_ms: number; error: string | null; at: number;
}

const SUB_COLS = 'tenant_id, id, url, events, description, secret, status, disabled_reason, disabled_at, failures, created_at, updated_at';
const ATTEMPT_COLS = 'tenant_id, id, subscription_id, delivery_id, event_id, event_type, attempt, ok, status_code, latency_ms, error, at';

const num = (v: number | null): number | null => (v === null ? null : Number(v));
const toSub = (r: SubRow): WebhookSubscription => ({
  ...r, events: JSON.parse(r.events) as string[], status: r.status as WebhookStatus, disabled_at: num(r.disabled_at), failures: Number(r.failures),
  created_at: Number(r.created_at), updated_at: Number(r.updated_at),
});
const toAttempt = (r: AttemptRow): WebhookAttempt => ({ ...r, attempt: Number(r.attempt), latency_ms: Number(r.latency_ms), at: Number(r.at) });
const subValues = (s: WebhookSubscription) => [
  s.tenant_id, s.id, s.url, JSON.stringify(s.events), s.description, s.secret, s.status, s.disabled_reason, s.disabled_at, s.failures, s.created_at, s.updated_at,
];

export class PgWebhookStore implements WebhookStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async create(sub: WebhookSubscription): Promise<void> {
    await this.#db.write(`INSERT INTO webhooks (${SUB_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, subValues(sub));
  }

  async get(tenantId: string, id: string): Promise<WebhookSubscription | null> {
    const { rows } = await this.#db.query<SubRow>(`SELECT ${SUB_COLS} FROM webhooks WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    return rows[0] ? toSub(rows[0]) : null;
  }

  async list(tenantId: string): Promise<WebhookSubscription[]> {
    const { rows } = await this.#db.query<SubRow>(`SELECT ${SUB_COLS} FROM webhooks WHERE tenant_id = $1 ORDER BY id`, [tenantId]);
    return rows.map(toSub);
  }

  async update(tenantId: string, id: string, patch: WebhookPatch, now: number): Promise<WebhookSubscription | null> {
    return this.#db.tx(async (q) => {
      const { rows } = await q.query<SubRow>(`SELECT ${SUB_COLS} FROM webhooks WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [tenantId, id]);
      if (!rows[0]) return null;
      const next = applyPatch(toSub(rows[0]), patch, now);
      await q.query(
        `UPDATE webhooks SET url = $3, events = $4, description = $5, secret = $6, status = $7, disabled_reason = $8, disabled_at = $9,
           failures = $10, updated_at = $11 WHERE tenant_id = $1 AND id = $2`,
        subValues(next).filter((_, i) => i !== 10),
      );
      return next;
    });
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    return this.#db.tx(async (q) => {
      const r = await q.query('DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
      if (r.rowCount > 0) await q.query('DELETE FROM webhook_attempts WHERE tenant_id = $1 AND subscription_id = $2', [tenantId, id]);
      return r.rowCount > 0;
    });
  }

  async recordAttempt(a: WebhookAttempt, disableAfter: number): Promise<{ disabled: boolean }> {
    return this.#db.tx(async (q) => {
      await q.query(
        `INSERT INTO webhook_attempts (${ATTEMPT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
        [a.tenant_id, a.id, a.subscription_id, a.delivery_id, a.event_id, a.event_type, a.attempt, a.ok, a.status_code, a.latency_ms, a.error, a.at],
      );
      if (a.ok) {
        await q.query('UPDATE webhooks SET failures = 0 WHERE tenant_id = $1 AND id = $2 AND failures <> 0', [a.tenant_id, a.subscription_id]);
        return { disabled: false };
      }
      const { rows } = await q.query<{ failures: number; status: string }>(
        'UPDATE webhooks SET failures = failures + 1 WHERE tenant_id = $1 AND id = $2 RETURNING failures, status', [a.tenant_id, a.subscription_id],
      );
      const r = rows[0];
      if (!r || r.status !== 'active' || Number(r.failures) < disableAfter) return { disabled: false };
      await q.query(
        `UPDATE webhooks SET status = 'disabled', disabled_reason = 'failing', disabled_at = $1, updated_at = $1 WHERE tenant_id = $2 AND id = $3`,
        [a.at, a.tenant_id, a.subscription_id],
      );
      return { disabled: true };
    });
  }

  async attempts(tenantId: string, subscriptionId: string, q: { before?: string; delivery_id?: string; limit: number }): Promise<WebhookAttempt[]> {
    const before = q.before ?? '\uffff';
    const { rows } = q.delivery_id !== undefined
      ? await this.#db.query<AttemptRow>(
        `SELECT ${ATTEMPT_COLS} FROM webhook_attempts WHERE tenant_id = $1 AND subscription_id = $2 AND delivery_id = $3 AND id < $4 ORDER BY id DESC LIMIT $5`,
        [tenantId, subscriptionId, q.delivery_id, before, q.limit],
      )
      : await this.#db.query<AttemptRow>(
        `SELECT ${ATTEMPT_COLS} FROM webhook_attempts WHERE tenant_id = $1 AND subscription_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
        [tenantId, subscriptionId, before, q.limit],
      );
    return rows.map(toAttempt);
  }
}
