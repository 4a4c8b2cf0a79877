"""Runs uploaded files through ingestion in the background, recording progress in the job.

One worker thread per process: ingestion is CPU-bound (embedding), and one run at a time keeps
answers responsive. The job record is the only state, so any replica can report on it.

Shutdown is bounded: ``close(timeout)`` stops taking jobs, lets the running one finish the
document it is on for up to ``timeout`` seconds, then records it (and any job still waiting) as
failed, "interrupted by shutdown", with every unfinished file marked so. The worker is a daemon
thread, so a document still being embedded then does not hold the process: its transaction
never commits, and documents already written stay (each is written in one transaction).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass

from awsomechat.errors import AwsomeChatError
from awsomechat.ingest.jobs_pg import IngestJob, JobFile, PgJobStore
from awsomechat.ingest.pipeline import IngestionService, IngestOptions, IngestReport
from awsomechat.store.documents import DocumentStore
from awsomechat.types import AccessScope, SourceItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """One accepted file of an upload request."""

    name: str
    data: bytes
    content_type: str | None = None


INTERRUPTED = "interrupted by shutdown"
_INTERRUPTED_JOB = f"{INTERRUPTED}; upload the files marked failed again"
_INTERRUPTED_FILE = f"{INTERRUPTED}; upload it again"


class _Interrupted(Exception):
    """Raised between two documents when the runner is closing."""


class _JobProgress:
    """IngestProgress that writes each file's outcome into the job record, and stops the run
    between two documents once the runner is closing."""

    def __init__(
        self,
        jobs: PgJobStore,
        documents: DocumentStore,
        job_id: uuid.UUID,
        items: list[SourceItem],
        closing: threading.Event,
        *,
        indexes: list[int] | None = None,
    ):
        self._jobs = jobs
        self._documents = documents
        self._job_id = job_id
        # ``indexes``: where each item sits in the job's file list (a worker runs part of a job)
        positions = indexes if indexes is not None else list(range(len(items)))
        self._index = {item.name: (i, item.uri) for i, item in zip(positions, items, strict=True)}
        self._closing = closing

    def source_started(self, spec: str, total: int | None) -> None:
        pass

    def item_done(self, name: str, status: str, detail: str = "") -> None:
        if name in self._index:
            i, uri = self._index[name]
            doc_id = None
            if status != "failed":
                record = self._documents.find_by_uri(uri, AccessScope.admin())
                doc_id = record.id if record else None
            self._jobs.file_done(self._job_id, i, status, detail, doc_id)
        if self._closing.is_set():
            raise _Interrupted


@dataclass(frozen=True)
class _Task:
    job_id: uuid.UUID
    items: list[SourceItem]
    source: str
    options: IngestOptions
    future: Future[None]


class IngestJobRunner:
    """Creates jobs for uploads and runs them, one at a time, on a background (daemon) thread."""

    def __init__(self, jobs: PgJobStore, ingestion: IngestionService, documents: DocumentStore) -> None:
        self._jobs = jobs
        self._ingestion = ingestion
        self._documents = documents
        self._tasks: queue.Queue[_Task | None] = queue.Queue()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._current: uuid.UUID | None = None

    def submit(
        self, user_id: str, uploads: list[Upload], collection: str, options: IngestOptions
    ) -> tuple[IngestJob, Future[None]]:
        """Record a queued job for ``uploads`` (already checked) and start it."""
        if self._closing.is_set():
            raise AwsomeChatError("the server is shutting down", hint="upload again in a moment")
        source = f"upload://{collection}"
        items = [
            SourceItem(
                uri=f"{source}/{u.name}", source=source, name=u.name, data=u.data, content_type=u.content_type
            )
            for u in uploads
        ]
        job = self._jobs.create(
            user_id,
            [JobFile(u.name, len(u.data)) for u in uploads],
            {"collection": collection, "attributes": options.attributes, "groups": list(options.groups)},
        )
        future: Future[None] = Future()
        self._tasks.put(_Task(job.id, items, source, options, future))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="ingest-job", daemon=True)
                self._thread.start()
        return job, future

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                if self._closing.is_set():
                    self._interrupt(task.job_id)
                else:
                    self._current = task.job_id
                    self._run(task.job_id, task.items, task.source, task.options)
            finally:
                self._current = None
                task.future.set_result(None)

    def _run(self, job_id: uuid.UUID, items: list[SourceItem], source: str, options: IngestOptions) -> None:
        try:
            self._jobs.set_running(job_id)
            progress = _JobProgress(self._jobs, self._documents, job_id, items, self._closing)
            report = IngestReport()
            self._ingestion.ingest_items(items, source, options, progress, report)
            if not report.failed:
                status = "succeeded"
            elif len(report.failed) == len(items):
                status = "failed"
            else:
                status = "partial"
            self._jobs.finish(
                job_id, status, f"{len(report.failed)} of {len(items)} files failed" if report.failed else ""
            )
        except _Interrupted:
            self._interrupt(job_id)
        except AwsomeChatError as exc:
            log.warning("ingestion job %s failed: %s", job_id, exc)
            self._jobs.finish(job_id, "failed", str(exc))
        except Exception as exc:
            if self._closing.is_set():  # the pool was closed under a job given up at shutdown
                log.info("ingestion job %s stopped by shutdown (%s)", job_id, type(exc).__name__)
                return
            log.exception("ingestion job %s crashed", job_id)
            self._jobs.finish(job_id, "failed", f"internal error: {type(exc).__name__}")

    def _interrupt(self, job_id: uuid.UUID) -> None:
        try:
            if self._jobs.interrupt(job_id, _INTERRUPTED_JOB, _INTERRUPTED_FILE):
                log.warning("ingestion job %s %s", job_id, INTERRUPTED)
        except Exception as exc:  # the database may be going away too; the job then goes stale
            log.warning("could not mark ingestion job %s as %s: %s", job_id, INTERRUPTED, exc)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking jobs and wait for the running one: until it ends (``timeout=None``), or up to
        ``timeout`` seconds, after which it and every waiting job are marked interrupted."""
        self._closing.set()
        while True:  # jobs that never started
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                self._interrupt(task.job_id)
                task.future.set_result(None)
        self._tasks.put(None)
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        current = self._current
        if thread.is_alive() and current is not None:
            log.warning(
                "ingestion job %s still running after %.0f s of shutdown grace", current, timeout or 0
            )
            self._interrupt(current)
