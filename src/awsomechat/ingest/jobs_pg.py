"""Background ingestion jobs in PostgreSQL, so any worker or replica can report on any job.

A job lists its files with a per-file status (``queued``, ``added``, ``updated``, ``unchanged``,
``failed``) and detail. A job still marked running whose process stopped updating it for
``STALE_AFTER`` is reported as failed: its finished files are stored, the rest are not. A job
queued for workers (``executor = 'worker'``) waits in the queue for as long as it takes, and
keeps its files' bytes in ``ingest_job_items`` until it ends, so a worker on any machine runs it.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import dict_row

from awsomechat.errors import NotFoundError
from awsomechat.store.database import Database
from awsomechat.types import SourceItem

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
    executor: str = "inline"


@dataclass(frozen=True)
class QueuedFile:
    """One file of a queued job, as a worker finds it: its index, and how often it was begun."""

    index: int
    attempts: int


def _job(row: dict[str, Any]) -> IngestJob:
    status, error = row["status"], row["error"]
    executor = row.get("executor", "inline")
    # A worker job that is only queued is waiting for a worker, not abandoned.
    may_stall = status == "running" or (status == "queued" and executor == "inline")
    if may_stall and row["updated_at"] < dt.datetime.now(dt.UTC) - STALE_AFTER:
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
        executor=executor,
    )


class PgJobStore:
    """Create, update and read ingestion jobs. Reads are scoped to the job's owner unless admin."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        user_id: str,
        files: list[JobFile],
        options: dict[str, Any],
        *,
        items: list[SourceItem] | None = None,
    ) -> IngestJob:
        """Record a queued job. With ``items`` (one per file, in order) it is a worker job, and the
        items' bytes (and source versions) are stored with it in the same transaction."""
        executor = "inline" if items is None else "worker"
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "INSERT INTO ingest_jobs (id, user_id, status, total, files, options, executor)"
                " VALUES (%s, %s, 'queued', %s, %s::jsonb, %s::jsonb, %s) RETURNING *",
                (
                    uuid.uuid4(),
                    user_id,
                    len(files),
                    json.dumps([f.to_json() for f in files]),
                    json.dumps(options),
                    executor,
                ),
            )
            row = cur.fetchone()
            assert row is not None
            if items:
                with cur.copy(
                    "COPY ingest_job_items"
                    " (job_id, idx, uri, source, name, content_type, data, source_version) FROM STDIN"
                ) as copy:
                    for i, item in enumerate(items):
                        copy.write_row(
                            (
                                row["id"],
                                i,
                                item.uri,
                                item.source,
                                item.name,
                                item.content_type,
                                item.data,
                                item.version or None,
                            )
                        )
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

    def ended(self, job_ids: builtins.list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these jobs have ended (or no longer exist)."""
        with self._db.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM ingest_jobs WHERE id = ANY(%s) AND status IN ('queued', 'running')",
                (job_ids,),
            ).fetchall()
        return set(job_ids) - {r[0] for r in rows}

    def set_running(self, job_id: uuid.UUID) -> None:
        with self._db.pool.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET status = 'running', updated_at = now()"
                " WHERE id = %s AND status IN ('queued', 'running')",
                (job_id,),
            )

    def touch(self, job_id: uuid.UUID) -> None:
        """Show that the job's runner is alive (a long file writes no progress for a while)."""
        with self._db.pool.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET updated_at = now() WHERE id = %s AND status = 'running'", (job_id,)
            )

    # ------------------------------------------------------------ queued (worker) jobs
    def pending_files(self, job_id: uuid.UUID) -> builtins.list[QueuedFile]:
        """The files of a worker job not done yet, in order, with how often each was begun."""
        with self._db.pool.connection() as conn:
            rows = conn.execute(
                "SELECT i.idx, i.attempts FROM ingest_job_items i JOIN ingest_jobs j ON j.id = i.job_id"
                " WHERE i.job_id = %s AND j.files -> i.idx ->> 'status' = 'queued' ORDER BY i.idx",
                (job_id,),
            ).fetchall()
        return [QueuedFile(int(r[0]), int(r[1])) for r in rows]

    def begin_files(self, job_id: uuid.UUID, indexes: builtins.list[int]) -> None:
        """Count one more attempt for each of these files, before the worker starts on them."""
        with self._db.pool.connection() as conn:
            conn.execute(
                "UPDATE ingest_job_items SET attempts = attempts + 1 WHERE job_id = %s AND idx = ANY(%s)",
                (job_id, indexes),
            )

    def load_items(
        self, job_id: uuid.UUID, indexes: builtins.list[int]
    ) -> builtins.list[tuple[int, SourceItem]]:
        """The stored bytes of these files of a worker job, with their index, in the order given."""
        with self._db.pool.connection() as conn:
            rows = conn.execute(
                "SELECT idx, uri, source, name, content_type, data, source_version FROM ingest_job_items"
                " WHERE job_id = %s AND idx = ANY(%s)",
                (job_id, indexes),
            ).fetchall()
        by_index = {
            int(r[0]): SourceItem(
                uri=r[1], source=r[2], name=r[3], data=bytes(r[5]), content_type=r[4], version=r[6] or ""
            )
            for r in rows
        }
        return [(i, by_index[i]) for i in indexes if i in by_index]

    def finish_from_files(self, job_id: uuid.UUID) -> str | None:
        """End a running job by its files: ``succeeded`` when none failed, ``failed`` when all did,
        else ``partial``; frees its stored bytes. The status set, or None if it had ended."""
        with self._db.pool.connection() as conn:
            row = conn.execute(
                "UPDATE ingest_jobs SET"
                " status = CASE WHEN NOT EXISTS (SELECT 1 FROM jsonb_array_elements(files) AS f"
                "   WHERE f ->> 'status' IN ('failed', 'queued')) THEN 'succeeded'"
                "   WHEN NOT EXISTS (SELECT 1 FROM jsonb_array_elements(files) AS f"
                "   WHERE f ->> 'status' IN ('added', 'updated', 'unchanged')) THEN 'failed'"
                "   ELSE 'partial' END,"
                " error = (SELECT CASE WHEN count(*) = 0 THEN '' ELSE count(*) || ' of ' || total"
                "   || ' files failed' END FROM jsonb_array_elements(files) AS f"
                "   WHERE f ->> 'status' <> ALL('{added,updated,unchanged}')),"
                " updated_at = now(), finished_at = now()"
                " WHERE id = %s AND status IN ('queued', 'running') RETURNING status",
                (job_id,),
            ).fetchone()
            conn.execute("DELETE FROM ingest_job_items WHERE job_id = %s", (job_id,))
        return str(row[0]) if row else None

    def drop_items(self, job_id: uuid.UUID) -> None:
        with self._db.pool.connection() as conn:
            conn.execute("DELETE FROM ingest_job_items WHERE job_id = %s", (job_id,))

    def file_done(
        self, job_id: uuid.UUID, index: int, status: str, detail: str, document_id: int | None
    ) -> None:
        """Record one file's outcome (``index`` into the job's file list). A file recorded again
        (its job run again after its worker died) does not count twice in ``done``."""
        patch = json.dumps({"status": status, "detail": detail[:2000], "document_id": document_id})
        with self._db.pool.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET files = jsonb_set(files, ARRAY[%s::text], files -> %s || %s::jsonb),"
                " done = done + CASE WHEN files -> %s ->> 'status' = 'queued' THEN 1 ELSE 0 END,"
                " updated_at = now() WHERE id = %s AND status IN ('queued', 'running')",
                (str(index), index, patch, index, job_id),
            )

    def finish(self, job_id: uuid.UUID, status: str, error: str = "") -> None:
        """Record the outcome of a job still queued or running (a job already interrupted stays so)."""
        with self._db.pool.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET status = %s, error = %s, updated_at = now(), finished_at = now()"
                " WHERE id = %s AND status IN ('queued', 'running')",
                (status, error[:2000], job_id),
            )
            conn.execute("DELETE FROM ingest_job_items WHERE job_id = %s", (job_id,))

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
            ended = cur.rowcount > 0
            conn.execute("DELETE FROM ingest_job_items WHERE job_id = %s", (job_id,))
            return ended
