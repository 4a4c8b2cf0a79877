"""Runs uploaded files through ingestion in the background, recording progress in the job.

One worker thread per process: ingestion is CPU-bound (embedding), and one run at a time keeps
answers responsive. The job record is the only state, so any replica can report on it.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
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


class _JobProgress:
    """IngestProgress that writes each file's outcome into the job record."""

    def __init__(
        self, jobs: PgJobStore, documents: DocumentStore, job_id: uuid.UUID, items: list[SourceItem]
    ):
        self._jobs = jobs
        self._documents = documents
        self._job_id = job_id
        self._index = {item.name: (i, item.uri) for i, item in enumerate(items)}

    def source_started(self, spec: str, total: int | None) -> None:
        pass

    def item_done(self, name: str, status: str, detail: str = "") -> None:
        if name not in self._index:
            return
        i, uri = self._index[name]
        doc_id = None
        if status != "failed":
            record = self._documents.find_by_uri(uri, AccessScope.admin())
            doc_id = record.id if record else None
        self._jobs.file_done(self._job_id, i, status, detail, doc_id)


class IngestJobRunner:
    """Creates jobs for uploads and runs them on a background thread."""

    def __init__(self, jobs: PgJobStore, ingestion: IngestionService, documents: DocumentStore) -> None:
        self._jobs = jobs
        self._ingestion = ingestion
        self._documents = documents
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-job")

    def submit(
        self, user_id: str, uploads: list[Upload], collection: str, options: IngestOptions
    ) -> tuple[IngestJob, Future[None]]:
        """Record a queued job for ``uploads`` (already checked) and start it."""
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
        future = self._pool.submit(self._run, job.id, items, source, options)
        return job, future

    def _run(self, job_id: uuid.UUID, items: list[SourceItem], source: str, options: IngestOptions) -> None:
        try:
            self._jobs.set_running(job_id)
            progress = _JobProgress(self._jobs, self._documents, job_id, items)
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
        except AwsomeChatError as exc:
            log.warning("ingestion job %s failed: %s", job_id, exc)
            self._jobs.finish(job_id, "failed", str(exc))
        except Exception as exc:
            log.exception("ingestion job %s crashed", job_id)
            self._jobs.finish(job_id, "failed", f"internal error: {type(exc).__name__}")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
