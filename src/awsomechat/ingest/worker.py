"""Queued ingestion: the API side that enqueues, and ``awsomechat worker`` that runs the jobs.

Guarantees, and how they are kept:

* **A worker killed mid-job** (SIGKILL, OOM, a lost machine) leaves its queue job ``doing`` with
  a heartbeat that stops. Every worker's sweeper finds such jobs after ``jobs.stalled_after_s``
  and queues them again; the next worker skips the files already recorded and re-runs the rest.
* **No half-written or duplicated document**: each document is written in one transaction keyed
  by its URI (a killed worker's open transaction is rolled back by PostgreSQL), and re-running a
  file that was stored just before the kill finds it unchanged.
* **Bounded retries**: each file counts how often a worker began it. A file begun
  ``jobs.max_attempts`` times without an outcome (its worker died under it each time: a poison
  file) is failed alone with that reason. After the first death, files that were in flight are
  run one at a time, so only the file that kills the worker is charged again. A job that raises
  (a database outage) is run at most ``jobs.max_attempts`` times.
* **A file that fails to parse** fails alone with its reason, as in the inline runner.
* **Progress** is the same ``ingest_jobs`` record the API shows at ``/v1/jobs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from awsomechat.errors import AwsomeChatError, NotFoundError
from awsomechat.ingest.jobs import Upload, _JobProgress
from awsomechat.ingest.jobs_pg import FINAL_STATES, IngestJob, JobFile, PgJobStore
from awsomechat.ingest.pipeline import IngestionService, IngestOptions, IngestReport
from awsomechat.ingest.queue import QUEUE, TASK, IngestQueue, ensure_queue_schema, procrastinate_module
from awsomechat.settings import JobsSettings
from awsomechat.store.documents import DocumentStore
from awsomechat.types import SourceItem

if TYPE_CHECKING:
    from awsomechat.container import Container

log = logging.getLogger(__name__)

# Files taken together while none of them is suspected (one embedder batch spans several files).
GROUP_FILES = 16
# How long a submitted job's future waits for a worker (the API's ?wait=true gives up at 600 s).
WATCH_S = 700.0
# A stalled job is run again at most this often in all: each run charges the file(s) it was on,
# so per-file attempts bound it first; this is the backstop.
MAX_JOB_RUNS = 100


def _poison_detail(attempts: int) -> str:
    return (
        f"the worker ingesting this file stopped {attempts} times before finishing it (crashed,"
        " killed, or out of memory); not tried again"
    )


class QueuedJobRunner:
    """``jobs.executor = "worker"``: records the job and its files' bytes, defers it, returns.

    Same ``submit`` as the inline runner; the future it returns resolves when a worker has
    finished the job (the API's ``?wait=true``), by polling the job record.
    """

    def __init__(self, jobs: PgJobStore, queue: IngestQueue, poll_s: float = 0.5) -> None:
        self._jobs = jobs
        self._queue = queue
        self._poll_s = poll_s
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._waiting: dict[uuid.UUID, tuple[Future[None], float]] = {}
        self._watcher: threading.Thread | None = None

    def submit(
        self, user_id: str, uploads: list[Upload], collection: str, options: IngestOptions
    ) -> tuple[IngestJob, Future[None]]:
        source = f"upload://{collection}"
        items = [
            SourceItem(
                uri=f"{source}/{u.name}", source=source, name=u.name, data=u.data, content_type=u.content_type
            )
            for u in uploads
        ]
        meta = {"collection": collection, "attributes": options.attributes, "groups": list(options.groups)}
        job = self.enqueue(user_id, items, meta)
        future: Future[None] = Future()
        with self._lock:
            self._waiting[job.id] = (future, time.monotonic() + WATCH_S)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="job-watch", daemon=True)
                self._watcher.start()
        return job, future

    def enqueue(self, user_id: str, items: list[SourceItem], options: dict[str, Any]) -> IngestJob:
        """Store a job of ``items`` (their bytes included) and queue it for a worker."""
        job = self._jobs.create(user_id, [JobFile(i.name, len(i.data)) for i in items], options, items=items)
        try:
            self._queue.defer(job.id)
        except Exception as exc:
            self._jobs.finish(job.id, "failed", f"could not queue the job: {type(exc).__name__}")
            raise AwsomeChatError("could not queue the ingestion job", hint="try again shortly") from exc
        return job

    def _watch(self) -> None:
        """One thread resolves every submitted job's future when a worker has ended the job."""
        while not self._closing.wait(self._poll_s):
            with self._lock:
                waiting = dict(self._waiting)
            if not waiting:
                continue
            now = time.monotonic()
            try:
                done = self._jobs.ended(list(waiting))
            except Exception as exc:  # the database is away for a moment: look again next round
                log.debug("could not read job states: %s", exc)
                done = set()
            for job_id, (future, deadline) in waiting.items():
                if job_id in done or now > deadline:
                    with self._lock:
                        self._waiting.pop(job_id, None)
                    future.set_result(None)
        with self._lock:
            for future, _ in self._waiting.values():
                future.set_result(None)
            self._waiting.clear()

    def close(self, timeout: float | None = None) -> None:
        """Nothing runs here: queued jobs stay queued for the workers."""
        self._closing.set()


class QueuedJobExecutor:
    """Runs one queued ingestion job in a worker process (any number of times: idempotent)."""

    def __init__(
        self, jobs: PgJobStore, ingestion: IngestionService, documents: DocumentStore, settings: JobsSettings
    ) -> None:
        self._jobs = jobs
        self._ingestion = ingestion
        self._documents = documents
        self._settings = settings
        self.closing = threading.Event()
        self._never = threading.Event()  # a queued job is never interrupted mid-group: it resumes

    def run(self, job_id: uuid.UUID, run: int = 0) -> str | None:
        """Run (or resume) the job; its final status, or None if it had already ended."""
        try:
            job = self._jobs.get(job_id, None)
        except NotFoundError:
            log.warning("queued ingestion job %s no longer exists", job_id)
            return None
        if job.status in FINAL_STATES:
            self._jobs.drop_items(job_id)
            return None
        self._jobs.set_running(job_id)
        log.info("ingestion job %s: run %d", job_id, run + 1)
        options = IngestOptions(
            attributes=dict(job.options.get("attributes", {})), groups=tuple(job.options.get("groups", []))
        )
        with self._heartbeat(job_id):
            try:
                self._run_files(job_id, options)
            except AwsomeChatError as exc:  # e.g. the index was built by another embedder: no retry helps
                log.warning("ingestion job %s failed: %s", job_id, exc)
                self._jobs.interrupt(job_id, str(exc), f"not ingested: {exc}")
                return "failed"
        return self._jobs.finish_from_files(job_id)

    def _run_files(self, job_id: uuid.UUID, options: IngestOptions) -> None:
        limit = self._settings.max_attempts
        pending = self._jobs.pending_files(job_id)
        for f in pending:
            if f.attempts >= limit:
                self._jobs.file_done(job_id, f.index, "failed", _poison_detail(f.attempts), None)
        live = [f for f in pending if f.attempts < limit]
        suspects = [[f.index] for f in live if f.attempts > 0]
        fresh = [f.index for f in live if f.attempts == 0]
        groups = suspects + [fresh[i : i + GROUP_FILES] for i in range(0, len(fresh), GROUP_FILES)]
        for indexes in groups:
            self._jobs.begin_files(job_id, indexes)
            loaded = self._jobs.load_items(job_id, indexes)
            if not loaded:
                continue
            items = [item for _, item in loaded]
            progress = _JobProgress(
                self._jobs, self._documents, job_id, items, self._never, indexes=[i for i, _ in loaded]
            )
            self._ingestion.ingest_items(items, items[0].source, options, progress, IngestReport())

    @contextlib.contextmanager
    def _heartbeat(self, job_id: uuid.UUID) -> Iterator[None]:
        """Keep the job record fresh while one long file writes no progress."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self._settings.heartbeat_s):
                with contextlib.suppress(Exception):
                    self._jobs.touch(job_id)

        thread = threading.Thread(target=beat, name="job-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5)


class IngestWorker:
    """One ``awsomechat worker`` process: takes queued jobs one at a time (ingestion is CPU-bound)
    and sweeps jobs whose worker died back into the queue."""

    def __init__(self, container: Container, *, name: str | None = None) -> None:
        self._c = container
        self._settings = container.settings.jobs
        self.name = name
        self._executor = QueuedJobExecutor(
            container.jobs, container.ingestion, container.documents, self._settings
        )

    def _app(self) -> Any:
        procrastinate = procrastinate_module()
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=self._c.database.url))
        executor, limit = self._executor, self._settings.max_attempts

        @app.task(  # type: ignore[untyped-decorator]
            name=TASK,
            queue=QUEUE,
            pass_context=True,
            retry=procrastinate.RetryStrategy(max_attempts=limit - 1, wait=2) if limit > 1 else False,
        )
        def ingest_job(context: Any, job_id: str) -> None:
            jid = uuid.UUID(job_id)
            try:
                executor.run(jid, int(context.job.attempts))
            except Exception as exc:
                if int(context.job.attempts) + 1 >= limit:
                    log.exception("ingestion job %s failed for good", jid)
                    with contextlib.suppress(Exception):
                        self._c.jobs.interrupt(
                            jid,
                            f"internal error: {type(exc).__name__} (after {limit} runs)",
                            "not ingested: the job failed",
                        )
                raise

        return app

    async def _sweep(self, app: Any) -> None:
        """Queue again the jobs of workers that stopped sending heartbeats (killed, crashed)."""
        s = self._settings
        while True:
            try:
                stalled = await app.job_manager.get_stalled_jobs(
                    queue=QUEUE, seconds_since_heartbeat=s.stalled_after_s
                )
                for job in stalled:
                    job_id = uuid.UUID(job.task_kwargs["job_id"])
                    if job.attempts + 1 >= MAX_JOB_RUNS:
                        procrastinate = procrastinate_module()
                        await app.job_manager.finish_job(
                            job, procrastinate.jobs.Status.FAILED, delete_job=False
                        )
                        await asyncio.to_thread(
                            self._c.jobs.interrupt,
                            job_id,
                            f"its workers stopped {MAX_JOB_RUNS} times",
                            "not ingested: the workers running this job kept stopping",
                        )
                        continue
                    log.warning("ingestion job %s: its worker stopped; queued again", job_id)
                    await app.job_manager.retry_job(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away for a moment: try on the next round
                log.warning("stalled-job sweep failed: %s", exc)
            await asyncio.sleep(max(1.0, s.stalled_after_s / 3))

    def run(self) -> None:
        """Work until SIGINT/SIGTERM; the running job then finishes the document it is on."""
        ensure_queue_schema(self._c.database.url)
        asyncio.run(self._main())

    async def _main(self) -> None:
        app = self._app()
        s = self._settings
        async with app.open_async():
            sweeper = asyncio.create_task(self._sweep(app))
            try:
                await app.run_worker_async(
                    queues=[QUEUE],
                    name=self.name,
                    concurrency=1,
                    fetch_job_polling_interval=s.poll_s,
                    update_heartbeat_interval=s.heartbeat_s,
                    stalled_worker_timeout=s.stalled_after_s,
                    delete_jobs="successful",
                )
            finally:
                self._executor.closing.set()
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
