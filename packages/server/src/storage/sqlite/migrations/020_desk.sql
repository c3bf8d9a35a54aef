-- The front desk (docs/desk.md): widget keys, website visitors and their visits, desk staff,
-- chats with their queue state, acknowledgements, the event log and the SLA per team. A visitor
-- has at most one open chat, and a claim is a conditional update of the chat's row (state
-- 'request'), so two nodes claiming at once cannot both win.
CREATE TABLE desk_widget_keys (
  tenant_id   TEXT NOT NULL,
  id          TEXT NOT NULL,
  key_hash    TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  origins     TEXT NOT NULL,              -- JSON array of origins ([] = any)
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE desk_visitors (
  tenant_id   TEXT NOT NULL,
  id          TEXT NOT NULL,              -- vid (23), also the Careline user id
  fp          TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  seen_at     INTEGER NOT NULL,
  track_id    TEXT,
  url         TEXT,
  title       TEXT,
  referer     TEXT,
  os          TEXT,
  browser     TEXT,
  patient_id  TEXT,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX desk_visitors_seen ON desk_visitors (tenant_id, seen_at);

CREATE TABLE desk_visits (
  tenant_id   TEXT NOT NULL,
  id          TEXT NOT NULL,              -- tid (53)
  visitor_id  TEXT NOT NULL,
  url         TEXT NOT NULL,
  title       TEXT NOT NULL,
  referer     TEXT NOT NULL,
  os          TEXT NOT NULL,
  browser     TEXT NOT NULL,
  at          INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id, at)
);
CREATE INDEX desk_visits_visitor ON desk_visits (tenant_id, visitor_id, at);

CREATE TABLE desk_staff (
  tenant_id   TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  sid         TEXT NOT NULL,              -- 19 chars
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id),
  UNIQUE (tenant_id, sid)
);

CREATE TABLE desk_chats (
  tenant_id          TEXT NOT NULL,
  id                 TEXT NOT NULL,       -- 25 chars, also the conversation id
  visitor_id         TEXT NOT NULL,
  team_id            TEXT NOT NULL,       -- '' = the organisation's queue
  state              TEXT NOT NULL,       -- request | active | closed
  staff_id           TEXT,                -- the holder
  created_at         INTEGER NOT NULL,
  queued_at          INTEGER NOT NULL,    -- its place in the queue
  queue_round        INTEGER NOT NULL,    -- 1, +1 each time it goes back to a queue
  claimed_at         INTEGER,
  first_response_at  INTEGER,
  closed_at          INTEGER,
  outcome            TEXT,
  note               TEXT,
  escalated_at       INTEGER,
  session_id         TEXT,                -- continued as a consultation: the session…
  topic_id           TEXT,                -- …and its topic
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX desk_chats_open ON desk_chats (tenant_id, visitor_id) WHERE state <> 'closed';
CREATE INDEX desk_chats_queue ON desk_chats (tenant_id, state, queued_at, id);
CREATE INDEX desk_chats_staff ON desk_chats (tenant_id, staff_id, state);
CREATE INDEX desk_chats_created ON desk_chats (tenant_id, created_at);

CREATE TABLE desk_acks (
  tenant_id  TEXT NOT NULL,
  chat_id    TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  at         INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, chat_id, user_id)
);

CREATE TABLE desk_events (
  tenant_id  TEXT NOT NULL,
  mid        TEXT NOT NULL,               -- 20 chars, time-ordered
  chat_id    TEXT NOT NULL,
  type       TEXT NOT NULL,
  body       TEXT NOT NULL,               -- the event as sent (JSON)
  at         INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, mid)
);
CREATE INDEX desk_events_chat ON desk_events (tenant_id, chat_id, mid);

CREATE TABLE desk_sla (
  tenant_id    TEXT NOT NULL,
  team_id      TEXT NOT NULL,             -- '' = the organisation's default
  sla_seconds  INTEGER NOT NULL,
  lead_id      TEXT NOT NULL,
  PRIMARY KEY (tenant_id, team_id)
);
