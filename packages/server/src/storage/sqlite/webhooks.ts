/**
 * Webhook subscriptions and their delivery attempts in SQLite (migration 015). An attempt and
 * the move of its subscription's failure streak are one transaction on the one writer, so the
 * failure that disables a subscription is seen by exactly one caller.
 */
import type { WebhookStore } from '../../domain/ports.ts';
import type { WebhookAttempt, WebhookPatch, WebhookStatus, WebhookSubscription } from '../../domain/types.ts';
import { applyPatch } from '../../domain/webhooks.ts';
import type { Db } from './db.ts';

interface SubRow {
  tenant_id: string; id: string; url: string; events: string; description: string | null; secret: string; status: string;
  disabled_reason: string | null; disabled_at: number | null; failures: number; created_at: number; updated_at: number;
}
interface AttemptRow {
  tenant_id: string; id: string; subscription_id: string; delivery_id: string; event_id: string; event_type: string; attempt: number;
  ok: number; status_code: number | null; latency_ms: number; error: string | null; at: number;
}

const SUB_COLS = 'tenant_id, id, url, events, description, secret, status, disabled_reason, disabled_at, failures, created_at, updated_at';
const ATTEMPT_COLS = 'tenant_id, id, subscription_id, delivery_id, event_id, event_type, attempt, ok, status_code, latency_ms, error, at';

const toSub = (r: SubRow): WebhookSubscription => ({ ...r, events: JSON.parse(r.events) as string[], status: r.status as WebhookStatus });
const toAttempt = (r: AttemptRow): WebhookAttempt => ({ ...r, ok: r.ok === 1 });

export class SqliteWebhookStore implements WebhookStore {
  readonly #insert;
  readonly #get;
  readonly #list;
  readonly #update: (tenantId: string, id: string, patch: WebhookPatch, now: number) => WebhookSubscription | null;
  readonly #delete: (tenantId: string, id: string) => boolean;
  readonly #record: (a: WebhookAttempt, disableAfter: number) => { disabled: boolean };
  readonly #attempts;
  readonly #attemptsOf;

  constructor(db: Db) {
    this.#insert = db.prepare(`INSERT INTO webhooks (${SUB_COLS}) VALUES (@tenant_id, @id, @url, @events, @description, @secret, @status, @disabled_reason, @disabled_at, @failures, @created_at, @updated_at)`);
    const get = (this.#get = db.prepare(`SELECT ${SUB_COLS} FROM webhooks WHERE tenant_id = ? AND id = ?`));
    this.#list = db.prepare(`SELECT ${SUB_COLS} FROM webhooks WHERE tenant_id = ? ORDER BY id`);
    const put = db.prepare(
      `UPDATE webhooks SET url = @url, events = @events, description = @description, secret = @secret, status = @status,
         disabled_reason = @disabled_reason, disabled_at = @disabled_at, failures = @failures, updated_at = @updated_at
       WHERE tenant_id = @tenant_id AND id = @id`,
    );
    this.#update = db.transaction((tenantId: string, id: string, patch: WebhookPatch, now: number) => {
      const row = get.get(tenantId, id) as SubRow | undefined;
      if (!row) return null;
      const next = applyPatch(toSub(row), patch, now);
      put.run({ ...next, events: JSON.stringify(next.events) });
      return next;
    });
    const delSub = db.prepare('DELETE FROM webhooks WHERE tenant_id = ? AND id = ?');
    const delAttempts = db.prepare('DELETE FROM webhook_attempts WHERE tenant_id = ? AND subscription_id = ?');
    this.#delete = db.transaction((tenantId: string, id: string) => {
      const n = delSub.run(tenantId, id).changes;
      if (n > 0) delAttempts.run(tenantId, id);
      return n > 0;
    });
    const insertAttempt = db.prepare(`INSERT OR IGNORE INTO webhook_attempts (${ATTEMPT_COLS}) VALUES (@tenant_id, @id, @subscription_id, @delivery_id, @event_id, @event_type, @attempt, @ok, @status_code, @latency_ms, @error, @at)`);
    const reset = db.prepare('UPDATE webhooks SET failures = 0 WHERE tenant_id = ? AND id = ? AND failures <> 0');
    const failed = db.prepare('UPDATE webhooks SET failures = failures + 1 WHERE tenant_id = ? AND id = ? RETURNING failures, status');
    const disable = db.prepare(`UPDATE webhooks SET status = 'disabled', disabled_reason = 'failing', disabled_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`);
    this.#record = db.transaction((a: WebhookAttempt, disableAfter: number) => {
      insertAttempt.run({ ...a, ok: a.ok ? 1 : 0 });
      if (a.ok) {
        reset.run(a.tenant_id, a.subscription_id);
        return { disabled: false };
      }
      const r = failed.get(a.tenant_id, a.subscription_id) as { failures: number; status: string } | undefined;
      if (!r || r.status !== 'active' || r.failures < disableAfter) return { disabled: false };
      disable.run(a.at, a.at, a.tenant_id, a.subscription_id);
      return { disabled: true };
    });
    this.#attempts = db.prepare(
      `SELECT ${ATTEMPT_COLS} FROM webhook_attempts WHERE tenant_id = ? AND subscription_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    );
    this.#attemptsOf = db.prepare(
      `SELECT ${ATTEMPT_COLS} FROM webhook_attempts WHERE tenant_id = ? AND subscription_id = ? AND delivery_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    );
  }

  async create(sub: WebhookSubscription): Promise<void> {
    this.#insert.run({ ...sub, events: JSON.stringify(sub.events) });
  }

  async get(tenantId: string, id: string): Promise<WebhookSubscription | null> {
    const r = this.#get.get(tenantId, id) as SubRow | undefined;
    return r ? toSub(r) : null;
  }

  async list(tenantId: string): Promise<WebhookSubscription[]> {
    return (this.#list.all(tenantId) as SubRow[]).map(toSub);
  }

  async update(tenantId: string, id: string, patch: WebhookPatch, now: number): Promise<WebhookSubscription | null> {
    return this.#update(tenantId, id, patch, now);
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    return this.#delete(tenantId, id);
  }

  async recordAttempt(a: WebhookAttempt, disableAfter: number): Promise<{ disabled: boolean }> {
    return this.#record(a, disableAfter);
  }

  async attempts(tenantId: string, subscriptionId: string, q: { before?: string; delivery_id?: string; limit: number }): Promise<WebhookAttempt[]> {
    const before = q.before ?? '\uffff';
    const rows = q.delivery_id !== undefined
      ? this.#attemptsOf.all(tenantId, subscriptionId, q.delivery_id, before, q.limit)
      : this.#attempts.all(tenantId, subscriptionId, before, q.limit);
    return (rows as AttemptRow[]).map(toAttempt);
  }
}
