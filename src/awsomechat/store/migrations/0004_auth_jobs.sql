-- Users and their API keys (only a SHA-256 of each key is stored), fixed-window request counters
-- per key, and background ingestion jobs. All shared by every API worker and replica.
CREATE TABLE api_users (
    id            text        PRIMARY KEY,
    display_name  text        NOT NULL DEFAULT '',
    groups        text[]      NOT NULL DEFAULT '{}',
    admin         boolean     NOT NULL DEFAULT false,
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id            uuid        PRIMARY KEY,
    user_id       text        NOT NULL REFERENCES api_users (id) ON DELETE CASCADE,
    name          text        NOT NULL DEFAULT '',
    prefix        text        NOT NULL,
    secret_hash   bytea       NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

-- UNLOGGED: counters need no crash safety, and skipping the WAL keeps the per-request write cheap.
CREATE UNLOGGED TABLE api_rate_windows (
    subject       text        NOT NULL,
    window_start  timestamptz NOT NULL,
    count         integer     NOT NULL,
    PRIMARY KEY (subject, window_start)
);

CREATE TABLE ingest_jobs (
    id            uuid        PRIMARY KEY,
    user_id       text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'partial')),
    total         integer     NOT NULL DEFAULT 0,
    done          integer     NOT NULL DEFAULT 0,
    files         jsonb       NOT NULL DEFAULT '[]'::jsonb,
    options       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error         text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX ingest_jobs_user_idx ON ingest_jobs (user_id, created_at DESC);
