"""``awsomechat serve``: the REST API and web UI under uvicorn, one or several worker processes."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from awsomechat.cli.common import console, handled
from awsomechat.settings import ENV_PREFIX, LlamaCppSettings, Settings, load_settings

if TYPE_CHECKING:
    from awsomechat.runner.supervisor import RunnerSupervisor


def api_settings(host: str | None, port: int | None, workers: int | None, local: bool | None) -> Settings:
    """Settings with the command-line overrides, exported so every worker process sees them too."""
    overrides = {"HOST": host, "PORT": port, "WORKERS": workers, "LOCAL_MODE": local}
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"{ENV_PREFIX}API__{key}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
    return load_settings()


def prepare_store(settings: Settings) -> None:
    """Start the embedded server (if used) and migrate once, before any worker connects."""
    from awsomechat.store.database import open_database

    open_database(settings.database, settings.data_dir).close()


def runner_socket(settings: Settings) -> Path:
    """The model runner's socket: one per ``serve`` (port), in the data directory when it fits."""
    path = settings.data_dir / "run" / f"model-runner-{settings.api.port}.sock"
    if len(str(path)) > 100:  # AF_UNIX paths are limited to ~108 bytes
        tag = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"awsomechat-{os.getuid()}-{tag}.sock"
    return path


def start_model_runner(settings: Settings) -> RunnerSupervisor | None:
    """With an in-process GGUF model, run it in one supervised runner that every worker shares."""
    llm = settings.llm
    if not isinstance(llm, LlamaCppSettings) or not llm.runner or llm.runner_url:
        return None
    from awsomechat.runner.supervisor import RunnerSupervisor

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    supervisor = RunnerSupervisor(runner_socket(settings), llm)
    supervisor.start()
    os.environ[f"{ENV_PREFIX}LLM__RUNNER_URL"] = supervisor.url  # the workers generate through it
    return supervisor


def run_server(settings: Settings) -> None:
    """Serve until interrupted. Blocks."""
    import uvicorn

    api = settings.api
    kwargs: dict[str, Any] = {
        "host": api.host,
        "port": api.port,
        "factory": True,
        "workers": api.workers,
        "log_level": settings.log_level.lower(),
        "access_log": False,  # our middleware logs requests (with request ids, without secrets)
        "timeout_graceful_shutdown": 10,
        "proxy_headers": False,
        # Slow or stalled clients: header/body read deadlines and a connection cap (docs/production.md).
        "http": "awsomechat.api.slow_clients:GuardedH11Protocol",
        "timeout_keep_alive": api.keep_alive_s,
        "limit_concurrency": api.max_connections,
        "h11_max_incomplete_event_size": api.max_header_kb * 1024,
    }
    multiproc_dir = None
    if api.workers > 1:
        # Prometheus figures of every worker, aggregated by /metrics.
        multiproc_dir = tempfile.mkdtemp(prefix="awsomechat-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    supervisor = start_model_runner(settings)
    try:
        uvicorn.run("awsomechat.api.app:create_app", **kwargs)
    finally:
        if supervisor is not None:
            supervisor.stop()
            os.environ.pop(f"{ENV_PREFIX}LLM__RUNNER_URL", None)
        if multiproc_dir:
            shutil.rmtree(multiproc_dir, ignore_errors=True)


def url_of(settings: Settings) -> str:
    host = settings.api.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{'[' + shown + ']' if ':' in shown else shown}:{settings.api.port}"


def serve_command(
    host: str | None = typer.Option(None, "--host", help="address to bind (default 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", "-p", help="port (default 8080)"),
    workers: int | None = typer.Option(
        None, "--workers", "-w", help="worker processes (they share one model runner)"
    ),
    local: bool | None = typer.Option(
        None, "--local/--no-local", help="single-user mode without API keys (loopback only)"
    ),
) -> None:
    """Serve the REST API and the web UI."""
    with handled():
        settings = api_settings(host, port, workers, local)
        prepare_store(settings)
        url = url_of(settings)
        console.print(
            f"[bold]AWSomeChat[/] serving on [bold]{url}[/] (API docs: {url}/docs)", highlight=False
        )
        if settings.api.local_mode:
            console.print("local mode: requests from this machine need no API key", highlight=False)
        run_server(settings)


def model_runner_command(
    listen: str = typer.Option(
        ..., "--listen", help="unix:///path.sock or http://host:port (loopback unless a proxy guards it)"
    ),
) -> None:
    """Run the chat model alone, as an OpenAI-compatible model runner (one generation at a time).

    Point API replicas at it with AWSOMECHAT_LLM__RUNNER_URL; set AWSOMECHAT_LLM__API_KEY on both
    to require a bearer token.
    """
    import sys

    from awsomechat.runner.server import main

    sys.exit(main(["--listen", listen]))
