-- Push, round two: an install's VoIP token (APNs PushKit, for call invites), a user's phone
-- number for SMS, the escalation ladder's policies (per tenant: user_id '' ; per user), and
-- each push's status per channel. The after-commit outbox uses the jobs table (migration 010).
ALTER TABLE devices ADD COLUMN voip_token TEXT;

CREATE TABLE push_sms_users (
  tenant_id   TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  phone       TEXT NOT NULL,              -- E.164
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE push_escalation (
  tenant_id   TEXT NOT NULL,
  user_id     TEXT NOT NULL,              -- '' : the tenant's policy
  policy      TEXT NOT NULL,              -- JSON {enabled, conversation_types, steps: [{channel, after_seconds}]}
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);

-- One row per (subject, user, channel): a message's (or notification's, or call's) push to one
-- user over one channel, its latest status.
CREATE TABLE push_deliveries (
  tenant_id   TEXT NOT NULL,
  subject_id  TEXT NOT NULL,              -- message, notification or call id
  user_id     TEXT NOT NULL,
  channel     TEXT NOT NULL,              -- apns | fcm | webpush | huawei | xiaomi | wechat | sms
  status      TEXT NOT NULL,              -- queued | sent | failed | delivered | escalated | dropped
  detail      TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, subject_id, user_id, channel)
);
