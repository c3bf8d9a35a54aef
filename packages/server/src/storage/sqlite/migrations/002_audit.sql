-- Who read which patient conversation, when: appended in batches, never updated.
CREATE TABLE audit_log (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id        TEXT NOT NULL,
  at               INTEGER NOT NULL,
  actor_kind       TEXT NOT NULL,
  actor_id         TEXT NOT NULL,
  action           TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  detail           TEXT
);
CREATE INDEX audit_log_conversation ON audit_log (tenant_id, conversation_id, id);
CREATE INDEX audit_log_actor ON audit_log (tenant_id, actor_id, id);
