"""Queued ingestion throughput with 1, 2, 4 ``awsomechat worker`` processes (issue 16).

``--docs`` pages of the AWS documentation set (``../shared/data/awsdocs/docs``, name order) are
queued as jobs of ``--files-per-job`` pages (``ingest --queue``'s path: bytes stored in
PostgreSQL), then N workers are started on a fresh database and the wall time from the first
worker being ready to every job ended is measured: passages/s in all and per worker. All workers
share this machine's cores, so more workers only help while a core is idle (embedding is
CPU-bound; a second worker mostly overlaps parsing and database writes with the other's
embedding). Worker start-up (loading the embedder) is not counted.

Progress goes to stderr, the figures to stdout, the last line one JSON object.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import BenchStore, emit, heading, isolate_environment, log, machine_info, show
from awsomechat.container import Container
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.ingest.queue_split import queue_sources
from awsomechat.ingest.worker import QueuedJobRunner
from awsomechat.settings import JobsSettings

AWSDOCS = Path(__file__).resolve().parents[2] / "shared" / "data" / "awsdocs" / "docs"


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    out = open(log_path, "ab")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(
        [sys.executable, "-m", "awsomechat", "worker"], env={**os.environ, **env}, stdout=out, stderr=out
    )


def wait_ready(logs: list[Path], procs: list[subprocess.Popen[bytes]], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p, lp in zip(procs, logs, strict=True):
            if p.poll() is not None:
                raise RuntimeError(f"worker exited:\n{lp.read_text(errors='replace')[-2000:]}")
        if all("ready: waiting" in lp.read_text(errors="replace") for lp in logs):
            return
        time.sleep(0.5)
    raise RuntimeError("workers not ready in time")


def run(store: BenchStore, files: list[Path], workers: int, per_job: int) -> dict[str, Any]:
    db = f"bench_workers_{workers}"
    store.drop_database(db)
    settings = store.settings(db)
    settings.jobs = JobsSettings(executor="worker", files_per_job=per_job, poll_s=0.5)
    folder = Path(store.data_dir) / "docs"
    folder.mkdir(exist_ok=True)
    for f in files:
        target = folder / f.name
        if not target.exists():
            target.write_bytes(f.read_bytes())
    env = {
        "AWSOMECHAT_DATA_DIR": str(store.data_dir),
        "AWSOMECHAT_DATABASE__NAME": db,
        "AWSOMECHAT_JOBS__EXECUTOR": "worker",
        "AWSOMECHAT_JOBS__POLL_S": "0.5",
        "AWSOMECHAT_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
    }
    with Container(settings) as c:
        runner = QueuedJobRunner(c.jobs, c.ingest_queue)
        procs: list[subprocess.Popen[bytes]] = []
        logs = [Path(store.data_dir) / f"worker-{workers}-{i}.log" for i in range(workers)]
        try:
            for lp in logs:
                lp.unlink(missing_ok=True)
                procs.append(start_worker(env, lp))
            wait_ready(logs, procs)  # workers idle (no job yet): start-up is not measured
            t0 = time.perf_counter()
            report = queue_sources(runner, [str(folder)], IngestOptions(), settings)
            ids = [j.id for j in report.jobs]
            log(f"{workers} worker(s): queued {report.files} pages in {len(ids)} jobs")
            while c.jobs.ended(ids) != set(ids):
                time.sleep(0.5)
            seconds = time.perf_counter() - t0
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
        passages = c.documents.stats()["chunks"]
        statuses = [c.jobs.get(i, None).status for i in ids]
    return {
        "workers": workers,
        "pages": report.files,
        "jobs": len(ids),
        "passages": passages,
        "seconds": round(seconds, 1),
        "passages_per_s": round(passages / seconds, 2),
        "per_worker_passages_per_s": round(passages / seconds / workers, 2),
        "job_statuses": {s: statuses.count(s) for s in set(statuses)},
        "load_average_1m": machine_info()["load_average_1m"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--data-dir", type=Path, help="data dir of the embedded server (default: temp)")
    ap.add_argument("--docs", type=int, default=40, help="AWS documentation pages (default 40)")
    ap.add_argument("--files-per-job", type=int, default=4, help="pages per job (default 4)")
    ap.add_argument("--workers", default="1,2,4", help="worker counts to measure (default 1,2,4)")
    args = ap.parse_args(argv)
    isolate_environment()
    figures: dict[str, Any] = {"benchmark": "workers", "machine": machine_info(), "options": vars(args)}
    files = sorted(AWSDOCS.rglob("*.md"))[: args.docs]
    store = BenchStore.open(args.data_dir)
    figures["runs"] = []
    try:
        heading(f"Queued ingestion: {len(files)} AWS documentation pages, {args.files_per_job} per job")
        for n in (int(x) for x in args.workers.split(",")):
            r = run(store, files, n, args.files_per_job)
            figures["runs"].append(r)
            show(
                f"{n} worker(s): passages/s (per worker)",
                f"{r['passages_per_s']} ({r['per_worker_passages_per_s']})",
            )
            show(
                f"{n} worker(s): seconds, passages, load",
                f"{r['seconds']} s, {r['passages']}, {r['load_average_1m']}",
            )
    finally:
        store.close()
    figures["machine"]["load_average_1m_end"] = machine_info()["load_average_1m"]
    figures["options"]["data_dir"] = str(args.data_dir) if args.data_dir else None
    print()
    emit(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
