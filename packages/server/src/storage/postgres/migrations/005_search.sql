-- Full-text search over messages (docs/search.md), Chinese included. pg_trgm is not used: it
-- takes trigrams of "words" made of the characters the database's locale calls alphanumeric,
-- and under the C locale (initdb --no-locale, common for a server) Chinese text yields none.
-- Instead the index holds every 2- and 3-character gram of each whitespace-separated word of
-- the searchable text, ASCII letters lowered (COLLATE "C": the same whatever the locale), as
-- a tsvector (array_to_tsvector: the grams verbatim, no parser): a 2-character term (皮疹)
-- is one gram, a longer one the conjunction of its trigrams. A tsvector GIN index answers such
-- a query without reading the rows again (an array index would recompute the grams of every
-- candidate), and ANALYZE counts the grams, so the planner knows a common word (scan the
-- newest messages, stop at a full page) from a rare one (the index). The candidates are then
-- checked for the whole term (strpos).
--
-- The searchable text of a message: the text fields of its content (text, title, a card's
-- content string, fileName, a personal card's name, and those of a forwarded message's
-- content), joined by newlines; system messages (types 0, 6, 7, 10, 11, 13, 14) and recalled
-- ones (content NULL) have none. The index is an expression index on `messages`: PostgreSQL
-- keeps it in step with every insert, update and delete, in the writing transaction, and
-- building it indexes the messages already stored.

-- PL/pgSQL: its simple expressions run without a plan of their own per call, several times
-- cheaper per row than a SQL function that cannot be inlined.
CREATE FUNCTION careline_search_body(type integer, content text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  c jsonb;
BEGIN
  IF content IS NULL OR type IN (0, 6, 7, 10, 11, 13, 14) THEN
    RETURN NULL;
  END IF;
  IF strpos(content, '\u0000') > 0 THEN
    -- jsonb refuses the escaped NUL (text cannot hold it): such a message is stored, unsearched.
    BEGIN
      c := content::jsonb;
    EXCEPTION WHEN others THEN
      RETURN NULL;
    END;
  ELSE
    c := content::jsonb;
  END IF;
  IF jsonb_typeof(c) <> 'object' THEN
    RETURN NULL;
  END IF;
  RETURN concat_ws(E'\n', c->>'text', c->>'title',
    CASE WHEN jsonb_typeof(c->'content') = 'string' THEN c->>'content' END,
    c->>'fileName', c->>'name', c->'content'->>'text', c->'content'->>'title', c->'content'->>'fileName');
END
$$;

CREATE FUNCTION careline_search_grams(body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
  SELECT array_to_tsvector(coalesce(array_agg(DISTINCT substr(w, i, n)), '{}'::text[]))
  FROM regexp_split_to_table(lower(body COLLATE "C"), '\s+') AS w,
       (VALUES (2), (3)) AS sizes(n),
       generate_series(1, length(w) - n + 1) AS i
$$;

-- Whether the text contains every term (terms given lowered the same way).
CREATE FUNCTION careline_search_has(body text, terms text[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  b text := lower(body COLLATE "C");
  t text;
BEGIN
  FOREACH t IN ARRAY terms LOOP
    IF strpos(b, t) = 0 THEN
      RETURN false;
    END IF;
  END LOOP;
  RETURN true;
END
$$;

CREATE INDEX messages_search ON messages USING gin (careline_search_grams(careline_search_body(type, content)));
