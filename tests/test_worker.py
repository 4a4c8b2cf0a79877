"""Queued ingestion (``jobs.executor = "worker"``): the API only enqueues, ``awsomechat worker``
processes run the jobs from PostgreSQL, a worker killed mid-job (SIGKILL) is replaced by another
without a half-written or duplicated document, a poison file fails alone, and
``ingest --queue`` splits a folder into jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from awsomechat.container import Container
from awsomechat.ingest.jobs import Upload
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.ingest.worker import QueuedJobExecutor, QueuedJobRunner
from awsomechat.seams import Embedder
from awsomechat.settings import JobsSettings
from awsomechat.types import AccessScope
from tests.api.conftest import ARTIFACTS
from tests.helpers import consistency_problems
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.timeout(600)

FAST_QUEUE_ENV = {
    "AWSOMECHAT_JOBS__EXECUTOR": "worker",
    "AWSOMECHAT_JOBS__STALLED_AFTER_S": "3",
    "AWSOMECHAT_JOBS__HEARTBEAT_S": "1",
    "AWSOMECHAT_JOBS__POLL_S": "0.5",
}
WORDS = (
    "glacier vault retrieval tier archive lifecycle bucket object replica region quota throughput"
    " latency partition shard index vector passage embedding keyword ranking fusion"
).split()


def _doc(i: int, paragraphs: int = 40) -> bytes:
    """A Markdown document of a few dozen passages, different for every ``i``."""
    lines = [f"# Runbook {i}\n"]
    for p in range(paragraphs):
        words = " ".join(WORDS[(i * 7 + p * 3 + k) % len(WORDS)] for k in range(60))
        lines.append(f"## Step {p} of runbook {i}\n\nRunbook {i} step {p}: {words}.\n")
    return "\n".join(lines).encode()


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "awsomechat", "worker"],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited ({proc.returncode}):\n{log_path.read_text(errors='replace')}")
        if "ready: waiting for ingestion jobs" in log_path.read_text(errors="replace"):
            return proc
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("worker not ready within 180 s")


def _job(s: LiveServer, job_id: str) -> dict[str, Any]:
    """The job as ``/v1/jobs/{id}`` shows it, read from the database (polling over HTTP would
    meet the per-key rate limit)."""
    job = s.container.jobs.get(uuid.UUID(job_id), None)
    return {
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "files": [f.to_json() for f in job.files],
    }


def _wait(s: LiveServer, job_id: str, until: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(s, job_id)
        if until(job):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id}: condition not met in {timeout} s: {_job(s, job_id)}")


@pytest.fixture
def queue_server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    env = {**FAST_QUEUE_ENV, "AWSOMECHAT_API__MAX_UPLOAD_FILES": "20"}
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=env) as s:
        yield s


def test_a_killed_worker_job_is_finished_by_another_without_duplicates(queue_server: LiveServer) -> None:
    s = queue_server
    names = [f"runbook-{i:02d}.md" for i in range(16)]
    files = [("files", (n, _doc(i), "text/markdown")) for i, n in enumerate(names)]
    logs = ARTIFACTS / "logs"
    with s.client(s.admin_key) as c:
        up = c.post("/v1/documents", files=files, data={"collection": "kb"})
        assert up.status_code == 202, up.text
        job_id = up.json()["id"]
        time.sleep(1.5)
        # The API only enqueued: nothing ran, the bytes wait in PostgreSQL.
        assert _job(s, job_id)["status"] == "queued"
        with s.container.database.pool.connection() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM ingest_job_items)"
            ).fetchone()
        assert row == (0, len(names))

        first = _start_worker(s.env, logs / f"worker-a-{uuid.uuid4().hex[:6]}.log")
        try:
            before = _wait(s, job_id, lambda j: j["done"] >= 1)
            assert before["status"] == "running"
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
        killed_at = _job(s, job_id)
        assert killed_at["done"] < len(names), "the job finished before the kill: make it longer"

        second = _start_worker(s.env, logs / f"worker-b-{uuid.uuid4().hex[:6]}.log")
        try:
            _wait(s, job_id, lambda j: j["status"] in ("succeeded", "failed", "partial"))
        finally:
            second.terminate()
            second.wait(60)
        job = c.get(f"/v1/jobs/{job_id}").json()  # what the API shows

    assert job["status"] == "succeeded", job
    assert job["done"] == job["total"] == len(names)
    assert all(f["status"] in ("added", "unchanged") and f["document_id"] for f in job["files"]), job
    # what was recorded before the kill stays as it was
    for before_file, after_file in zip(killed_at["files"], job["files"], strict=True):
        if before_file["status"] != "queued":
            assert (after_file["status"], str(after_file["document_id"])) == (
                before_file["status"],
                str(before_file["document_id"]),
            )
    with s.container.database.pool.connection() as conn:
        uris = [r[0] for r in conn.execute("SELECT uri FROM documents ORDER BY uri").fetchall()]
        left = conn.execute("SELECT count(*) FROM ingest_job_items").fetchone()
    assert uris == [f"upload://kb/{n}" for n in names]  # each once
    assert consistency_problems(s.container) == []
    assert left == (0,)  # the bytes go when the job ends


@pytest.fixture
def queued(container: Container) -> Container:
    container.settings.jobs = JobsSettings(executor="worker", max_attempts=2)
    return container


def _executor(c: Container) -> QueuedJobExecutor:
    return QueuedJobExecutor(c.jobs, c.ingestion, c.documents, c.settings.jobs)


def test_a_poison_file_fails_alone_with_its_reason(queued: Container) -> None:
    c = queued
    runner = c.ingest_jobs
    assert isinstance(runner, QueuedJobRunner)
    uploads = [
        Upload("good.md", b"# Good\n\nThe Zorblax vault opens at nine.\n", "text/markdown"),
        Upload("broken.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 50, "application/pdf"),
        Upload("killer.md", b"# Killer\n\nThis file took its worker down every time.\n", "text/markdown"),
    ]
    job, finished = runner.submit("admin", uploads, "kb", IngestOptions())
    assert c.ingest_queue.counts().get("todo") == 1
    assert not finished.done()  # ?wait=true waits for a worker
    # as if two workers had died while ingesting killer.md
    with c.database.pool.connection() as conn:
        conn.execute("UPDATE ingest_job_items SET attempts = 2 WHERE job_id = %s AND idx = 2", (job.id,))

    assert _executor(c).run(job.id) == "partial"
    finished.result(timeout=30)  # resolved once the job ended
    done = c.jobs.get(job.id, None)
    by_name = {f.name: f for f in done.files}
    assert by_name["good.md"].status == "added"
    assert by_name["broken.pdf"].status == "failed" and by_name["broken.pdf"].detail
    assert by_name["killer.md"].status == "failed"
    assert "stopped 2 times" in by_name["killer.md"].detail
    assert done.error == "2 of 3 files failed"
    assert c.documents.find_by_uri("upload://kb/good.md", AccessScope.admin()) is not None
    assert c.documents.find_by_uri("upload://kb/killer.md", AccessScope.admin()) is None
    # a job run again after it ended does nothing
    assert _executor(c).run(job.id) is None


def test_a_rerun_after_a_crash_skips_recorded_files_and_counts_once(queued: Container) -> None:
    c = queued
    runner = c.ingest_jobs
    assert isinstance(runner, QueuedJobRunner)
    uploads = [Upload(f"d{i}.md", _doc(i, 3), "text/markdown") for i in range(4)]
    job, _ = runner.submit("admin", uploads, "kb", IngestOptions(groups=("ops",)))
    # As if a worker had stored all four documents, recorded d0 and d1, and died before it
    # recorded d2 and d3 (which it had begun once).
    c.jobs.set_running(job.id)
    c.jobs.begin_files(job.id, [0, 1, 2, 3])
    items = [item for _, item in c.jobs.load_items(job.id, [0, 1, 2, 3])]
    c.ingestion.ingest_items(items, items[0].source, IngestOptions(groups=("ops",)))
    for i in (0, 1):
        doc = c.documents.find_by_uri(items[i].uri, AccessScope.admin())
        assert doc is not None
        c.jobs.file_done(job.id, i, "added", "", doc.id)

    assert _executor(c).run(job.id) == "succeeded"
    again = c.jobs.get(job.id, None)
    assert again.done == again.total == 4
    assert [f.status for f in again.files] == ["added", "added", "unchanged", "unchanged"]
    assert c.documents.stats()["documents"] == 4
    assert consistency_problems(c) == []


def test_ingest_queue_splits_a_folder_into_jobs(queued: Container, tmp_path: Path) -> None:
    from awsomechat.ingest.queue_split import queue_sources

    c = queued
    c.settings.jobs = JobsSettings(executor="worker", files_per_job=2)
    for i in range(5):
        (tmp_path / f"note{i}.md").write_bytes(_doc(i, 2))
    runner = c.ingest_jobs
    assert isinstance(runner, QueuedJobRunner)
    report = queue_sources(
        runner, c.ingestion, [str(tmp_path)], IngestOptions(attributes={"team": "ops"}), c.settings
    )
    assert [j.total for j in report.jobs] == [2, 2, 1] and report.files == 5
    assert c.documents.stats()["documents"] == 0  # queued, not ingested
    ex = _executor(c)
    assert [ex.run(j.id) for j in report.jobs] == ["succeeded"] * 3
    docs = c.documents.list_documents(AccessScope.admin(), limit=10)
    assert sorted(d.title for d in docs) == [f"Runbook {i}" for i in range(5)]
    assert all(d.attributes.get("team") == "ops" for d in docs)


def test_inline_stays_the_default(container: Container) -> None:
    from awsomechat.ingest.jobs import IngestJobRunner

    assert container.settings.jobs.executor == "inline"
    assert isinstance(container.ingest_jobs, IngestJobRunner)
