/**
 * Notifications in SQLite. A notification is one row of `notifications`; user, list, team and
 * tag targets add one `notification_recipients` row per user in the same transaction; a
 * tenant broadcast adds none (its per-user read state goes to `notification_reads` when read).
 *
 * Every inbox query starts from the same two common table expressions:
 * - `mine`: the user's recipient rows ∪ the tenant's broadcasts created since the user was;
 * - `visible`: `mine` with only the newest item of each `latest`-mode kind (SQLite returns
 *   the bare columns of the row holding MAX(id)).
 */
import { sqliteOutbox } from './jobs-outbox.ts';
import type { NotificationStore } from '../../domain/ports.ts';
import type {
  InboxQuery, NewNotification, Notification, NotificationKindDef, NotificationKindNamesInput, NotificationMode, NotificationTarget, NotificationUnread,
} from '../../domain/types.ts';
import { fail } from '../../domain/errors.ts';
import { toNotification, type NotificationRow } from '../rows.ts';
import { nextIdAfter } from '../../domain/ids.ts';
import { StatementCache, type Db } from './db.ts';

const USER_CREATED = '(SELECT created_at FROM users WHERE tenant_id = @t AND id = @u)';

const MINE = `mine AS (
  SELECT r.notification_id AS id, r.kind, r.mode, r.read_at FROM notification_recipients r
   WHERE r.tenant_id = @t AND r.user_id = @u
  UNION ALL
  SELECT n.id, n.kind, n.mode, x.read_at FROM notifications n
   LEFT JOIN notification_reads x ON x.tenant_id = n.tenant_id AND x.user_id = @u AND x.notification_id = n.id
   WHERE n.tenant_id = @t AND n.audience = 'tenant' AND n.created_at >= ${USER_CREATED}
)`;

const VISIBLE = `visible AS (
  SELECT id, kind, read_at FROM mine WHERE mode = 'each'
  UNION ALL
  SELECT MAX(id) AS id, kind, read_at FROM mine WHERE mode = 'latest' GROUP BY kind
)`;

const N_COLS = 'n.id, n.kind, n.title, n.body, n.data, n.sender_id, n.audience, n.audience_id, n.created_at, n.tenant_seq';

const CHUNK = 500;

function chunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK));
  return out;
}

const marks = (n: number) => Array.from({ length: n }, (_, i) => `@p${i}`).join(',');
const params = (list: readonly string[]) => Object.fromEntries(list.map((v, i) => [`p${i}`, v]));

interface KindRow {
  kind: string;
  mode: NotificationMode;
  created_at: number;
  display_name: string | null;
  display_names: string | null;
}

const toKind = (r: KindRow): NotificationKindDef => ({
  kind: r.kind,
  mode: r.mode,
  builtin: false,
  created_at: r.created_at,
  display_name: r.display_name,
  display_names: r.display_names === null ? {} : (JSON.parse(r.display_names) as Record<string, string>),
});

const KIND_COLS = 'kind, mode, created_at, display_name, display_names';

/** `display_names` as stored: JSON, or NULL for none. */
const namesJson = (names: Record<string, string> | null | undefined): string | null =>
  names && Object.keys(names).length > 0 ? JSON.stringify(names) : null;

type CreateResult = { notification: Notification; recipients: string[] | null; count: number };
type SinceItem = { notification: Notification; recipients: string[] | null };
type ReadSelection = { ids: readonly string[] } | { kind: string } | { all: true };

