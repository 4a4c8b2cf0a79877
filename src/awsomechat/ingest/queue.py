"""The ingestion queue in PostgreSQL, kept by procrastinate (``jobs.executor = "worker"``).

The API (or ``ingest --queue``) records the job and its files' bytes in ``ingest_jobs`` /
``ingest_job_items`` and defers one procrastinate job naming it; ``awsomechat worker``
processes on any machine that reaches the database take it (``SELECT ... FOR UPDATE SKIP
LOCKED`` inside procrastinate), run it and record progress in the same job record the API reads.

Why procrastinate rather than pgqueuer (both are maintained PostgreSQL-native queues): it speaks
psycopg 3, the driver this project already uses, both synchronously (the API defers from its
thread pool over the existing connection pool) and asynchronously (the worker); it runs plain
synchronous task functions in a thread, which is what a CPU-bound ingestion is; and it records
worker heartbeats, so a job whose worker was killed can be found and run again (``get_stalled_jobs``
+ ``retry_job``, done here by every worker's sweeper). pgqueuer is asyncio-first (asyncpg, or
psycopg's async driver only) and its schema is installed by its own CLI; it would have worked too.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import psycopg

from awsomechat.errors import MissingExtraError

if TYPE_CHECKING:
    from awsomechat.store.database import Database

QUEUE = "awsomechat-ingest"
TASK = "awsomechat.ingest_job"
_SCHEMA_LOCK = 0x4157_5351  # "AWSQ"


def procrastinate_module() -> Any:
    """The procrastinate package, or an error naming the extra that installs it."""
    try:
        import procrastinate
    except ImportError as exc:
        raise MissingExtraError("ingestion workers (jobs.executor = worker)", "worker") from exc
    return procrastinate


def ensure_queue_schema(url: str) -> bool:
    """Create procrastinate's tables once (several starters at once apply it once); True if created.

    Upgrading procrastinate to a version with a schema change needs its migrations
    (``procrastinate schema --migrate``, see docs/scaling.md) before workers of the new version start.
    """
    procrastinate = procrastinate_module()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
            if row and row[0]:
                return False
            with conn.transaction():
                conn.execute(procrastinate.schema.SchemaManager.get_schema())
            return True
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


class IngestQueue:
    """Defers queued ingestion jobs over the process's own connection pool."""

    def __init__(self, db: Database) -> None:
        procrastinate = procrastinate_module()
        ensure_queue_schema(db.url)
        self._app: Any = procrastinate.App(connector=procrastinate.SyncPsycopgConnector())
        self._app.open(db.pool)

    def defer(self, job_id: uuid.UUID) -> int:
        """Queue the ingestion job ``job_id`` for a worker; the queue's own job id."""
        deferrer = self._app.configure_task(TASK, queue=QUEUE, queueing_lock=str(job_id))
        return int(deferrer.defer(job_id=str(job_id)))

    def counts(self) -> dict[str, int]:
        """Queue jobs by procrastinate status (todo, doing, succeeded, failed...)."""
        rows = self._app.job_manager.list_queues(queue=QUEUE)
        out: dict[str, int] = {}
        for row in rows:
            for key in ("todo", "doing", "succeeded", "failed", "cancelled", "aborted"):
                out[key] = out.get(key, 0) + int(row.get(key) or 0)
        return out
