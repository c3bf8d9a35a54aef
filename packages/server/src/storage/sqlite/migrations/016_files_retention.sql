-- Resumable uploads (tus 1.0): the state any node reads and moves; the bytes received so far
-- are parts in the blob store (parts: JSON [{"key", "size"}], in offset order).
CREATE TABLE file_uploads (
  tenant_id        TEXT NOT NULL,
  id               TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  uploader_id      TEXT NOT NULL,
  file_name        TEXT NOT NULL,
  declared_type    TEXT,
  length           INTEGER NOT NULL,
  upload_offset    INTEGER NOT NULL DEFAULT 0,
  parts            TEXT NOT NULL DEFAULT '[]',
  state            TEXT NOT NULL,            -- uploading | completing | done | failed
  file_id          TEXT,
  error            TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
-- What the expiry of abandoned uploads walks.
CREATE INDEX file_uploads_updated ON file_uploads (updated_at);

-- Retention: messages and files of a tenant's conversations of a type are deleted after `days`.
CREATE TABLE retention_policies (
  tenant_id          TEXT NOT NULL,
  conversation_type  INTEGER NOT NULL,
  days               INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, conversation_type)
);
-- Conversations under legal hold: retention deletes nothing of them.
CREATE TABLE legal_holds (
  tenant_id        TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  reason           TEXT,
  set_by           TEXT NOT NULL,
  set_at           INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, conversation_id)
);
-- Files of a conversation by age (retention).
CREATE INDEX files_conversation_created ON files (tenant_id, conversation_id, created_at);
