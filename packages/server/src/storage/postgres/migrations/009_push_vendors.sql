-- Push vendors, as SQLite migration 017: a user's WeChat openid and a tenant's push choices
-- (JSON text, as given).
CREATE TABLE push_wechat_users (
  tenant_id   TEXT COLLATE "C" NOT NULL,
  user_id     TEXT COLLATE "C" NOT NULL,
  openid      TEXT COLLATE "C" NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);
CREATE UNIQUE INDEX push_wechat_openid ON push_wechat_users (tenant_id, openid);

CREATE TABLE push_tenant_settings (
  tenant_id                   TEXT COLLATE "C" PRIMARY KEY,
  preview_conversation_types  TEXT NOT NULL,
  wechat                      TEXT NOT NULL,
  updated_at                  BIGINT NOT NULL
);
