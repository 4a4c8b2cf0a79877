-- The version a source reported for a document's bytes (an S3 object's ETag): a sync skips an
-- object whose listed version is the recorded one without downloading it. '' = none recorded
-- (local files and web pages are compared by content hash only).
ALTER TABLE documents ADD COLUMN source_version text NOT NULL DEFAULT '';
