-- Calls (signalling state, docs/calls.md), as SQLite migration 018: one row per call, one per participant. A
-- conversation has at most one live call, and a user is joined in at most one call: both are
-- unique indexes, so two nodes racing cannot break them.
CREATE TABLE calls (
  tenant_id          TEXT COLLATE "C" NOT NULL,
  id                 TEXT COLLATE "C" NOT NULL,
  conversation_id    TEXT COLLATE "C" NOT NULL,
  caller_id          TEXT COLLATE "C" NOT NULL,
  av_type            TEXT COLLATE "C" NOT NULL,       -- audio | video
  state              TEXT COLLATE "C" NOT NULL,       -- ringing | active | ended
  created_at         BIGINT NOT NULL,
  ring_until         BIGINT NOT NULL,
  answered_at        BIGINT,
  ended_at           BIGINT,
  end_reason         TEXT COLLATE "C",                -- cancel | timeout | refuse | busy | hangup | lost
  version            BIGINT NOT NULL,
  record_message_id  TEXT COLLATE "C",
  record_seq         BIGINT,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX calls_live ON calls (tenant_id, conversation_id) WHERE state <> 'ended';

CREATE TABLE call_participants (
  tenant_id  TEXT COLLATE "C" NOT NULL,
  call_id    TEXT COLLATE "C" NOT NULL,
  user_id    TEXT COLLATE "C" NOT NULL,
  state      TEXT COLLATE "C" NOT NULL,               -- ringing | joined | refused | busy | missed | left
  joined_at  BIGINT,
  left_at    BIGINT,
  seen_at    BIGINT NOT NULL,
  ord        INTEGER NOT NULL,            -- the caller 0, then the callees in member order
  PRIMARY KEY (tenant_id, call_id, user_id)
);
CREATE UNIQUE INDEX call_participants_line ON call_participants (tenant_id, user_id) WHERE state = 'joined';
CREATE INDEX call_participants_user ON call_participants (tenant_id, user_id, state);
