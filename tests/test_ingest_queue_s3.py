"""``awsomechat ingest --queue s3://bucket/prefix/`` against moto in server mode: the real CLI
splits the prefix into jobs of ``jobs.files_per_job`` documents (their bytes and ETags stored in
PostgreSQL), a real ``awsomechat worker`` process drains them without reaching the bucket, the
progress is the job record ``/v1/jobs`` shows, and no document is duplicated or half-written.
Queued again, unchanged objects are neither downloaded nor queued (their ETag is recorded), an
inline ``ingest s3://`` after the worker downloads nothing, and a changed object is queued alone
with its new ETag."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from awsomechat.container import Container
from awsomechat.ingest.jobs_pg import FINAL_STATES
from awsomechat.types import AccessScope, SearchRequest
from tests.api.conftest import ARTIFACTS
from tests.helpers import consistency_problems
from tests.moto_aws import CREDENTIALS, aws_client, moto_server
from tests.test_worker import FAST_QUEUE_ENV, _start_worker

pytestmark = pytest.mark.timeout(600)

NAMES = [f"guides/runbook-{i}.md" for i in range(5)] + ["faq/glacier.md", "faq/zorblax.md"]


def _doc(name: str, extra: str = "") -> bytes:
    stem = name.rsplit("/", 1)[-1].removesuffix(".md")
    return (
        f"# {stem.replace('-', ' ').title()}\n\n"
        f"## Where {stem} lives\n\nThe {stem} procedure is kept under the {name} key of the bucket."
        f" It describes restoring an archived vault, checking its lifecycle rule and its replica.{extra}\n"
    ).encode()


@pytest.fixture
def moto_s3() -> Iterator[tuple[str, Any, list[str]]]:
    """moto's endpoint, a client on it, and every request moto answered (from any process)."""
    requests: list[str] = []
    with moto_server(requests) as url:
        yield url, aws_client("s3", url), requests


def _downloads(requests: list[str], bucket: str) -> int:
    """GetObject calls on ``bucket`` so far: path-style GETs of a key (a listing names no key)."""
    paths = [r.removeprefix("GET ").split("?", 1)[0] for r in requests if r.startswith("GET ")]
    return sum(1 for p in paths if p.startswith(f"/{bucket}/") and p != f"/{bucket}/")


