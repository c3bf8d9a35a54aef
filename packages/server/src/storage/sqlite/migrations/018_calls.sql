-- Calls (signalling state, docs/calls.md): one row per call, one per participant. A
-- conversation has at most one live call, and a user is joined in at most one call: both are
-- unique indexes, so two nodes racing cannot break them.
CREATE TABLE calls (
  tenant_id          TEXT NOT NULL,
  id                 TEXT NOT NULL,
  conversation_id    TEXT NOT NULL,
  caller_id          TEXT NOT NULL,
  av_type            TEXT NOT NULL,       -- audio | video
  state              TEXT NOT NULL,       -- ringing | active | ended
  created_at         INTEGER NOT NULL,
  ring_until         INTEGER NOT NULL,
  answered_at        INTEGER,
  ended_at           INTEGER,
  end_reason         TEXT,                -- cancel | timeout | refuse | busy | hangup | lost
  version            INTEGER NOT NULL,
  record_message_id  TEXT,
  record_seq         INTEGER,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX calls_live ON calls (tenant_id, conversation_id) WHERE state <> 'ended';

CREATE TABLE call_participants (
  tenant_id  TEXT NOT NULL,
  call_id    TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  state      TEXT NOT NULL,               -- ringing | joined | refused | busy | missed | left
  joined_at  INTEGER,
  left_at    INTEGER,
  seen_at    INTEGER NOT NULL,
  ord        INTEGER NOT NULL,            -- the caller 0, then the callees in member order
  PRIMARY KEY (tenant_id, call_id, user_id)
);
CREATE UNIQUE INDEX call_participants_line ON call_participants (tenant_id, user_id) WHERE state = 'joined';
CREATE INDEX call_participants_user ON call_participants (tenant_id, user_id, state);
