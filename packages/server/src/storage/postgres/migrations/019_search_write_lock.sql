-- The search index's writers and the messages' edits take turns (storage/postgres/search-indexer.ts).
-- A step of the indexer writes under an exclusive transaction advisory lock (key 0x636c6977,
-- 'cliw'), taken before the statement that checks each pending message's row version, and an
-- edit, recall or delete of a message takes the same lock shared before it updates the index.
-- So an edit committed while a step writes cannot be missed by both: either it committed before
-- the step's statement began (the step sees the new row version and leaves the message pending),
-- or it waits for the step to commit and then updates the row the step inserted.
CREATE OR REPLACE FUNCTION careline_search_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  b text;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1668049271);
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