export class SqliteNotificationStore implements NotificationStore {
  readonly #sql: StatementCache;
  readonly #getKind;
  readonly #listKinds;
  readonly #head;
  readonly #latestPerKind;
  readonly #unread;
  readonly #since;
  readonly #recipientsOf;
  readonly #registerKind: (
    tenantId: string, kind: string, mode: NotificationMode, now: number, names: NotificationKindNamesInput,
  ) => { kind: NotificationKindDef; created: boolean };
  readonly #create: (n: NewNotification, target: NotificationTarget) => CreateResult;
  readonly #markRead: (tenantId: string, userId: string, sel: ReadSelection, now: number) => number;

  constructor(db: Db) {
    const sql = (this.#sql = new StatementCache(db));
    this.#getKind = db.prepare(`SELECT ${KIND_COLS} FROM notification_kinds WHERE tenant_id = ? AND kind = ?`);
    this.#listKinds = db.prepare(`SELECT ${KIND_COLS} FROM notification_kinds WHERE tenant_id = ? ORDER BY kind`);
    this.#head = db.prepare(`WITH ${MINE} SELECT MAX(id) FROM mine`).pluck();
    this.#latestPerKind = db.prepare(
      `WITH ${MINE}, latest AS (SELECT MAX(id) AS id, kind, read_at FROM mine GROUP BY kind)
       SELECT ${N_COLS}, l.read_at FROM latest l JOIN notifications n ON n.tenant_id = @t AND n.id = l.id ORDER BY l.id DESC`,
    );
    this.#unread = db.prepare(`WITH ${MINE}, ${VISIBLE} SELECT kind, COUNT(*) AS c FROM visible WHERE read_at IS NULL GROUP BY kind ORDER BY kind`);

    const insertKind = db.prepare(
      'INSERT INTO notification_kinds (tenant_id, kind, mode, created_at, display_name, display_names) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const renameKind = db.prepare('UPDATE notification_kinds SET display_name = ?, display_names = ? WHERE tenant_id = ? AND kind = ?');
    this.#registerKind = db.transaction((tenantId: string, kind: string, mode: NotificationMode, now: number, names: NotificationKindNamesInput) => {
      const existing = this.#kind(tenantId, kind);
      if (existing) {
        if (existing.mode !== mode) throw fail('notification.kind_exists', undefined, { kind, mode: existing.mode });
        const displayName = names.display_name !== undefined ? names.display_name : existing.display_name;
        const displayNames = names.display_names !== undefined ? (names.display_names ?? {}) : existing.display_names;
        if (displayName === existing.display_name && namesJson(displayNames) === namesJson(existing.display_names)) return { kind: existing, created: false };
        renameKind.run(displayName, namesJson(displayNames), tenantId, kind);
        return { kind: this.#kind(tenantId, kind)!, created: false };
      }
      insertKind.run(tenantId, kind, mode, now, names.display_name ?? null, namesJson(names.display_names));
      return { kind: this.#kind(tenantId, kind)!, created: true };
    });

    this.#since = db.prepare(
      `SELECT ${N_COLS}, NULL AS read_at FROM notifications n WHERE n.tenant_id = ? AND n.tenant_seq > ? ORDER BY n.tenant_seq LIMIT ?`,
    );
    this.#recipientsOf = db.prepare('SELECT user_id FROM notification_recipients WHERE tenant_id = ? AND notification_id = ?').pluck();

    const insert = db.prepare(
      `INSERT INTO notifications (tenant_id, id, tenant_seq, kind, mode, title, body, data, sender_id, audience, audience_id, created_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // The tenant's newest notification (ids follow seq): its seq + 1 is the next, and a new id must sort after its id.
    const newest = db.prepare('SELECT id, tenant_seq FROM notifications WHERE tenant_id = ? ORDER BY tenant_seq DESC LIMIT 1');
    // Kept by triggers on `users` (migration 005): no count of the tenant's rows per broadcast.
    const countUsers = db.prepare('SELECT user_count FROM tenants WHERE id = ?').pluck();
    const insertRecipient = db.prepare('INSERT INTO notification_recipients (tenant_id, user_id, notification_id, kind, mode, read_at) VALUES (?, ?, ?, ?, ?, NULL)');
    const teamExists = db.prepare('SELECT 1 FROM teams WHERE tenant_id = ? AND id = ?');
    const teamMembers = db.prepare('SELECT user_id FROM team_members WHERE tenant_id = ? AND team_id = ?').pluck();
    const teamRecipients = db.prepare(
      `INSERT INTO notification_recipients (tenant_id, user_id, notification_id, kind, mode, read_at)
       SELECT tenant_id, user_id, ?, ?, ?, NULL FROM team_members WHERE tenant_id = ? AND team_id = ?`,
    );
    const tagHolders = db.prepare('SELECT user_id FROM user_tags WHERE tenant_id = ? AND tag = ?').pluck();
    const tagRecipients = db.prepare(
      `INSERT INTO notification_recipients (tenant_id, user_id, notification_id, kind, mode, read_at)
       SELECT tenant_id, user_id, ?, ?, ?, NULL FROM user_tags WHERE tenant_id = ? AND tag = ?`,
    );
    // After-commit work (push of addressed notifications) is enqueued in the same transaction (domain/outbox.ts).
    const outbox = sqliteOutbox(db);
    this.#create = db.transaction((n: NewNotification, target: NotificationTarget): CreateResult => {
      const t = n.tenant_id;
      // One writer commits in call order, so the id given is nearly always greater than the
      // newest; a smaller one (another clock, a caller's id) is replaced, as the port says.
      const last = newest.get(t) as { id: string; tenant_seq: number } | undefined;
      const id = last !== undefined && n.id <= last.id ? nextIdAfter(last.id) : n.id;
      const seq = (last?.tenant_seq ?? 0) + 1;
      insert.run(t, id, seq, n.kind, n.mode, n.title, n.body, n.data === null ? null : JSON.stringify(n.data), n.sender_id, n.audience, n.audience_id, n.created_by, n.created_at);
      outbox.notificationStored(t, id, seq, n.created_at);
      const notification: Notification = {
        id, kind: n.kind, title: n.title, body: n.body, data: n.data, sender_id: n.sender_id,
        audience: n.audience, audience_id: n.audience_id, created_at: n.created_at, read_at: null, seq,
      };
      let recipients: string[];
      switch (target.type) {
        case 'tenant':
          return { notification, recipients: null, count: (countUsers.get(t) as number | undefined) ?? 0 };
        case 'users': {
          const ids = [...new Set(target.ids)];
          const found = new Set<string>();
          for (const c of chunks(ids)) {
            const rows = sql.pluck(`SELECT id FROM users WHERE tenant_id = @t AND id IN (${marks(c.length)})`).all({ t, ...params(c) }) as string[];
            for (const id of rows) found.add(id);
          }
          const missing = ids.filter((id) => !found.has(id));
          if (missing.length) throw fail('user.not_found', `Unknown users: ${missing.slice(0, 20).join(', ')}`, { missing });
          for (const u of ids) insertRecipient.run(t, u, id, n.kind, n.mode);
          recipients = ids;
          break;
        }
        case 'team': {
          if (teamExists.get(t, target.id) === undefined) throw fail('team.not_found', undefined, { team: target.id });
          recipients = teamMembers.all(t, target.id) as string[];
          if (recipients.length === 0) throw fail('notification.target_invalid', `Team ${target.id} has no members.`, { team: target.id });
          teamRecipients.run(id, n.kind, n.mode, t, target.id);
          break;
        }
        case 'tag': {
          recipients = tagHolders.all(t, target.tag) as string[];
          if (recipients.length === 0) throw fail('notification.target_invalid', `No user has the tag ${target.tag}.`, { tag: target.tag });
          tagRecipients.run(id, n.kind, n.mode, t, target.tag);
          break;
        }
      }
      return { notification, recipients, count: recipients.length };
    });

    this.#markRead = db.transaction((tenantId: string, userId: string, sel: ReadSelection, now: number): number => {
      const base = { t: tenantId, u: userId, now };
      if ('ids' in sel) {
        const ids = [...new Set(sel.ids)];
        const found = new Set<string>();
        for (const c of chunks(ids)) {
          for (const id of sql.pluck(`WITH ${MINE} SELECT id FROM mine WHERE id IN (${marks(c.length)})`).all({ ...base, ...params(c) }) as string[]) found.add(id);
        }
        const missing = ids.filter((id) => !found.has(id));
        if (missing.length) throw fail('notification.not_found', undefined, { missing });
        let changed = 0;
        for (const c of chunks(ids)) {
          const p = { ...base, ...params(c) };
          changed += sql
            .get(`UPDATE notification_recipients SET read_at = @now WHERE tenant_id = @t AND user_id = @u AND read_at IS NULL AND notification_id IN (${marks(c.length)})`)
            .run(p).changes;
          changed += sql
            .get(
              `INSERT INTO notification_reads (tenant_id, user_id, notification_id, read_at)
               SELECT @t, @u, n.id, @now FROM notifications n
                WHERE n.tenant_id = @t AND n.audience = 'tenant' AND n.created_at >= ${USER_CREATED} AND n.id IN (${marks(c.length)})
               ON CONFLICT DO NOTHING`,
            )
            .run(p).changes;
        }
        return changed;
      }
      const byKind = 'kind' in sel;
      const p = byKind ? { ...base, kind: sel.kind } : base;
      let changed = sql
        .get(`UPDATE notification_recipients SET read_at = @now WHERE tenant_id = @t AND user_id = @u AND read_at IS NULL${byKind ? ' AND kind = @kind' : ''}`)
        .run(p).changes;
      changed += sql
        .get(
          `INSERT INTO notification_reads (tenant_id, user_id, notification_id, read_at)
           SELECT @t, @u, n.id, @now FROM notifications n
            WHERE n.tenant_id = @t AND n.audience = 'tenant' AND n.created_at >= ${USER_CREATED}${byKind ? ' AND n.kind = @kind' : ''}
           ON CONFLICT DO NOTHING`,
        )
        .run(p).changes;
      return changed;
    });
  }

  async registerKind(
    tenantId: string, kind: string, mode: NotificationMode, now: number, names: NotificationKindNamesInput = {},
  ): Promise<{ kind: NotificationKindDef; created: boolean }> {
    return this.#registerKind(tenantId, kind, mode, now, names);
  }

  async getKind(tenantId: string, kind: string): Promise<NotificationKindDef | null> {
    return this.#kind(tenantId, kind);
  }

  #kind(tenantId: string, kind: string): NotificationKindDef | null {
    const r = this.#getKind.get(tenantId, kind) as KindRow | undefined;
    return r ? toKind(r) : null;
  }

  async listKinds(tenantId: string): Promise<NotificationKindDef[]> {
    return (this.#listKinds.all(tenantId) as KindRow[]).map(toKind);
  }

  async create(n: NewNotification, target: NotificationTarget): Promise<CreateResult> {
    return this.#create(n, target);
  }

  async since(tenantId: string, afterSeq: number, limit: number): Promise<SinceItem[]> {
    // SQLite reads a negative LIMIT as none.
    if (!(limit > 0)) return [];
    const rows = this.#since.all(tenantId, afterSeq, limit) as NotificationRow[];
    return rows.map((r) => ({
      notification: toNotification(r),
      recipients: r.audience === 'tenant' ? null : (this.#recipientsOf.all(tenantId, r.id) as string[]),
    }));
  }

  async inbox(tenantId: string, userId: string, q: InboxQuery): Promise<{ items: Notification[]; next_cursor: string | null }> {
    const where: string[] = [];
    const p: Record<string, unknown> = { t: tenantId, u: userId, limit: q.limit + 1 };
    if (q.kind !== undefined) {
      where.push('v.kind = @kind');
      p.kind = q.kind;
    }
    if (q.unread) where.push('v.read_at IS NULL');
    if (q.before !== undefined) {
      where.push('v.id < @before');
      p.before = q.before;
    }
    const rows = this.#sql
      .get(
        `WITH ${MINE}, ${VISIBLE}
         SELECT ${N_COLS}, v.read_at FROM visible v JOIN notifications n ON n.tenant_id = @t AND n.id = v.id
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY v.id DESC LIMIT @limit`,
      )
      .all(p) as NotificationRow[];
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit).map(toNotification);
    return { items, next_cursor: more ? items[items.length - 1]!.id : null };
  }

  async inboxAfter(tenantId: string, userId: string, q: { after?: string; unread?: boolean; limit: number }): Promise<Notification[]> {
    const where: string[] = [];
    const p: Record<string, unknown> = { t: tenantId, u: userId, limit: q.limit };
    if (q.after !== undefined) {
      where.push('v.id > @after');
      p.after = q.after;
    }
    if (q.unread) where.push('v.read_at IS NULL');
    const rows = this.#sql
      .get(
        `WITH ${MINE}, ${VISIBLE}
         SELECT ${N_COLS}, v.read_at FROM visible v JOIN notifications n ON n.tenant_id = @t AND n.id = v.id
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY v.id ASC LIMIT @limit`,
      )
      .all(p) as NotificationRow[];
    return rows.map(toNotification);
  }

  async latestPerKind(tenantId: string, userId: string): Promise<Notification[]> {
    return (this.#latestPerKind.all({ t: tenantId, u: userId }) as NotificationRow[]).map(toNotification);
  }

  async unread(tenantId: string, userId: string): Promise<NotificationUnread> {
    const rows = this.#unread.all({ t: tenantId, u: userId }) as { kind: string; c: number }[];
    return { total: rows.reduce((a, r) => a + r.c, 0), kinds: Object.fromEntries(rows.map((r) => [r.kind, r.c])) };
  }

  async head(tenantId: string, userId: string): Promise<string | null> {
    return (this.#head.get({ t: tenantId, u: userId }) as string | null) ?? null;
  }

  async markRead(tenantId: string, userId: string, sel: ReadSelection, now: number): Promise<number> {
    return this.#markRead(tenantId, userId, sel, now);
  }
}
