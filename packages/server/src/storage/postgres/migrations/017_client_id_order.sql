-- The de-duplication key of resends, (tenant, sender, client id), ordered by the client id
-- before the sender (as SQLite's migration 024): grouped by sender, each message of an append
-- batch went to a leaf page of its own (and, after a checkpoint, a full-page image in the WAL);
-- client ids that grow with time (UUIDv7, ULIDs: the SDK's) now land together at the right
-- edge. The same key, the same uniqueness, the same lookups. The index is rebuilt here, with
-- writes to `messages` held until it is: on a large table, run this migration in a quiet hour.
DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages (tenant_id, client_id, sender_id);
