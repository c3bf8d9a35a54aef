-- Full-text search over messages (docs/search.md). FTS5 with the trigram tokenizer: every
-- 3 characters of the searchable text are a token, so a query matches any substring of 3 or
-- more characters, Chinese (no word spaces) as well as English, case folded. A 2-character
-- term (皮疹) has no trigram of its own: the trigrams that begin with it are looked up in the
-- index's vocabulary (`message_search_vocab`) and matched as alternatives. For that, every
-- 2 characters of a text must begin a trigram: the text is stored with a newline at its end.
--
-- The searchable text of a message: the text fields of its content (text, title, a card's
-- content string, fileName, a personal card's name, and those of a forwarded message's
-- content), joined by newlines; system messages (types 0, 6, 7, 10, 11, 13, 14) have none.
-- An append indexes its messages in its own transaction (`SqliteMessageStore`, through
-- `searchIndexer` in storage/sqlite/search.ts: the same expression as below). Not a trigger:
-- a statement that fires one opens a savepoint, and FTS5 writes its pending terms out at every
-- savepoint, which made each append five times slower. Triggers keep the index in step with
-- every other write of `messages` (recall, any later edit or delete), in its transaction.
--
-- `message_search_keys` numbers the indexed messages (the FTS rowid is its id, an INTEGER
-- PRIMARY KEY, which VACUUM keeps, unlike the implicit rowid of `messages`) and maps them
-- back to (tenant, conversation, seq). Ids grow with appends: newest first is id order, and a
-- conversation's newest key is the one of its highest seq.
CREATE TABLE message_search_keys (
  id               INTEGER PRIMARY KEY,
  tenant_id        TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  seq              INTEGER NOT NULL
);
CREATE UNIQUE INDEX message_search_keys_message ON message_search_keys (tenant_id, conversation_id, seq);

CREATE VIRTUAL TABLE message_search USING fts5(body, tokenize = 'trigram');
CREATE VIRTUAL TABLE message_search_vocab USING fts5vocab(message_search, 'row');

-- A recall (content set to NULL) or an edit: the old text leaves the index; an edited message
-- keeps its key (so its place in the newest-first order, and a conversation's newest key stays
-- that of its highest seq) and is indexed again with its new text; one left with no
-- searchable text loses its key.
CREATE TRIGGER messages_search_update AFTER UPDATE OF content, type ON messages
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

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
  DELETE FROM message_search WHERE rowid IN (SELECT id FROM message_search_keys WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id AND seq = OLD.seq);
  DELETE FROM message_search_keys WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id AND seq = OLD.seq;
END;

-- The messages stored before this migration, oldest first.
INSERT INTO message_search_keys (tenant_id, conversation_id, seq)
  SELECT tenant_id, conversation_id, seq FROM messages m WHERE m.content IS NOT NULL AND m.type NOT IN (0, 6, 7, 10, 11, 13, 14) AND json_valid(m.content) ORDER BY created_at, id;
INSERT INTO message_search (rowid, body)
  SELECT k.id, concat_ws(char(10), m.content ->> '$.text', m.content ->> '$.title',
      CASE WHEN json_type(m.content, '$.content') = 'text' THEN m.content ->> '$.content' END,
      m.content ->> '$.fileName', m.content ->> '$.name',
      m.content ->> '$.content.text', m.content ->> '$.content.title', m.content ->> '$.content.fileName') || char(10)
  FROM message_search_keys k JOIN messages m ON m.tenant_id = k.tenant_id AND m.conversation_id = k.conversation_id AND m.seq = k.seq;
