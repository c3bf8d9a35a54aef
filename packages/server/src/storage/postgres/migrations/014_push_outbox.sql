-- Push, round two, as SQLite migration 022: an install's VoIP token, a user's phone for SMS,
-- the escalation ladder's policies, each push's status per channel.
ALTER TABLE devices ADD COLUMN voip_token TEXT;

CREATE TABLE push_sms_users (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  user_id     TEXT COLLATE "C" NOT NULL,
  phone       TEXT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE push_escalation (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  user_id     TEXT COLLATE "C" NOT NULL,
  policy      TEXT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE push_deliveries (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  subject_id  TEXT COLLATE "C" NOT NULL,
  user_id     TEXT COLLATE "C" NOT NULL,
  channel     TEXT COLLATE "C" NOT NULL,
  status      TEXT NOT NULL,
  detail      TEXT,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subject_id, user_id, channel)
);
