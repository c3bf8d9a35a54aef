-- Tenants, integrator apps, users, login sessions.
CREATE TABLE tenants (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE apps (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL REFERENCES tenants(id),
  name        TEXT NOT NULL,
  key_hash    TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);

CREATE TABLE users (
  tenant_id   TEXT NOT NULL,
  id          TEXT NOT NULL,
  role        TEXT NOT NULL,
  name        TEXT NOT NULL,
  avatar      TEXT,
  disabled    INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE auth_sessions (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  platform    TEXT,
  device_id   TEXT,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE INDEX auth_sessions_user ON auth_sessions (tenant_id, user_id);

-- Conversations ("sessions" in the /api/v2 paths) and their participants.
CREATE TABLE conversations (
  tenant_id        TEXT NOT NULL,
  id               TEXT NOT NULL,
  type             INTEGER NOT NULL,
  business_type    INTEGER NOT NULL,
  name             TEXT NOT NULL,
  status           INTEGER NOT NULL DEFAULT 0,
  created_by       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  last_seq         INTEGER NOT NULL DEFAULT 0,
  last_message_at  INTEGER,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE participants (
  tenant_id        TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  user_id          TEXT NOT NULL,
  role             TEXT NOT NULL,
  joined_at        INTEGER NOT NULL,
  joined_seq       INTEGER NOT NULL,
  read_seq         INTEGER NOT NULL,
  sticky_at        INTEGER,
  PRIMARY KEY (tenant_id, conversation_id, user_id)
);
CREATE INDEX participants_user ON participants (tenant_id, user_id);

-- Messages: one row per message, addressed by (conversation, seq); seq has no gaps.
CREATE TABLE messages (
  tenant_id        TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  id               TEXT NOT NULL,
  sender_id        TEXT NOT NULL,
  type             INTEGER NOT NULL,
  content          TEXT,
  client_id        TEXT,
  created_at       INTEGER NOT NULL,
  recalled_at      INTEGER,
  forward          TEXT,
  PRIMARY KEY (tenant_id, conversation_id, seq)
);
CREATE UNIQUE INDEX messages_id ON messages (tenant_id, id);
CREATE UNIQUE INDEX messages_client_id ON messages (tenant_id, sender_id, client_id) WHERE client_id IS NOT NULL;
