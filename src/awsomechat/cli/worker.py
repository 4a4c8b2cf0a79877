"""``awsomechat worker``: drain the PostgreSQL ingestion queue (``jobs.executor = "worker"``)."""

from __future__ import annotations

import os
import socket

import typer

from awsomechat.cli.common import console, container


def worker_command(
    name: str = typer.Option("", "--name", help="worker name in logs and the queue (default host:pid)"),
) -> None:
    """Run queued ingestion jobs until stopped (SIGINT/SIGTERM: the running job finishes first).

    Start as many as the machines allow, on any machine that reaches the database: each takes one
    job at a time. A job whose worker dies is run again by another after `jobs.stalled_after_s`.
    """
    from awsomechat.ingest.worker import IngestWorker

    with container() as c:
        worker = IngestWorker(c, name=name or f"{socket.gethostname()}:{os.getpid()}")
        c.get_embedder()  # load the model before taking a job
        console.print(f"worker {worker.name} ready: waiting for ingestion jobs", highlight=False)
        worker.run()
