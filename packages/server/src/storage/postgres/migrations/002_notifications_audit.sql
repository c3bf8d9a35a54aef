-- Notifications, care teams, user tags, tenant settings and the audit log (the tables of
-- SQLite migrations 002, 004, 006, 008 and 012, as they are now), for several server nodes
-- writing at once. Ids, kinds and tags compare as bytes (COLLATE "C"), as in SQLite: the
-- inbox and its cursors order by id. JSON is kept as text, as it was given (audit details in
-- their canonical form, which the hash covers).

-- Custom notification kinds a tenant registered (the built-in ones are in the code).
CREATE TABLE notification_kinds (
  tenant_id      TEXT COLLATE "C" NOT NULL,
  kind           TEXT COLLATE "C" NOT NULL,
  mode           TEXT NOT NULL,                 -- each | latest
  created_at     BIGINT NOT NULL,
  display_name   TEXT,
  display_names  TEXT,                          -- JSON object per language tag; NULL: none
  PRIMARY KEY (tenant_id, kind)
);

-- Each notification is stored once. `tenant_seq`: the tenant's notification sequence 1, 2, 3…
-- in commit order; the id (ULID) grows with it (the store replaces an id that would not).
CREATE TABLE notifications (
  tenant_id    TEXT COLLATE "C" NOT NULL,
  id           TEXT COLLATE "C" NOT NULL,
  tenant_seq   BIGINT NOT NULL,
  kind         TEXT COLLATE "C" NOT NULL,
  mode         TEXT NOT NULL,
  title        TEXT NOT NULL,
  body         TEXT,
  data         TEXT,                            -- JSON
  sender_id    TEXT,
  audience     TEXT NOT NULL,                   -- user | users | team | tag | tenant
  audience_id  TEXT,
  created_by   TEXT NOT NULL,                   -- the app
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, tenant_seq)
);
-- Tenant-wide broadcasts: never expanded to rows per user.
CREATE INDEX notifications_broadcast ON notifications (tenant_id, created_at) WHERE audience = 'tenant';

-- Each tenant's newest notification (its seq and id): the row a create locks, so that seq
-- and id are assigned in commit order across nodes.
CREATE TABLE notification_heads (
  tenant_id  TEXT COLLATE "C" PRIMARY KEY,
  seq        BIGINT NOT NULL,
  id         TEXT COLLATE "C" NOT NULL
);

-- Who gets a notification sent to users, a team or a tag: one row per user, written in the
-- transaction that stores the notification. kind and mode are copied for the inbox queries.
CREATE TABLE notification_recipients (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  user_id          TEXT COLLATE "C" NOT NULL,
  notification_id  TEXT COLLATE "C" NOT NULL,
  kind             TEXT COLLATE "C" NOT NULL,
  mode             TEXT NOT NULL,
  read_at          BIGINT,
  PRIMARY KEY (tenant_id, user_id, notification_id)
);
-- The recipients of one notification (the gap fill reads them with the notification).
CREATE INDEX notification_recipients_notification ON notification_recipients (tenant_id, notification_id);

-- A user's read state of a broadcast, written when the user reads it.
CREATE TABLE notification_reads (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  user_id          TEXT COLLATE "C" NOT NULL,
  notification_id  TEXT COLLATE "C" NOT NULL,
  read_at          BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id, notification_id)
);

-- Care teams: named sets of users of the tenant.
CREATE TABLE teams (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  id          TEXT COLLATE "C" NOT NULL,
  name        TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE team_members (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  team_id    TEXT COLLATE "C" NOT NULL,
  user_id    TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant_id, team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (tenant_id, user_id);

-- Tags of users (the integrator's own labels: "diabetes", "district-3", …).
CREATE TABLE user_tags (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  tag        TEXT COLLATE "C" NOT NULL,
  user_id    TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant_id, tag, user_id)
);
CREATE INDEX user_tags_user ON user_tags (tenant_id, user_id);

-- Per-tenant settings; a tenant without a row has the defaults (the store's).
CREATE TABLE tenant_settings (
  tenant_id           TEXT COLLATE "C" PRIMARY KEY,
  connection_policy   TEXT NOT NULL,              -- notify | allow_many | kick
  patient_to_patient  BOOLEAN NOT NULL DEFAULT false,
  updated_at          BIGINT NOT NULL
);

-- The audit log: who read which patient conversation, when; a hash chain per tenant.
--   seq        position in the tenant's chain: 1, 2, 3… with no gaps
--   prev_hash  the hash of the tenant's record seq - 1 (64 zeros for seq 1)
--   hash       SHA-256 of the record's canonical form (domain/audit.ts), prev_hash included
-- The store computes seq and hashes inside the append transaction, holding the tenant's row
-- of audit_heads, so the chain's order is the commit order whichever node appends.
CREATE TABLE audit_log (
  id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id        TEXT COLLATE "C" NOT NULL,
  seq              BIGINT,
  at               BIGINT NOT NULL,
  actor_kind       TEXT NOT NULL,
  actor_id         TEXT NOT NULL,
  app_id           TEXT,
  action           TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  detail           TEXT,                        -- canonical JSON (RFC 8785)
  prev_hash        TEXT,
  hash             TEXT
);
CREATE UNIQUE INDEX audit_log_chain ON audit_log (tenant_id, seq);
CREATE INDEX audit_log_conversation ON audit_log (tenant_id, conversation_id, id);
CREATE INDEX audit_log_actor ON audit_log (tenant_id, actor_id, id);
CREATE INDEX audit_log_app ON audit_log (tenant_id, app_id, id);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
-- Records outside the chain (none, unless written behind the server's back): counted without a scan.
CREATE INDEX audit_log_unchained ON audit_log (tenant_id) WHERE seq IS NULL;

-- Each tenant's newest chained record: the row an append locks.
CREATE TABLE audit_heads (
  tenant_id  TEXT COLLATE "C" PRIMARY KEY,
  seq        BIGINT NOT NULL,
  hash       TEXT NOT NULL
);

-- Append-only: a chained record is never updated, no record is deleted, the table is not truncated.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW WHEN (OLD.hash IS NOT NULL) EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
