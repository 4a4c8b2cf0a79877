-- Ingestion jobs run by `awsomechat worker` processes on any machine (jobs.executor = "worker").
-- The bytes of every queued file live here, not in the memory of the process that accepted the
-- upload, so another machine's worker can run the job; rows go when the job ends.
CREATE TABLE ingest_job_items (
    job_id        uuid        NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
    idx           integer     NOT NULL,
    uri           text        NOT NULL,
    source        text        NOT NULL,
    name          text        NOT NULL,
    content_type  text,
    data          bytea       NOT NULL,
    -- how many times a worker began this file: a file whose worker died under it this many times
    -- is failed alone (a poison file), the rest of its job goes on
    attempts      integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, idx)
);

-- "inline" jobs die with the process that runs them; "worker" jobs wait in the queue for as long
-- as it takes, so a queued worker job is never reported stale.
ALTER TABLE ingest_jobs ADD COLUMN executor text NOT NULL DEFAULT 'inline'
    CHECK (executor IN ('inline', 'worker'));
