-- The de-duplication key of resends, ordered by the client id, then the sender, then the
-- tenant: the same key and uniqueness as migration 017's (tenant, client id, sender), and still
-- at the right edge for client ids that grow with time. The append's lookup of stored client
-- ids (storage/postgres/messages.ts) leaves the tenant out of its index conditions, so that no
-- other index of `messages` (the primary key, `messages_id`: both begin with the tenant) can
-- serve it. On a table never analyzed the planner priced this index and `messages_id` on the
-- tenant alone the same, took the older one, and kept that generic plan until autovacuum's
-- ANALYZE: each client id then read every message of its tenant. Rebuilt with writes to
-- `messages` held: on a large table, run this migration in a quiet hour.
DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages (client_id, sender_id, tenant_id);
