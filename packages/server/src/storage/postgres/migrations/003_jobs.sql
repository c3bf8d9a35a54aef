-- The job queue (outbox): work that must happen after a commit and survive a crash, as SQLite
-- migration 010. Ids, kinds and keys compare as bytes (COLLATE "C"); the payload is JSON text,
-- as it was given. Claims lock the rows they lease (FOR UPDATE SKIP LOCKED): a job is never
-- leased to two workers, and claimers on several nodes pass each other's rows by.
CREATE TABLE jobs (
  id            TEXT COLLATE "C" PRIMARY KEY,   -- ULID
  tenant_id     TEXT COLLATE "C" NOT NULL,
  kind          TEXT COLLATE "C" NOT NULL,
  payload       TEXT NOT NULL,                  -- JSON
  dedupe_key    TEXT COLLATE "C",
  state         TEXT NOT NULL,                  -- queued | leased | done | dead
  run_at        BIGINT NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL,
  worker        TEXT,
  lease_until   BIGINT,
  last_error    TEXT,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
-- One job per (tenant, kind, dedupe key).
CREATE UNIQUE INDEX jobs_dedupe ON jobs (tenant_id, kind, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- What claim walks: queued jobs by kind in run order, and leases by kind by expiry.
CREATE INDEX jobs_queued ON jobs (kind, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs (kind, lease_until) WHERE state = 'leased';
-- Operators' list of dead jobs, and prune's list of done ones.
CREATE INDEX jobs_dead ON jobs (kind, id) WHERE state = 'dead';
CREATE INDEX jobs_done ON jobs (updated_at) WHERE state = 'done';
