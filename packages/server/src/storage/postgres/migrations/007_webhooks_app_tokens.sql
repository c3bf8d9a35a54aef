-- Webhook subscriptions, their delivery attempts and third-party apps, as SQLite migration 015.
CREATE TABLE webhooks (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  url              TEXT NOT NULL,
  events           TEXT NOT NULL,
  description      TEXT,
  secret           TEXT NOT NULL,
  status           TEXT NOT NULL,
  disabled_reason  TEXT,
  disabled_at      BIGINT,
  failures         INTEGER NOT NULL DEFAULT 0,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_attempts (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  subscription_id  TEXT COLLATE "C" NOT NULL,
  delivery_id      TEXT COLLATE "C" NOT NULL,
  event_id         TEXT COLLATE "C" NOT NULL,
  event_type       TEXT NOT NULL,
  attempt          INTEGER NOT NULL,
  ok               BOOLEAN NOT NULL,
  status_code      INTEGER,
  latency_ms       INTEGER NOT NULL,
  error            TEXT,
  at               BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subscription_id, id)
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (tenant_id, subscription_id, delivery_id, id);

CREATE TABLE oauth_apps (
  id           TEXT COLLATE "C" PRIMARY KEY,
  tenant_id    TEXT COLLATE "C" NOT NULL,
  name         TEXT NOT NULL,
  secret_hash  TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  revoked_at   BIGINT
);
CREATE INDEX oauth_apps_tenant ON oauth_apps (tenant_id, id);
