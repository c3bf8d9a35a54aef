-- The search index moves to a database file of its own, written by a thread of its own
-- (storage/sqlite/search-db.ts, search-indexer-worker.ts): its FTS5 segments, their merges
-- and their checkpoints no longer hold up the appends' commits. What it indexes is derived
-- from this database; the new file is filled from the messages when the server starts.
DROP TRIGGER messages_search_update;
DROP TRIGGER messages_search_delete;
DROP TABLE message_search_vocab;
DROP TABLE message_search;
DROP TABLE message_search_keys;
ALTER TABLE conversations DROP COLUMN indexed_seq;

-- Edits, recalls and deletes of messages, for the indexer to apply to what it has indexed
-- (a trigger cannot write to another database file). Ids only grow (AUTOINCREMENT): the
-- index keeps the last one it applied, and the rows up to it are deleted afterwards.
CREATE TABLE message_search_changes (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id        TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  seq              INTEGER NOT NULL
);

CREATE TRIGGER messages_search_update AFTER UPDATE OF content, type ON messages
BEGIN
  INSERT INTO message_search_changes (tenant_id, conversation_id, seq) VALUES (NEW.tenant_id, NEW.conversation_id, NEW.seq);
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
  INSERT INTO message_search_changes (tenant_id, conversation_id, seq) VALUES (OLD.tenant_id, OLD.conversation_id, OLD.seq);
END;
