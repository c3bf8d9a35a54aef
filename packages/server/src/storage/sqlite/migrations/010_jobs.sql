-- The job queue (outbox): work that must happen after a commit and survive a crash.
CREATE TABLE jobs (
  id            TEXT PRIMARY KEY,          -- ULID
  tenant_id     TEXT NOT NULL,
  kind          TEXT NOT NULL,
  payload       TEXT NOT NULL,             -- JSON
  dedupe_key    TEXT,
  state         TEXT NOT NULL,             -- queued | leased | done | dead
  run_at        INTEGER NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL,
  worker        TEXT,
  lease_until   INTEGER,
  last_error    TEXT,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
-- One job per (tenant, kind, dedupe key).
CREATE UNIQUE INDEX jobs_dedupe ON jobs (tenant_id, kind, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- What claim walks: queued jobs by kind in run order, and leases by kind by expiry.
CREATE INDEX jobs_queued ON jobs (kind, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (kind, lease_until) WHERE state = 'leased';
-- Operators' list of dead jobs, and prune's list of done ones.
CREATE INDEX jobs_dead ON jobs (kind, id) WHERE state = 'dead';
CREATE INDEX jobs_done ON jobs (updated_at) WHERE state = 'done';
