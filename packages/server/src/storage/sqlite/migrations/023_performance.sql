-- The search index behind the appends (storage/sqlite/search-indexer.ts). An append no longer
-- writes the FTS5 index in its transaction; `indexed_seq` is how far a conversation's messages
-- are indexed, moved in the indexer's own transactions (after a crash it resumes from there).
-- Everything stored before this migration was indexed by its append.
ALTER TABLE conversations ADD COLUMN indexed_seq INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET indexed_seq = last_seq;

-- An edit of a message not yet indexed leaves the index alone: the indexer reads the message
-- as it is when it gets to it (so keys stay in each conversation's seq order).
DROP TRIGGER messages_search_update;
CREATE TRIGGER messages_search_update AFTER UPDATE OF content, type ON messages
WHEN NEW.seq <= (SELECT indexed_seq FROM conversations WHERE tenant_id = NEW.tenant_id AND id = NEW.conversation_id)
BEGIN
  DELETE FROM message_search WHERE rowid IN (SELECT id FROM message_search_keys WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id AND seq = OLD.seq);
  DELETE FROM message_search_keys WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id AND seq = OLD.seq AND NOT coalesce(NEW.content IS NOT NULL AND NEW.type NOT IN (0, 6, 7, 10, 11, 13, 14) AND json_valid(NEW.content), 0);
  INSERT OR IGNORE INTO message_search_keys (tenant_id, conversation_id, seq) SELECT NEW.tenant_id, NEW.conversation_id, NEW.seq
    WHERE NEW.content IS NOT NULL AND NEW.type NOT IN (0, 6, 7, 10, 11, 13, 14) AND json_valid(NEW.content);
  INSERT INTO message_search (rowid, body) SELECT (SELECT id FROM message_search_keys WHERE tenant_id = NEW.tenant_id AND conversation_id = NEW.conversation_id AND seq = NEW.seq),
    concat_ws(char(10), NEW.content ->> '$.text', NEW.content ->> '$.title',
      CASE WHEN json_type(NEW.content, '$.content') = 'text' THEN NEW.content ->> '$.content' END,
      NEW.content ->> '$.fileName', NEW.content ->> '$.name',
      NEW.content ->> '$.content.text', NEW.content ->> '$.content.title', NEW.content ->> '$.content.fileName') || char(10)
    WHERE NEW.content IS NOT NULL AND NEW.type NOT IN (0, 6, 7, 10, 11, 13, 14) AND json_valid(NEW.content);
END;
