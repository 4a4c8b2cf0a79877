"""Background ingestion jobs in PostgreSQL, so any worker or replica can report on any job.

A job lists its files with a per-file status (``queued``, ``added``, ``updated``, ``unchanged``,
``failed``) and detail. A job still marked running whose process stopped updating it for
``STALE_AFTER`` is reported as failed: its finished files are stored, the rest are not.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import dict_row

from awsomechat.errors import NotFoundError
from awsomechat.store.database import Database

STALE_AFTER = dt.timedelta(minutes=15)
FINAL_STATES = frozenset({"succeeded", "failed", "partial"})


@dataclass(frozen=True)
class JobFile:
    name: str
    size_bytes: int
    status: str = "queued"
    detail: str = ""
    document_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size_bytes": self.size_bytes,
            "status": self.status,
            "detail": self.detail,
            "document_id": self.document_id,
        }


@dataclass(frozen=True)
class IngestJob:
    id: uuid.UUID
    user_id: str
    status: str
    total: int
    done: int
    files: list[JobFile]
    options: dict[str, Any]
    error: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _job(row: dict[str, Any]) -> IngestJob:
    status, error = row["status"], row["error"]
    if status not in FINAL_STATES and row["updated_at"] < dt.datetime.now(dt.UTC) - STALE_AFTER:
        status, error = "failed", "the server running this job stopped; upload the unfinished files again"
    return IngestJob(
        id=row["id"],
        user_id=row["user_id"],
        status=status,
        total=row["total"],
        done=row["done"],
        files=[JobFile(**f) for f in row["files"]],
        options=dict(row["options"]),
        error=error,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


class PgJobStore:
    """Create, update and read ingestion jobs. Reads are scoped to the job's owner unless admin."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, user_id: str, files: list[JobFile], options: dict[str, Any]) -> IngestJob:
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "INSERT INTO ingest_jobs (id, user_id, status, total, files, options)"
                " VALUES (%s, %s, 'queued', %s, %s::jsonb, %s::jsonb) RETURNING *",
                (
                    uuid.uuid4(),
                    user_id,
                    len(files),
                    json.dumps([f.to_json() for f in files]),
                    json.dumps(options),
                ),
            )
            row = cur.fetchone()
        assert row is not None
        return _job(row)

    def get(self, job_id: uuid.UUID, user_id: str | None) -> IngestJob:
        """The job; ``user_id=None`` (an admin) reads any job, others only their own."""
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT * FROM ingest_jobs WHERE id = %s AND (%s::text IS NULL OR user_id = %s)",
                (job_id, user_id, user_id),
            )
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no ingestion job {job_id}")
        return _job(row)

    def list(self, user_id: str | None, *, limit: int = 20, offset: int = 0) -> list[IngestJob]:
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT * FROM ingest_jobs WHERE %s::text IS NULL OR user_id = %s"
                " ORDER BY created_at DESC, id LIMIT %s OFFSET %s",
                (user_id, user_id, limit, offset),
            )
            return [_job(r) for r in cur.fetchall()]

    def set_running(self, job_id: uuid.UUID) -> None:
        with self._db.pool.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET status = 'running', updated_at = now()"
                " WHERE id = %s AND status = 'queued'",
                (job_id,),
            )

    def file_done(
        self, job_id: uuid.UUID, index: int, status: str, detail: str, document_id: int | None
    ) -> None:
        """Record one file's outcome (``index`` into the job's file list)."""
        patch = json.dumps({"status": status, "detail": detail[:2000], "document_id": document_id})
        with self._db.pool.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET files = jsonb_set(files, ARRAY[%s::text], files -> %s || %s::jsonb),"
                " done = done + 1, updated_at = now() WHERE id = %s AND status IN ('queued', 'running')",
                (str(index), index, patch, job_id),
            )

    def finish(self, job_id: uuid.UUID, status: str, error: str = "") -> None:
        """Record the outcome of a job still queued or running (a job already interrupted stays so)."""
        with self._db.pool.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET status = %s, error = %s, updated_at = now(), finished_at = now()"
                " WHERE id = %s AND status IN ('queued', 'running')",
                (status, error[:2000], job_id),
            )

    def interrupt(self, job_id: uuid.UUID, error: str, file_detail: str) -> bool:
        """End a queued or running job that will not finish: every file not done yet is marked
        failed with ``file_detail``; the job is ``partial`` when some file was stored, else
        ``failed``. False when the job had already ended."""
        with self._db.pool.connection() as conn:
            cur = conn.execute(
                "UPDATE ingest_jobs SET"
                " files = (SELECT coalesce(jsonb_agg(CASE WHEN f ->> 'status' = 'queued'"
                "   THEN f || jsonb_build_object('status', 'failed', 'detail', %s::text) ELSE f END"
                "   ORDER BY n), '[]'::jsonb) FROM jsonb_array_elements(files) WITH ORDINALITY AS t(f, n)),"
                " status = CASE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(files) AS f"
                "   WHERE f ->> 'status' IN ('added', 'updated', 'unchanged'))"
                "   THEN 'partial' ELSE 'failed' END,"
                " error = %s, updated_at = now(), finished_at = now()"
                " WHERE id = %s AND status IN ('queued', 'running')",
                (file_detail[:2000], error[:2000], job_id),
            )
            return cur.rowcount > 0
