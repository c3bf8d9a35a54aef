-- Devices and push preferences (seed 003). One row per unique code of an install: its one push
-- token (replaced by a new registration), its own push switch, and when it was de-registered
-- (kept, without a token, so that the code never gets a push again).
CREATE TABLE devices (
  tenant_id        TEXT NOT NULL,
  device_id        TEXT NOT NULL,
  user_id          TEXT NOT NULL,
  os_type          INTEGER NOT NULL,   -- 1 iOS, 2 Android, 3 Web, 4 Windows, -1 unknown
  vendor           TEXT NOT NULL,      -- apns | fcm | huawei | xiaomi | webpush | none
  push_token       TEXT,
  device_info      TEXT NOT NULL,      -- JSON object
  push_enabled     INTEGER NOT NULL DEFAULT 1,
  deregistered_at  INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
CREATE INDEX devices_user ON devices (tenant_id, user_id, device_id);
-- A vendor's token names one install of the tenant.
CREATE UNIQUE INDEX devices_token ON devices (tenant_id, vendor, push_token) WHERE push_token IS NOT NULL;

-- A user's push switch and quiet hours (a row once they change).
CREATE TABLE push_settings (
  tenant_id     TEXT NOT NULL,
  user_id       TEXT NOT NULL,
  push_enabled  INTEGER NOT NULL,
  quiet_hours   TEXT,                  -- JSON {start, end, time_zone} or NULL
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);

-- Conversations a user muted, until a time (NULL: until unmuted).
CREATE TABLE push_mutes (
  tenant_id        TEXT NOT NULL,
  user_id          TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  until            INTEGER,
  created_at       INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id, conversation_id)
);
