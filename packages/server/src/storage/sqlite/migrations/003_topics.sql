-- Consultations ("topics") inside a session. The id is the host system's consult code.
-- status 0 open / 10 ended; reply 0 no care-team reply yet / 1 replied (as the family-doctor
-- server defined them). Messages belong to a topic by seq: start_seq ≤ seq ≤ end_seq.
CREATE TABLE topics (
  tenant_id         TEXT NOT NULL,
  id                TEXT NOT NULL,
  session_id        TEXT NOT NULL,
  name              TEXT NOT NULL,
  description       TEXT,
  patient_id        TEXT,
  team_id           TEXT,
  doctor_id         TEXT,
  consult_type      TEXT,
  status            INTEGER NOT NULL DEFAULT 0,
  reply             INTEGER NOT NULL DEFAULT 0,
  start_message_id  TEXT,
  start_seq         INTEGER NOT NULL,
  end_message_id    TEXT,
  end_seq           INTEGER,
  created_at        INTEGER NOT NULL,
  created_by        TEXT NOT NULL,
  ended_at          INTEGER,
  ended_by          TEXT,
  first_reply_at    INTEGER,
  first_reply_by    TEXT,
  entered_at        INTEGER,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX topics_session ON topics (tenant_id, session_id, created_at);
CREATE INDEX topics_open ON topics (tenant_id, session_id, status, reply);
CREATE INDEX topics_team ON topics (tenant_id, team_id, created_at);
CREATE INDEX topics_doctor ON topics (tenant_id, doctor_id, created_at);
CREATE INDEX topics_patient ON topics (tenant_id, patient_id, created_at);
CREATE INDEX topics_created ON topics (tenant_id, created_at);
