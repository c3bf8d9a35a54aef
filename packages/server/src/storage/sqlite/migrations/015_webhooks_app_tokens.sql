-- Webhook subscriptions per tenant, the log of their delivery attempts (a delivery is a job of
-- the outbox, migration 010: one event to one subscription), and third-party apps that
-- exchange their id and secret for access tokens (OAuth2 client credentials).
CREATE TABLE webhooks (
  tenant_id        TEXT NOT NULL,
  id               TEXT NOT NULL,
  url              TEXT NOT NULL,
  events           TEXT NOT NULL,          -- JSON array of event types, or ["*"]
  description      TEXT,
  secret           TEXT NOT NULL,
  status           TEXT NOT NULL,          -- active | disabled
  disabled_reason  TEXT,
  disabled_at      INTEGER,
  failures         INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_attempts (
  tenant_id        TEXT NOT NULL,
  id               TEXT NOT NULL,
  subscription_id  TEXT NOT NULL,
  delivery_id      TEXT NOT NULL,
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  attempt          INTEGER NOT NULL,
  ok               INTEGER NOT NULL,
  status_code      INTEGER,
  latency_ms       INTEGER NOT NULL,
  error            TEXT,
  at               INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, subscription_id, id)
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (tenant_id, subscription_id, delivery_id, id);

CREATE TABLE oauth_apps (
  id           TEXT PRIMARY KEY,
  tenant_id    TEXT NOT NULL,
  name         TEXT NOT NULL,
  secret_hash  TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  revoked_at   INTEGER
);
CREATE INDEX oauth_apps_tenant ON oauth_apps (tenant_id, id);