def _etags(s3: Any, bucket: str) -> list[tuple[str, str]]:
    """(URI, ETag) of every object under ``kb/``, as S3 lists them."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="kb/")["Contents"]
    return sorted((f"s3://{bucket}/{o['Key']}", o["ETag"]) for o in listed)


def _env(c: Container, endpoint: str | None) -> dict[str, str]:
    env = {
        **FAST_QUEUE_ENV,
        "AWSOMECHAT_DATA_DIR": str(c.settings.data_dir),
        "AWSOMECHAT_DATABASE__NAME": c.settings.database.name,
        "AWSOMECHAT_JOBS__FILES_PER_JOB": "3",
        "AWSOMECHAT_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
    }
    if endpoint is not None:
        env |= {**CREDENTIALS, "AWS_ENDPOINT_URL_S3": endpoint}
    return env


def _cli_ingest(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "awsomechat", "ingest", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _queue(env: dict[str, str], spec: str) -> str:
    return _cli_ingest(env, "--queue", spec)


def _job_ids(stdout: str) -> list[uuid.UUID]:
    return [
        uuid.UUID(line.split()[1].rstrip(":"))
        for line in stdout.splitlines()
        if line.strip().startswith("job ")
    ]


def _drain(c: Container, env: dict[str, str], job_ids: list[uuid.UUID], log: Path) -> list[list[int]]:
    """Run one worker until every job ended; the ``done`` counts seen per job, in order."""
    seen: list[list[int]] = [[] for _ in job_ids]
    worker = _start_worker(env, log)
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            jobs = [c.jobs.get(j, None) for j in job_ids]
            for trace, job in zip(seen, jobs, strict=True):
                if not trace or trace[-1] != job.done:
                    trace.append(job.done)
            if all(job.status in FINAL_STATES for job in jobs):
                return seen
            time.sleep(0.2)
        raise AssertionError(f"jobs not done in 400 s: {[c.jobs.get(j, None).status for j in job_ids]}")
    finally:
        worker.terminate()
        worker.wait(60)


def _stored(c: Container, column: str = "source") -> list[tuple[str, str]]:
    """(URI, ``column``) of every stored document."""
    with c.database.pool.connection() as conn:
        rows = conn.execute(f"SELECT uri, {column} FROM documents ORDER BY uri").fetchall()
    return [(r[0], r[1]) for r in rows]


def _queued_versions(c: Container) -> list[tuple[str, str | None]]:
    """(URI, source version) of every file waiting in ``ingest_job_items``."""
    with c.database.pool.connection() as conn:
        rows = conn.execute("SELECT uri, source_version FROM ingest_job_items ORDER BY uri").fetchall()
    return [(r[0], r[1]) for r in rows]


def test_ingest_queue_splits_an_s3_prefix_and_a_worker_drains_it(
    container: Container, moto_s3: tuple[str, Any, list[str]]
) -> None:
    c = container
    endpoint, s3, requests = moto_s3
    bucket = f"kb-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    for name in NAMES:
        s3.put_object(Bucket=bucket, Key=f"kb/{name}", Body=_doc(name))
    s3.put_object(Bucket=bucket, Key="other/outside.md", Body=_doc("outside.md"))  # not under the prefix
    c.documents.stats()  # the schema exists before the CLI and the worker start
    spec = f"s3://{bucket}/kb/"
    expected = sorted(
        (f"s3://{bucket}/kb/{n}", spec) for n in NAMES
    )  # the source is the prefix as given, as inline

    out = _queue(_env(c, endpoint), spec)
    assert "queued 7 documents" in out and "in 3 jobs" in out, out
    job_ids = _job_ids(out)
    jobs = [c.jobs.get(j, None) for j in job_ids]
    assert [j.total for j in jobs] == [3, 3, 1]
    assert all(j.status == "queued" and j.done == 0 for j in jobs)
    assert sorted(f.name for j in jobs for f in j.files) == sorted(NAMES)
    assert {j.id for j in c.jobs.list("cli", limit=10)} == set(job_ids)  # what /v1/jobs lists
    assert _stored(c) == []  # queued, not ingested: the bytes wait in PostgreSQL
    assert _downloads(requests, bucket) == 7
    assert _queued_versions(c) == _etags(s3, bucket)  # each queued copy carries its object's ETag

    # The worker needs no access to the bucket: it runs with no S3 endpoint or credentials.
    logs = ARTIFACTS / "logs"
    seen = _drain(c, _env(c, None), job_ids, logs / f"worker-s3-{uuid.uuid4().hex[:6]}.log")
    jobs = [c.jobs.get(j, None) for j in job_ids]
    assert [j.status for j in jobs] == ["succeeded"] * 3, [j.error for j in jobs]
    assert [j.done for j in jobs] == [j.total for j in jobs] == [3, 3, 1]
    assert all(
        trace == sorted(trace) and trace[-1] == total for trace, total in zip(seen, [3, 3, 1], strict=True)
    )
    assert all(f.status == "added" and f.document_id for j in jobs for f in j.files)
    assert _stored(c) == expected  # each object once, under its s3:// URI and the prefix as source
    assert consistency_problems(c) == []
    assert _queued_versions(c) == []
    assert _stored(c, "source_version") == _etags(s3, bucket)  # the worker recorded each ETag
    hits = c.retriever.search(SearchRequest(text="zorblax procedure", k=3, access=AccessScope.admin())).hits
    assert hits and hits[0].uri == f"s3://{bucket}/kb/faq/zorblax.md"

    # Queued again, unchanged: every ETag is recorded, so nothing is downloaded or queued.
    out = _queue(_env(c, endpoint), spec)
    assert "queued 0 documents (0.0 MB) in 0 jobs; 7 unchanged" in out, out
    assert _job_ids(out) == [] and len(c.jobs.list("cli", limit=10)) == 3
    assert _queued_versions(c) == [] and _downloads(requests, bucket) == 7
    # An inline re-sync after the worker finds every object unchanged by the recorded ETag, unread.
    out = _cli_ingest(_env(c, endpoint), spec)
    assert "0 added, 0 updated, 7 unchanged, 0 deleted, 0 failed" in out, out
    assert _downloads(requests, bucket) == 7

    # Queued again after one object changed: only it is downloaded and queued, with its new ETag.
    before = dict(_etags(s3, bucket))
    s3.put_object(
        Bucket=bucket, Key="kb/faq/glacier.md", Body=_doc("faq/glacier.md", " Expedited: 5 minutes.")
    )
    glacier = f"s3://{bucket}/kb/faq/glacier.md"
    etags = _etags(s3, bucket)
    assert dict(etags)[glacier] != before[glacier]
    out = _queue(_env(c, endpoint), spec)
    assert "queued 1 documents" in out and "in 1 jobs; 6 unchanged" in out, out
    assert _downloads(requests, bucket) == 8
    assert _queued_versions(c) == [(glacier, dict(etags)[glacier])]
    again = _job_ids(out)
    _drain(c, _env(c, None), again, logs / f"worker-s3-{uuid.uuid4().hex[:6]}.log")
    status = {f.name: f.status for j in again for f in c.jobs.get(j, None).files}
    assert status == {"faq/glacier.md": "updated"}
    assert _stored(c) == expected
    assert consistency_problems(c) == []
    assert _stored(c, "source_version") == etags
    out = _cli_ingest(_env(c, endpoint), spec)
    assert "0 added, 0 updated, 7 unchanged, 0 deleted, 0 failed" in out, out
    assert _downloads(requests, bucket) == 8
    hits = c.retriever.search(
        SearchRequest(text="expedited glacier restore minutes", k=3, access=AccessScope.admin())
    ).hits
    assert hits and hits[0].uri == f"s3://{bucket}/kb/faq/glacier.md" and "5 minutes" in hits[0].text
