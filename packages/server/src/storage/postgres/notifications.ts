/**
 * Notifications in PostgreSQL (migration 002), with the semantics of the SQLite store: a
 * notification is one row of `notifications`; user, list, team and tag targets add one
 * `notification_recipients` row per user in the same transaction; a tenant broadcast adds
 * none (its per-user read state goes to `notification_reads` when read).
 *
 * Order across several writers: `create` locks the tenant's row of `notification_heads` (the
 * newest seq and id) inside its transaction, takes the next seq, and keeps the id it was given
 * when it sorts after the newest id, else replaces it with the next ULID after that one; then
 * stores the notification, its recipients and the new head in one statement and commits. A
 * second create of the tenant waits for the first to commit, so seq (1, 2, 3… with no gaps)
 * and ids follow the commit order: a reader that saw seq n has seen every seq before it.
 *
 * Every inbox query starts from two common table expressions:
 * - `mine`: the user's recipient rows ∪ the tenant's broadcasts created since the user was;
 * - `visible`: `mine` with only the newest item of each `latest`-mode kind.
 */
import { notificationStored } from './jobs-outbox.ts';
import { nextIdAfter } from '../../domain/ids.ts';
import type { NotificationStore } from '../../domain/ports.ts';
import type {
  InboxQuery, NewNotification, Notification, NotificationKindDef, NotificationKindNamesInput, NotificationMode, NotificationTarget, NotificationUnread,
} from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import { toNotification, type NotificationRow } from '../rows.ts';
import type { PgDb } from './db.ts';

type Int = string | number;

// $1: the tenant, $2: the user, in every query built on these.
const MINE = `mine AS (
  SELECT r.notification_id AS id, r.kind, r.mode, r.read_at FROM notification_recipients r
   WHERE r.tenant_id = $1 AND r.user_id = $2
  UNION ALL
  SELECT n.id, n.kind, n.mode, x.read_at FROM notifications n
   LEFT JOIN notification_reads x ON x.tenant_id = n.tenant_id AND x.user_id = $2 AND x.notification_id = n.id
   WHERE n.tenant_id = $1 AND n.audience = 'tenant' AND n.created_at >= (SELECT created_at FROM users WHERE tenant_id = $1 AND id = $2)
)`;

const VISIBLE = `visible AS (
  SELECT id, kind, read_at FROM mine WHERE mode = 'each'
  UNION ALL
  (SELECT DISTINCT ON (kind) id, kind, read_at FROM mine WHERE mode = 'latest' ORDER BY kind, id DESC)
)`;

const N_COLS = 'n.id, n.tenant_seq, n.kind, n.title, n.body, n.data, n.sender_id, n.audience, n.audience_id, n.created_at';

interface KindRow {
  kind: string;
  mode: NotificationMode;
  created_at: Int;
  display_name: string | null;
  display_names: string | null;
}

const toKind = (r: KindRow): NotificationKindDef => ({
  kind: r.kind,
  mode: r.mode,
  builtin: false,
  created_at: Number(r.created_at),
  display_name: r.display_name,
  display_names: r.display_names === null ? {} : (JSON.parse(r.display_names) as Record<string, string>),
});

const KIND_COLS = 'kind, mode, created_at, display_name, display_names';

/** `display_names` as stored: JSON, or NULL for none. */
const namesJson = (names: Record<string, string> | null | undefined): string | null =>
  names && Object.keys(names).length > 0 ? JSON.stringify(names) : null;

/** Whether `a` sorts after `b` as bytes of UTF-8 (the order of the id columns, COLLATE "C"). */
const after = (a: string, b: string): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) > 0;

type CreateResult = { notification: Notification; recipients: string[] | null; count: number };
type ReadSelection = { ids: readonly string[] } | { kind: string } | { all: true };

/** Locks the tenant's head (creating it) and returns it as it is now. */
const LOCK_HEAD = `INSERT INTO notification_heads (tenant_id, seq, id) VALUES ($1, 0, '')
  ON CONFLICT (tenant_id) DO UPDATE SET seq = notification_heads.seq RETURNING seq, id`;

// $1 tenant, $2 id, $3 seq, $4 kind, $5 mode, then the other columns; $14 the target.
const STORE = `WITH stored AS (
    INSERT INTO notifications (tenant_id, id, tenant_seq, kind, mode, title, body, data, sender_id, audience, audience_id, created_by, created_at)
    VALUES ($1::text, $2::text, $3::bigint, $4::text, $5::text, $6, $7, $8, $9, $10, $11, $12, $13)
  ), head AS (
    UPDATE notification_heads SET seq = $3::bigint, id = $2::text WHERE tenant_id = $1::text
  )`;
