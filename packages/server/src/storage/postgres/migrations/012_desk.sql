-- The front desk (docs/desk.md), as SQLite migration 020: widget keys, website visitors and their visits, desk staff,
-- chats with their queue state, acknowledgements, the event log and the SLA per team. A visitor
-- has at most one open chat, and a claim is a conditional update of the chat's row (state
-- 'request'), so two nodes claiming at once cannot both win.
CREATE TABLE desk_widget_keys (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  id          TEXT COLLATE "C" NOT NULL,
  key_hash    TEXT COLLATE "C" NOT NULL UNIQUE,
  name        TEXT COLLATE "C" NOT NULL,
  origins     TEXT COLLATE "C" NOT NULL,              -- JSON array of origins ([] = any)
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE desk_visitors (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  id          TEXT COLLATE "C" NOT NULL,              -- vid (23), also the Careline user id
  fp          TEXT COLLATE "C" NOT NULL,
  created_at  BIGINT NOT NULL,
  seen_at     BIGINT NOT NULL,
  track_id    TEXT COLLATE "C",
  url         TEXT COLLATE "C",
  title       TEXT COLLATE "C",
  referer     TEXT COLLATE "C",
  os          TEXT COLLATE "C",
  browser     TEXT COLLATE "C",
  patient_id  TEXT COLLATE "C",
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX desk_visitors_seen ON desk_visitors (tenant_id, seen_at);

CREATE TABLE desk_visits (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  id          TEXT COLLATE "C" NOT NULL,              -- tid (53)
  visitor_id  TEXT COLLATE "C" NOT NULL,
  url         TEXT COLLATE "C" NOT NULL,
  title       TEXT COLLATE "C" NOT NULL,
  referer     TEXT COLLATE "C" NOT NULL,
  os          TEXT COLLATE "C" NOT NULL,
  browser     TEXT COLLATE "C" NOT NULL,
  at          BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id, at)
);
CREATE INDEX desk_visits_visitor ON desk_visits (tenant_id, visitor_id, at);

CREATE TABLE desk_staff (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  user_id     TEXT COLLATE "C" NOT NULL,
  sid         TEXT COLLATE "C" NOT NULL,              -- 19 chars
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id),
  UNIQUE (tenant_id, sid)
);

CREATE TABLE desk_chats (
  tenant_id          TEXT COLLATE "C" NOT NULL,
  id                 TEXT COLLATE "C" NOT NULL,       -- 25 chars, also the conversation id
  visitor_id         TEXT COLLATE "C" NOT NULL,
  team_id            TEXT COLLATE "C" NOT NULL,       -- '' = the organisation's queue
  state              TEXT COLLATE "C" NOT NULL,       -- request | active | closed
  staff_id           TEXT COLLATE "C",                -- the holder
  created_at         BIGINT NOT NULL,
  queued_at          BIGINT NOT NULL,    -- its place in the queue
  queue_round        BIGINT NOT NULL,    -- 1, +1 each time it goes back to a queue
  claimed_at         BIGINT,
  first_response_at  BIGINT,
  closed_at          BIGINT,
  outcome            TEXT COLLATE "C",
  note               TEXT COLLATE "C",
  escalated_at       BIGINT,
  session_id         TEXT COLLATE "C",                -- continued as a consultation: the session…
  topic_id           TEXT COLLATE "C",                -- …and its topic
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX desk_chats_open ON desk_chats (tenant_id, visitor_id) WHERE state <> 'closed';
CREATE INDEX desk_chats_queue ON desk_chats (tenant_id, state, queued_at, id);
CREATE INDEX desk_chats_staff ON desk_chats (tenant_id, staff_id, state);
CREATE INDEX desk_chats_created ON desk_chats (tenant_id, created_at);

CREATE TABLE desk_acks (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  chat_id    TEXT COLLATE "C" NOT NULL,
  user_id    TEXT COLLATE "C" NOT NULL,
  at         BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, chat_id, user_id)
);

CREATE TABLE desk_events (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  mid        TEXT COLLATE "C" NOT NULL,               -- 20 chars, time-ordered
  chat_id    TEXT COLLATE "C" NOT NULL,
  type       TEXT COLLATE "C" NOT NULL,
  body       TEXT COLLATE "C" NOT NULL,               -- the event as sent (JSON)
  at         BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, mid)
);
CREATE INDEX desk_events_chat ON desk_events (tenant_id, chat_id, mid);

CREATE TABLE desk_sla (
  tenant_id    TEXT COLLATE "C" NOT NULL,
  team_id      TEXT COLLATE "C" NOT NULL,             -- '' = the organisation's default
  sla_seconds  BIGINT NOT NULL,
  lead_id      TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant_id, team_id)
);
