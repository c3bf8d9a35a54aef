-- Scheduled video conferences (docs/conferences.md), as SQLite migration 019: one row per conference, one per
-- participant, one per access token issued, and every status transition. Changes are
-- conditional writes on the conference's version. Access tokens are stored as their SHA-256
-- only; a token row stays after it is revoked, so a revoked token is told apart from a wrong one.
CREATE TABLE conferences (
  tenant_id         TEXT COLLATE "C" NOT NULL,
  id                TEXT COLLATE "C" NOT NULL,
  status            TEXT COLLATE "C" NOT NULL,       -- scheduled | open | started | finished | cancelled
  title             TEXT COLLATE "C" NOT NULL,
  starts_at         BIGINT NOT NULL,
  duration_seconds  BIGINT NOT NULL,
  ends_at           BIGINT NOT NULL,
  vertical          TEXT COLLATE "C" NOT NULL,       -- medicine | general
  language          TEXT COLLATE "C" NOT NULL,       -- ru | en | he | zh
  created_by        TEXT COLLATE "C" NOT NULL,
  created_by_role   TEXT COLLATE "C" NOT NULL,       -- client | specialist
  created_at        BIGINT NOT NULL,
  opened_at         BIGINT,
  started_at        BIGINT,
  ended_at          BIGINT,
  end_reason        TEXT COLLATE "C",                -- finished | time | cancelled
  conversation_id   TEXT COLLATE "C",
  topic_id          TEXT COLLATE "C",
  room              BIGINT NOT NULL,    -- the Janus videoroom id
  room_secret       TEXT COLLATE "C" NOT NULL,
  room_pin          TEXT COLLATE "C" NOT NULL,
  arrived_at        BIGINT,             -- waiting room: when its client arrived
  admitted_at       BIGINT,             -- waiting room: when the specialist admitted them
  version           BIGINT NOT NULL,
  info_version      BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX conferences_waiting ON conferences (tenant_id, conversation_id, arrived_at) WHERE conversation_id IS NOT NULL AND arrived_at IS NOT NULL AND admitted_at IS NULL;

CREATE TABLE conference_participants (
  tenant_id      TEXT COLLATE "C" NOT NULL,
  conference_id  TEXT COLLATE "C" NOT NULL,
  user_id        TEXT COLLATE "C" NOT NULL,
  name           TEXT COLLATE "C" NOT NULL,
  role           TEXT COLLATE "C" NOT NULL,          -- client | specialist
  careline_user  BOOLEAN NOT NULL,
  ord            INT NOT NULL,
  token_version  BIGINT NOT NULL,       -- the current access token's number (a conference token names it)
  revoked_at     BIGINT,
  joined_at      BIGINT,
  left_at        BIGINT,
  PRIMARY KEY (tenant_id, conference_id, user_id)
);

CREATE TABLE conference_tokens (
  token_hash     TEXT COLLATE "C" NOT NULL PRIMARY KEY,  -- SHA-256 of the access token, hex
  tenant_id      TEXT COLLATE "C" NOT NULL,
  conference_id  TEXT COLLATE "C" NOT NULL,
  user_id        TEXT COLLATE "C" NOT NULL,
  version        BIGINT NOT NULL,
  revoked_at     BIGINT
);
CREATE INDEX conference_tokens_participant ON conference_tokens (tenant_id, conference_id, user_id);

CREATE TABLE conference_transitions (
  tenant_id      TEXT COLLATE "C" NOT NULL,
  conference_id  TEXT COLLATE "C" NOT NULL,
  seq            INT NOT NULL,
  from_status    TEXT COLLATE "C",
  to_status      TEXT COLLATE "C" NOT NULL,
  action         TEXT COLLATE "C" NOT NULL,
  by_id          TEXT COLLATE "C" NOT NULL,
  reason         TEXT COLLATE "C",
  at             BIGINT NOT NULL,
  node           TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant_id, conference_id, seq)
);
