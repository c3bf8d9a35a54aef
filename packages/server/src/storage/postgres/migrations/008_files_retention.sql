-- Resumable uploads (tus 1.0): the state any node reads and moves; the bytes received so far
-- are parts in the blob store (parts: JSON [{"key", "size"}], in offset order).
CREATE TABLE file_uploads (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  conversation_id  TEXT COLLATE "C" NOT NULL,
  uploader_id      TEXT COLLATE "C" NOT NULL,
  file_name        TEXT NOT NULL,
  declared_type    TEXT,
  length           BIGINT NOT NULL,
  upload_offset    BIGINT NOT NULL DEFAULT 0,
  parts            TEXT NOT NULL DEFAULT '[]',
  state            TEXT NOT NULL,
  file_id          TEXT COLLATE "C",
  error            TEXT,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX file_uploads_updated ON file_uploads (updated_at);

CREATE TABLE retention_policies (
  tenant_id          TEXT COLLATE "C" NOT NULL,
  conversation_type  INTEGER NOT NULL,
  days               INTEGER NOT NULL,
  updated_at         BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, conversation_type)
);
CREATE TABLE legal_holds (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  conversation_id  TEXT COLLATE "C" NOT NULL,
  reason           TEXT,
  set_by           TEXT NOT NULL,
  set_at           BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, conversation_id)
);
CREATE INDEX files_conversation_created ON files (tenant_id, conversation_id, created_at);
