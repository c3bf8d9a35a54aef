-- Push vendors: a user's WeChat openid (for template messages, seed 000) and a tenant's push
-- choices (previews per conversation type, the WeChat channel and its templates).
CREATE TABLE push_wechat_users (
  tenant_id   TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  openid      TEXT NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);
-- An openid names one user of the tenant.
CREATE UNIQUE INDEX push_wechat_openid ON push_wechat_users (tenant_id, openid);

CREATE TABLE push_tenant_settings (
  tenant_id                   TEXT PRIMARY KEY,
  preview_conversation_types  TEXT NOT NULL,   -- JSON array of conversation types
  wechat                      TEXT NOT NULL,   -- JSON {enabled, templates}
  updated_at                  INTEGER NOT NULL
);
