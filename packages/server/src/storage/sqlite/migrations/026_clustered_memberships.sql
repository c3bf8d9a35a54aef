-- A user's memberships stored together, and conversations found by one B-tree walk.
--
-- `participants` was a rowid table: its rows in the order they were added, its key and the
-- index by user pointing into it. A user's conversations — what every connection's catch-up,
-- the conversation list, search and consultation filters read — lay on as many pages as the
-- user has conversations, each reached through an index and then the table, and each of those
-- conversations through `conversations`' key index and then its table: about three walks from
-- the root per membership, on a page cache that every commit by the writer thread drops. It
-- is now clustered by (tenant, user, conversation): a user's memberships are neighbours in one
-- B-tree, and the lookups by conversation (its members, one member) go through an index on
-- (tenant, conversation, user) that holds all they read. `conversations` is clustered by its
-- key: one walk. Measured alone (10,000 two-person conversations, a commit by another
-- connection before each read): a doctor's 50 memberships 2.1 ms → 0.23 ms, a patient's one
-- 55 → 45 µs; the writer's per-message updates of both tables a little cheaper.
-- Same columns, same keys, same uniqueness; only the layout changes.
CREATE TABLE participants_by_user (
  tenant_id        TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  user_id          TEXT NOT NULL,
  role             TEXT NOT NULL,
  joined_at        INTEGER NOT NULL,
  joined_seq       INTEGER NOT NULL,
  read_seq         INTEGER NOT NULL,
  sticky_at        INTEGER,
  PRIMARY KEY (tenant_id, user_id, conversation_id)
) WITHOUT ROWID;
INSERT INTO participants_by_user (tenant_id, conversation_id, user_id, role, joined_at, joined_seq, read_seq, sticky_at)
  SELECT tenant_id, conversation_id, user_id, role, joined_at, joined_seq, read_seq, sticky_at FROM participants;
DROP TABLE participants;
ALTER TABLE participants_by_user RENAME TO participants;
CREATE UNIQUE INDEX participants_conversation ON participants (tenant_id, conversation_id, user_id);

CREATE TABLE conversations_clustered (
  tenant_id        TEXT NOT NULL,
  id               TEXT NOT NULL,
  type             INTEGER NOT NULL,
  business_type    INTEGER NOT NULL,
  name             TEXT NOT NULL,
  status           INTEGER NOT NULL DEFAULT 0,
  created_by       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  last_seq         INTEGER NOT NULL DEFAULT 0,
  last_message_at  INTEGER,
  PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
INSERT INTO conversations_clustered (tenant_id, id, type, business_type, name, status, created_by, created_at, updated_at, last_seq, last_message_at)
  SELECT tenant_id, id, type, business_type, name, status, created_by, created_at, updated_at, last_seq, last_message_at FROM conversations;
DROP TABLE conversations;
ALTER TABLE conversations_clustered RENAME TO conversations;
