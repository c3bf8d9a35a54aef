-- Login sessions are pruned once expired or revoked long enough (`pruneSessions`): both
-- times are indexed, so each prune batch reads only the rows it deletes.
CREATE INDEX auth_sessions_expires ON auth_sessions (expires_at);
CREATE INDEX auth_sessions_revoked ON auth_sessions (revoked_at) WHERE revoked_at IS NOT NULL;
