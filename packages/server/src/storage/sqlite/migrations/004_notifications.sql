-- Notifications (the push catalogue of the family-doctor server), care teams, user tags and
-- per-tenant settings.

-- Custom notification kinds a tenant registered (the built-in ones are in the code).
CREATE TABLE notification_kinds (
  tenant_id   TEXT NOT NULL,
  kind        TEXT NOT NULL,
  mode        TEXT NOT NULL,            -- each | latest
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, kind)
);

-- Each notification is stored once. `mode` is its kind's mode when sent (a kind never changes mode).
CREATE TABLE notifications (
  tenant_id    TEXT NOT NULL,
  id           TEXT NOT NULL,           -- ULID: orders the inbox and the catch-up cursor
  kind         TEXT NOT NULL,
  mode         TEXT NOT NULL,
  title        TEXT NOT NULL,
  body         TEXT,
  data         TEXT,                    -- JSON
  sender_id    TEXT,
  audience     TEXT NOT NULL,           -- user | users | team | tag | tenant
  audience_id  TEXT,
  created_by   TEXT NOT NULL,           -- the app
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
-- Tenant-wide broadcasts: never expanded to rows per user.
CREATE INDEX notifications_broadcast ON notifications (tenant_id, created_at) WHERE audience = 'tenant';

-- Who gets a notification sent to users, a team or a tag: one row per user, written in the
-- transaction that stores the notification. kind and mode are copied for the inbox queries.
CREATE TABLE notification_recipients (
  tenant_id        TEXT NOT NULL,
  user_id          TEXT NOT NULL,
  notification_id  TEXT NOT NULL,
  kind             TEXT NOT NULL,
  mode             TEXT NOT NULL,
  read_at          INTEGER,
  PRIMARY KEY (tenant_id, user_id, notification_id)
) WITHOUT ROWID;

-- A user's read state of a broadcast, written when the user reads it.
CREATE TABLE notification_reads (
  tenant_id        TEXT NOT NULL,
  user_id          TEXT NOT NULL,
  notification_id  TEXT NOT NULL,
  read_at          INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id, notification_id)
) WITHOUT ROWID;

-- Care teams: named sets of users of the tenant.
CREATE TABLE teams (
  tenant_id   TEXT NOT NULL,
  id          TEXT NOT NULL,
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE team_members (
  tenant_id  TEXT NOT NULL,
  team_id    TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  PRIMARY KEY (tenant_id, team_id, user_id)
) WITHOUT ROWID;
CREATE INDEX team_members_user ON team_members (tenant_id, user_id);

-- Tags of users (the integrator's own labels: "diabetes", "district-3", …).
CREATE TABLE user_tags (
  tenant_id  TEXT NOT NULL,
  tag        TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  PRIMARY KEY (tenant_id, tag, user_id)
) WITHOUT ROWID;
CREATE INDEX user_tags_user ON user_tags (tenant_id, user_id);

-- Per-tenant settings; a tenant without a row has the defaults.
CREATE TABLE tenant_settings (
  tenant_id          TEXT PRIMARY KEY,
  connection_policy  TEXT NOT NULL DEFAULT 'allow_many',   -- allow_many | kick
  updated_at         INTEGER NOT NULL
);
