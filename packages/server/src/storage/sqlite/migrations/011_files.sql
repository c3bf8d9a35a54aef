-- Uploaded files' metadata; the bytes are in the blob store (files.driver).
CREATE TABLE files (
  tenant_id        TEXT NOT NULL,
  id               TEXT NOT NULL,            -- storage id (ULID + random)
  conversation_id  TEXT NOT NULL,
  uploader_id      TEXT NOT NULL,
  kind             TEXT NOT NULL,            -- image | audio | video | file
  mime_type        TEXT NOT NULL,
  file_name        TEXT NOT NULL,
  size             INTEGER NOT NULL,
  blob_key         TEXT NOT NULL,
  thumb_key        TEXT,
  width            INTEGER,
  height           INTEGER,
  thumb_width      INTEGER,
  thumb_height     INTEGER,
  duration         REAL,
  state            TEXT NOT NULL,            -- uploaded | attached
  message_id       TEXT,
  created_at       INTEGER NOT NULL,
  attached_at      INTEGER,
  PRIMARY KEY (tenant_id, id)
);
-- What the orphan cleanup walks.
CREATE INDEX files_orphans ON files (created_at) WHERE state = 'uploaded';
