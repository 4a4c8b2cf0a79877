-- The version a source reported for a queued file's bytes (an S3 object's ETag), so the worker
-- records it on the document as an inline sync does and the next sync skips the object unread.
-- NULL = none (uploads, local files, web pages, and files queued before this migration).
ALTER TABLE ingest_job_items ADD COLUMN source_version text;
