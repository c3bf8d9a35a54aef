-- Uploaded files' metadata; the bytes are in the blob store (files.driver).
CREATE TABLE files (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  conversation_id  TEXT COLLATE "C" NOT NULL,
  uploader_id      TEXT COLLATE "C" NOT NULL,
  kind             TEXT NOT NULL,
  mime_type        TEXT NOT NULL,
  file_name        TEXT NOT NULL,
  size             BIGINT NOT NULL,
  blob_key         TEXT NOT NULL,
  thumb_key        TEXT,
  width            INTEGER,
  height           INTEGER,
  thumb_width      INTEGER,
  thumb_height     INTEGER,
  duration         DOUBLE PRECISION,
  state            TEXT NOT NULL,
  message_id       TEXT COLLATE "C",
  created_at       BIGINT NOT NULL,
  attached_at      BIGINT,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX files_orphans ON files (created_at) WHERE state = 'uploaded';
