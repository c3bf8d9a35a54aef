-- The search index behind the appends (storage/postgres/search-indexer.ts). The GIN expression
-- index of migration 005 computed every message's grams inside the append, while the batch's
-- conversation rows were locked. Now an append only adds (conversation, seq) to
-- `message_search_pending` (a heap without an index: one row, no B-tree), and the indexer of
-- any node moves pending rows into `message_search` (the grams and their GIN index) in single
-- statements of its own: each one deletes the rows it indexed in the same statement, so after
-- a crash the rest are still pending, and a row is indexed once (rows locked by another node's
-- indexer are skipped). Search checks every candidate on the message's current content, so a
-- row left from a message edited meanwhile only costs a check.
CREATE TABLE message_search (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  conversation_id  TEXT COLLATE "C" NOT NULL,
  seq              BIGINT NOT NULL,
  grams            tsvector NOT NULL,
  PRIMARY KEY (tenant_id, conversation_id, seq)
);
CREATE INDEX message_search_grams ON message_search USING gin (grams);

CREATE TABLE message_search_pending (
  tenant_id        TEXT COLLATE "C" NOT NULL,
  conversation_id  TEXT COLLATE "C" NOT NULL,
  seq              BIGINT NOT NULL
);

-- The messages stored so far (indexed by 005's expression index until now).
INSERT INTO message_search (tenant_id, conversation_id, seq, grams)
  SELECT tenant_id, conversation_id, seq, careline_search_grams(careline_search_body(type, content))
  FROM messages WHERE careline_search_body(type, content) IS NOT NULL;
DROP INDEX messages_search;

-- An edit or recall of an indexed message, and a delete: the index follows in the same
-- transaction (a message still pending is read as it is when the indexer gets to it).
CREATE FUNCTION careline_search_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  b text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM message_search WHERE tenant_id = OLD.tenant_id AND conversation_id = OLD.conversation_id AND seq = OLD.seq;
    RETURN OLD;
  END IF;
  b := careline_search_body(NEW.type, NEW.content);
  IF b IS NULL THEN
    DELETE FROM message_search WHERE tenant_id = NEW.tenant_id AND conversation_id = NEW.conversation_id AND seq = NEW.seq;
  ELSE
    UPDATE message_search SET grams = careline_search_grams(b) WHERE tenant_id = NEW.tenant_id AND conversation_id = NEW.conversation_id AND seq = NEW.seq;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER messages_search_follow_update AFTER UPDATE OF content, type ON messages
  FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content OR OLD.type <> NEW.type) EXECUTE FUNCTION careline_search_follow();
CREATE TRIGGER messages_search_follow_delete AFTER DELETE ON messages
  FOR EACH ROW EXECUTE FUNCTION careline_search_follow();
