-- Devices and push preferences (seed 003), as SQLite migration 014. Ids compare as bytes
-- (COLLATE "C"); device_info and quiet_hours are JSON text, as given.
CREATE TABLE devices (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  device_id        TEXT COLLATE "C" NOT NULL,
  user_id          TEXT COLLATE "C" NOT NULL,
  os_type          INTEGER NOT NULL,
  vendor           TEXT COLLATE "C" NOT NULL,
  push_token       TEXT COLLATE "C",
  device_info      TEXT NOT NULL,
  push_enabled     BOOLEAN NOT NULL DEFAULT TRUE,
  deregistered_at  BIGINT,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
CREATE INDEX devices_user ON devices (tenant_id, user_id, device_id);
CREATE UNIQUE INDEX devices_token ON devices (tenant_id, vendor, push_token) WHERE push_token IS NOT NULL;

CREATE TABLE push_settings (
  tenant_id     TEXT COLLATE "C" NOT NULL,
  user_id       TEXT COLLATE "C" NOT NULL,
  push_enabled  BOOLEAN NOT NULL,
  quiet_hours   TEXT,
  updated_at    BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE push_mutes (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  user_id          TEXT COLLATE "C" NOT NULL,
  conversation_id  TEXT COLLATE "C" NOT NULL,
  until            BIGINT,
  created_at       BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id, conversation_id)
);
