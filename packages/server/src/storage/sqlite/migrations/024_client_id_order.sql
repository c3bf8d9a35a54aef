-- The de-duplication key of resends, (tenant, sender, client id), ordered by the client id
-- before the sender. Its entries were grouped by sender, so a commit of n messages from n
-- senders wrote n leaf pages of this index (19 of a 12-message commit's 39 WAL pages, 395 of a
-- 300-message commit's 684). Client ids that grow with time (UUIDv7, ULIDs: the SDK's) now
-- land together at the index's right edge, whatever their senders; random ones cost what they
-- did. The same key, the same uniqueness, the same lookups (all three columns).
DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages (tenant_id, client_id, sender_id) WHERE client_id IS NOT NULL;