const RECIPIENTS = {
  users: `INSERT INTO notification_recipients (tenant_id, user_id, notification_id, kind, mode)
    SELECT $1::text, u, $2::text, $4::text, $5::text FROM unnest($14::text[]) AS u RETURNING user_id`,
  team: `INSERT INTO notification_recipients (tenant_id, user_id, notification_id, kind, mode)
    SELECT tenant_id, user_id, $2::text, $4::text, $5::text FROM team_members WHERE tenant_id = $1::text AND team_id = $14::text RETURNING user_id`,
  tag: `INSERT INTO notification_recipients (tenant_id, user_id, notification_id, kind, mode)
    SELECT tenant_id, user_id, $2::text, $4::text, $5::text FROM user_tags WHERE tenant_id = $1::text AND tag = $14::text RETURNING user_id`,
};

export class PgNotificationStore implements NotificationStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  async registerKind(
    tenantId: string, kind: string, mode: NotificationMode, now: number, names: NotificationKindNamesInput = {},
  ): Promise<{ kind: NotificationKindDef; created: boolean }> {
    return this.#db.tx(async (q) => {
      const locked = async () => {
        const { rows } = await q.query<KindRow>(`SELECT ${KIND_COLS} FROM notification_kinds WHERE tenant_id = $1 AND kind = $2 FOR UPDATE`, [tenantId, kind]);
        return rows[0] ? toKind(rows[0]) : null;
      };
      let existing = await locked();
      if (!existing) {
        const ins = await q.query<KindRow>(
          `INSERT INTO notification_kinds (tenant_id, kind, mode, created_at, display_name, display_names) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, kind) DO NOTHING RETURNING ${KIND_COLS}`,
          [tenantId, kind, mode, now, names.display_name ?? null, namesJson(names.display_names)],
        );
        if (ins.rows[0]) return { kind: toKind(ins.rows[0]), created: true };
        existing = (await locked())!; // registered meanwhile by another writer
      }
      if (existing.mode !== mode) throw fail('notification.kind_exists', undefined, { kind, mode: existing.mode });
      const displayName = names.display_name !== undefined ? names.display_name : existing.display_name;
      const displayNames = names.display_names !== undefined ? (names.display_names ?? {}) : existing.display_names;
      if (displayName === existing.display_name && namesJson(displayNames) === namesJson(existing.display_names)) return { kind: existing, created: false };
      const { rows } = await q.query<KindRow>(
        `UPDATE notification_kinds SET display_name = $3, display_names = $4 WHERE tenant_id = $1 AND kind = $2 RETURNING ${KIND_COLS}`,
        [tenantId, kind, displayName, namesJson(displayNames)],
      );
      return { kind: toKind(rows[0]!), created: false };
    });
  }

  async getKind(tenantId: string, kind: string): Promise<NotificationKindDef | null> {
    const { rows } = await this.#db.query<KindRow>(`SELECT ${KIND_COLS} FROM notification_kinds WHERE tenant_id = $1 AND kind = $2`, [tenantId, kind]);
    return rows[0] ? toKind(rows[0]) : null;
  }

  async listKinds(tenantId: string): Promise<NotificationKindDef[]> {
    const { rows } = await this.#db.query<KindRow>(`SELECT ${KIND_COLS} FROM notification_kinds WHERE tenant_id = $1 ORDER BY kind`, [tenantId]);
    return rows.map(toKind);
  }

  async create(n: NewNotification, target: NotificationTarget): Promise<CreateResult> {
    const t = n.tenant_id;
    const userIds = target.type === 'users' ? [...new Set(target.ids)] : [];
    const data = n.data === null ? null : JSON.stringify(n.data);
    const stored = await this.#db.tx(async (q): Promise<CreateResult> => {
      // Checks first, before the tenant's head is taken: the lock is held for two statements only.
      if (target.type === 'users') {
        const { rows } = await q.query<{ id: string }>('SELECT id FROM users WHERE tenant_id = $1 AND id = ANY($2::text[])', [t, userIds]);
        const found = new Set(rows.map((r) => r.id));
        const missing = userIds.filter((id) => !found.has(id));
        if (missing.length) throw fail('user.not_found', `Unknown users: ${missing.slice(0, 20).join(', ')}`, { missing });
      } else if (target.type === 'team') {
        const { rows } = await q.query('SELECT 1 FROM teams WHERE tenant_id = $1 AND id = $2', [t, target.id]);
        if (!rows.length) throw fail('team.not_found', undefined, { team: target.id });
      }

      const { rows: [head] } = await q.query<{ seq: Int; id: string }>(LOCK_HEAD, [t]);
      const seq = Number(head!.seq) + 1;
      const id = head!.id === '' || after(n.id, head!.id) ? n.id : nextIdAfter(head!.id);
      const values: unknown[] = [t, id, seq, n.kind, n.mode, n.title, n.body, data, n.sender_id, n.audience, n.audience_id, n.created_by, n.created_at];
      const notification: Notification = {
        id, seq, kind: n.kind, title: n.title, body: n.body, data: n.data, sender_id: n.sender_id,
        audience: n.audience, audience_id: n.audience_id, created_at: n.created_at, read_at: null,
      };
      // After-commit work (push of addressed notifications) is enqueued in this transaction (domain/outbox.ts).
      notificationStored(q, t, id, seq, n.created_at);
      // Nothing to read back for a broadcast or a user list: the statement goes out with the COMMIT.
      if (target.type === 'tenant') {
        void q.query(`${STORE} SELECT 1`, values);
        return { notification, recipients: null, count: 0 };
      }
      if (target.type === 'users') {
        void q.query(`${STORE} ${RECIPIENTS.users}`, [...values, userIds]);
        return { notification, recipients: userIds, count: userIds.length };
      }
      const [sql, arg] = target.type === 'team' ? [RECIPIENTS.team, target.id] : [RECIPIENTS.tag, target.tag];
      const { rows } = await q.query<{ user_id: string }>(`${STORE} ${sql}`, [...values, arg]);
      const recipients = rows.map((r) => r.user_id);
      if (recipients.length === 0) {
        // Nobody addressed: the transaction is rolled back, nothing stored.
        throw target.type === 'team'
          ? fail('notification.target_invalid', `Team ${target.id} has no members.`, { team: target.id })
          : fail('notification.target_invalid', `No user has the tag ${target.tag}.`, { tag: target.tag });
      }
      return { notification, recipients, count: recipients.length };
    });
    if (target.type !== 'tenant') return stored;
    // A broadcast reports the tenant's users, counted after the commit (a read on the pool: a
    // count of 100,000 rows must not hold this node's write connection). Every write called
    // before this one has been applied by then.
    const { rows } = await this.#db.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE tenant_id = $1 AND role <> 'system'", [t]);
    return { ...stored, count: rows[0]!.n };
  }

  async since(tenantId: string, afterSeq: number, limit: number): Promise<{ notification: Notification; recipients: string[] | null }[]> {
    if (limit <= 0) return [];
    const { rows } = await this.#db.query<NotificationRow & { recipients: string[] | null }>(
      `SELECT ${N_COLS}, NULL::bigint AS read_at,
         CASE WHEN n.audience = 'tenant' THEN NULL
              ELSE ARRAY(SELECT r.user_id FROM notification_recipients r WHERE r.tenant_id = n.tenant_id AND r.notification_id = n.id ORDER BY r.user_id) END AS recipients
       FROM notifications n WHERE n.tenant_id = $1 AND n.tenant_seq > $2 ORDER BY n.tenant_seq LIMIT $3`,
      [tenantId, afterSeq, limit],
    );
    return rows.map((r) => ({ notification: toNotification(r), recipients: r.recipients }));
  }

  async inbox(tenantId: string, userId: string, q: InboxQuery): Promise<{ items: Notification[]; next_cursor: string | null }> {
    const where: string[] = [];
    const args: unknown[] = [tenantId, userId];
    if (q.kind !== undefined) where.push(`v.kind = $${args.push(q.kind)}`);
    if (q.unread) where.push('v.read_at IS NULL');
    if (q.before !== undefined) where.push(`v.id < $${args.push(q.before)}`);
    const limit = `$${args.push(q.limit + 1)}`;
    const { rows } = await this.#db.query<NotificationRow>(
      `WITH ${MINE}, ${VISIBLE}
       SELECT ${N_COLS}, v.read_at FROM visible v JOIN notifications n ON n.tenant_id = $1 AND n.id = v.id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY v.id DESC LIMIT ${limit}`,
      args,
    );
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit).map(toNotification);
    return { items, next_cursor: more ? items[items.length - 1]!.id : null };
  }

  async inboxAfter(tenantId: string, userId: string, q: { after?: string; unread?: boolean; limit: number }): Promise<Notification[]> {
    const where: string[] = [];
    const args: unknown[] = [tenantId, userId];
    if (q.after !== undefined) where.push(`v.id > $${args.push(q.after)}`);
    if (q.unread) where.push('v.read_at IS NULL');
    const limit = `$${args.push(q.limit)}`;
    const { rows } = await this.#db.query<NotificationRow>(
      `WITH ${MINE}, ${VISIBLE}
       SELECT ${N_COLS}, v.read_at FROM visible v JOIN notifications n ON n.tenant_id = $1 AND n.id = v.id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY v.id ASC LIMIT ${limit}`,
      args,
    );
    return rows.map(toNotification);
  }

  async latestPerKind(tenantId: string, userId: string): Promise<Notification[]> {
    const { rows } = await this.#db.query<NotificationRow>(
      `WITH ${MINE}, latest AS (SELECT DISTINCT ON (kind) id, kind, read_at FROM mine ORDER BY kind, id DESC)
       SELECT ${N_COLS}, l.read_at FROM latest l JOIN notifications n ON n.tenant_id = $1 AND n.id = l.id ORDER BY l.id DESC`,
      [tenantId, userId],
    );
    return rows.map(toNotification);
  }

  async unread(tenantId: string, userId: string): Promise<NotificationUnread> {
    const { rows } = await this.#db.query<{ kind: string; c: number }>(
      `WITH ${MINE}, ${VISIBLE} SELECT kind, count(*)::int AS c FROM visible WHERE read_at IS NULL GROUP BY kind ORDER BY kind`,
      [tenantId, userId],
    );
    return { total: rows.reduce((a, r) => a + r.c, 0), kinds: Object.fromEntries(rows.map((r) => [r.kind, r.c])) };
  }

  async head(tenantId: string, userId: string): Promise<string | null> {
    const { rows } = await this.#db.query<{ id: string | null }>(`WITH ${MINE} SELECT max(id) AS id FROM mine`, [tenantId, userId]);
    return rows[0]?.id ?? null;
  }

  async markRead(tenantId: string, userId: string, sel: ReadSelection, now: number): Promise<number> {
    const readBroadcasts = (filter: string) => `INSERT INTO notification_reads (tenant_id, user_id, notification_id, read_at)
      SELECT $1::text, $2::text, n.id, $3::bigint FROM notifications n
       WHERE n.tenant_id = $1 AND n.audience = 'tenant' AND n.created_at >= (SELECT created_at FROM users WHERE tenant_id = $1 AND id = $2)${filter}
      ON CONFLICT DO NOTHING`;
    if ('ids' in sel) {
      const ids = [...new Set(sel.ids)];
      return this.#db.tx(async (q) => {
        const { rows } = await q.query<{ id: string }>(`WITH ${MINE} SELECT id FROM mine WHERE id = ANY($3::text[])`, [tenantId, userId, ids]);
        const found = new Set(rows.map((r) => r.id));
        const missing = ids.filter((id) => !found.has(id));
        if (missing.length) throw fail('notification.not_found', undefined, { missing });
        // Both sent at once (pipelined on the transaction's connection).
        const [a, b] = await Promise.all([
          q.query(
            'UPDATE notification_recipients SET read_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL AND notification_id = ANY($4::text[])',
            [tenantId, userId, now, ids],
          ),
          q.query(readBroadcasts(' AND n.id = ANY($4::text[])'), [tenantId, userId, now, ids]),
        ]);
        return a.rowCount + b.rowCount;
      });
    }
    // One statement: both changes commit together.
    const byKind = 'kind' in sel;
    const { rows } = await this.#db.write<{ n: number }>(
      `WITH direct AS (
         UPDATE notification_recipients SET read_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL${byKind ? ' AND kind = $4' : ''} RETURNING 1
       ), broadcast AS (
         ${readBroadcasts(byKind ? ' AND n.kind = $4' : '')} RETURNING 1
       ) SELECT ((SELECT count(*) FROM direct) + (SELECT count(*) FROM broadcast))::int AS n`,
      byKind ? [tenantId, userId, now, sel.kind] : [tenantId, userId, now],
    );
    return rows[0]!.n;
  }
}
