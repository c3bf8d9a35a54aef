-- The audit log becomes a hash chain per tenant, and keeps both identities of a read made
-- through an API key on behalf of a user.
--   app_id     the integrator's app that made the call (as itself, or for actor_id); NULL for a user's own token
--   seq        position in the tenant's chain: 1, 2, 3… with no gaps
--   prev_hash  the hash of the tenant's record seq - 1 (64 zeros for seq 1)
--   hash       SHA-256 of the record's canonical form (domain/audit.ts), prev_hash included
-- The seq and hashes are computed by the store, in the write transaction. Records stored
-- before this migration have none yet: the store chains them, in id order per tenant, when a
-- writing connection first opens the database (SQLite has no SHA-256 of its own).
ALTER TABLE audit_log ADD COLUMN app_id TEXT;
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
UPDATE audit_log SET app_id = substr(actor_id, 5) WHERE actor_kind = 'app' AND actor_id LIKE 'app:%';
CREATE UNIQUE INDEX audit_log_chain ON audit_log (tenant_id, seq);
CREATE INDEX audit_log_app ON audit_log (tenant_id, app_id, id);
-- Records not chained yet: found at each start without a scan (empty once they are chained).
CREATE INDEX audit_log_unchained ON audit_log (id) WHERE seq IS NULL;
-- Append-only: a chained record is never updated, no record is deleted.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.hash IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
