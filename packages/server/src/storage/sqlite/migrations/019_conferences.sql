-- Scheduled video conferences (docs/conferences.md): one row per conference, one per
-- participant, one per access token issued, and every status transition. Changes are
-- conditional writes on the conference's version. Access tokens are stored as their SHA-256
-- only; a token row stays after it is revoked, so a revoked token is told apart from a wrong one.
CREATE TABLE conferences (
  tenant_id         TEXT NOT NULL,
  id                TEXT NOT NULL,
  status            TEXT NOT NULL,       -- scheduled | open | started | finished | cancelled
  title             TEXT NOT NULL,
  starts_at         INTEGER NOT NULL,
  duration_seconds  INTEGER NOT NULL,
  ends_at           INTEGER NOT NULL,
  vertical          TEXT NOT NULL,       -- medicine | general
  language          TEXT NOT NULL,       -- ru | en | he | zh
  created_by        TEXT NOT NULL,
  created_by_role   TEXT NOT NULL,       -- client | specialist
  created_at        INTEGER NOT NULL,
  opened_at         INTEGER,
  started_at        INTEGER,
  ended_at          INTEGER,
  end_reason        TEXT,                -- finished | time | cancelled
  conversation_id   TEXT,
  topic_id          TEXT,
  room              INTEGER NOT NULL,    -- the Janus videoroom id
  room_secret       TEXT NOT NULL,
  room_pin          TEXT NOT NULL,
  arrived_at        INTEGER,             -- waiting room: when its client arrived
  admitted_at       INTEGER,             -- waiting room: when the specialist admitted them
  version           INTEGER NOT NULL,
  info_version      INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX conferences_waiting ON conferences (tenant_id, conversation_id, arrived_at) WHERE conversation_id IS NOT NULL AND arrived_at IS NOT NULL AND admitted_at IS NULL;

CREATE TABLE conference_participants (
  tenant_id      TEXT NOT NULL,
  conference_id  TEXT NOT NULL,
  user_id        TEXT NOT NULL,
  name           TEXT NOT NULL,
  role           TEXT NOT NULL,          -- client | specialist
  careline_user  INTEGER NOT NULL,
  ord            INTEGER NOT NULL,
  token_version  INTEGER NOT NULL,       -- the current access token's number (a conference token names it)
  revoked_at     INTEGER,
  joined_at      INTEGER,
  left_at        INTEGER,
  PRIMARY KEY (tenant_id, conference_id, user_id)
);

CREATE TABLE conference_tokens (
  token_hash     TEXT NOT NULL PRIMARY KEY,  -- SHA-256 of the access token, hex
  tenant_id      TEXT NOT NULL,
  conference_id  TEXT NOT NULL,
  user_id        TEXT NOT NULL,
  version        INTEGER NOT NULL,
  revoked_at     INTEGER
);
CREATE INDEX conference_tokens_participant ON conference_tokens (tenant_id, conference_id, user_id);

CREATE TABLE conference_transitions (
  tenant_id      TEXT NOT NULL,
  conference_id  TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  from_status    TEXT,
  to_status      TEXT NOT NULL,
  action         TEXT NOT NULL,
  by_id          TEXT NOT NULL,
  reason         TEXT,
  at             INTEGER NOT NULL,
  node           TEXT NOT NULL,
  PRIMARY KEY (tenant_id, conference_id, seq)
);
