-- The core tables (those of SQLite migrations 001, 003 and 007, as they are now): tenants,
-- integrator apps, users, login sessions, conversations and their participants, messages,
-- topics. Times are BIGINT milliseconds; ids compare as bytes (COLLATE "C"), as in SQLite,
-- so id order and cursors are the same on both backends. Message content is the JSON text
-- the client sent (TEXT, as given), not JSONB.

CREATE TABLE tenants (
  id          TEXT COLLATE "C" PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);

CREATE TABLE apps (
  id          TEXT COLLATE "C" PRIMARY KEY,
  tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
  name        TEXT NOT NULL,
  key_hash    TEXT NOT NULL UNIQUE,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT
);

CREATE TABLE users (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  id          TEXT COLLATE "C" NOT NULL,
  role        TEXT NOT NULL,
  name        TEXT NOT NULL,
  avatar      TEXT,
  disabled    BOOLEAN NOT NULL DEFAULT false,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE auth_sessions (
  id          TEXT COLLATE "C" PRIMARY KEY,
  tenant_id   TEXT COLLATE "C" NOT NULL,
  user_id     TEXT COLLATE "C" NOT NULL,
  platform    TEXT,
  device_id   TEXT,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  revoked_at  BIGINT
);
CREATE INDEX auth_sessions_user ON auth_sessions (tenant_id, user_id);
-- Pruning reads only the rows it deletes.
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);
CREATE INDEX auth_sessions_revoked ON auth_sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Conversations ("sessions" in the /api/v2 paths). `last_seq` is the head: an append
-- raises it with UPDATE … RETURNING, which holds the row until commit, so the seqs of a
-- conversation are gap-free whichever node writes.
CREATE TABLE conversations (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  type             INTEGER NOT NULL,
  business_type    INTEGER NOT NULL,
  name             TEXT NOT NULL,
  status           INTEGER NOT NULL DEFAULT 0,
  created_by       TEXT NOT NULL,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL,
  last_seq         BIGINT NOT NULL DEFAULT 0,
  last_message_at  BIGINT,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE participants (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  conversation_id  TEXT COLLATE "C" NOT NULL,
  user_id          TEXT COLLATE "C" NOT NULL,
  role             TEXT NOT NULL,
  joined_at        BIGINT NOT NULL,
  joined_seq       BIGINT NOT NULL,
  read_seq         BIGINT NOT NULL,
  sticky_at        BIGINT,
  PRIMARY KEY (tenant_id, conversation_id, user_id)
);
CREATE INDEX participants_user ON participants (tenant_id, user_id);

-- Messages: one row per message, addressed by (conversation, seq); seq has no gaps.
-- messages_client_id is the de-duplication of resends across nodes: a (sender, client_id)
-- is stored once per tenant (NULLs are distinct: messages without one never collide). Not a
-- partial index: an append looks a batch's client ids up through it in a join, and the
-- planner uses a partial index for restrictions only, not for join conditions.
CREATE TABLE messages (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  conversation_id  TEXT COLLATE "C" NOT NULL,
  seq              BIGINT NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  sender_id        TEXT COLLATE "C" NOT NULL,
  type             INTEGER NOT NULL,
  content          TEXT,
  client_id        TEXT COLLATE "C",
  created_at       BIGINT NOT NULL,
  recalled_at      BIGINT,
  forward          TEXT,
  PRIMARY KEY (tenant_id, conversation_id, seq)
);
CREATE UNIQUE INDEX messages_id ON messages (tenant_id, id);
CREATE UNIQUE INDEX messages_client_id ON messages (tenant_id, sender_id, client_id);

-- Consultations ("topics") inside a session. status 0 open / 10 ended; reply 0 no care-team
-- reply yet / 1 replied. Messages belong to a topic by seq: start_seq ≤ seq ≤ end_seq.
CREATE TABLE topics (
  tenant_id         TEXT COLLATE "C" NOT NULL,
  id                TEXT COLLATE "C" NOT NULL,
  session_id        TEXT COLLATE "C" NOT NULL,
  name              TEXT NOT NULL,
  description       TEXT,
  patient_id        TEXT COLLATE "C",
  team_id           TEXT COLLATE "C",
  doctor_id         TEXT COLLATE "C",
  consult_type      TEXT,
  status            INTEGER NOT NULL DEFAULT 0,
  reply             INTEGER NOT NULL DEFAULT 0,
  start_message_id  TEXT,
  start_seq         BIGINT NOT NULL,
  end_message_id    TEXT,
  end_seq           BIGINT,
  created_at        BIGINT NOT NULL,
  created_by        TEXT NOT NULL,
  ended_at          BIGINT,
  ended_by          TEXT,
  first_reply_at    BIGINT,
  first_reply_by    TEXT,
  entered_at        BIGINT,
  PRIMARY KEY (tenant_id, id)
);
-- At most one open topic per session, whichever node starts it.
CREATE UNIQUE INDEX topics_one_open ON topics (tenant_id, session_id) WHERE status = 0;
CREATE INDEX topics_session ON topics (tenant_id, session_id, created_at);
CREATE INDEX topics_team ON topics (tenant_id, team_id, created_at);
CREATE INDEX topics_doctor ON topics (tenant_id, doctor_id, created_at);
CREATE INDEX topics_patient ON topics (tenant_id, patient_id, created_at);
CREATE INDEX topics_created ON topics (tenant_id, created_at);
