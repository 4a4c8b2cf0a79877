"""The commands the deployment files run in containers: ``awsomechat db migrate`` (the migrations
Job/task), the model runner on a TCP port with a bearer token, and ``python -m
awsomechat.healthcheck`` (the image's HEALTHCHECK and the runner's probe) — as real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from awsomechat.cli.migrate import MIN_PGVECTOR, parse_version
from awsomechat.store import embedded
from awsomechat.store.migrate import available

RUNNER_TOKEN = "runner-token-" + "x" * 24


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fresh_db(data_dir: Path, db_name: str) -> Iterator[str]:
    url = embedded.start(data_dir, db_name)
    yield url
    with psycopg.connect(embedded.start(data_dir, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def test_db_migrate_brings_an_empty_database_up_to_date(fresh_db: str, tmp_path: Path) -> None:
    env = {"AWSOMECHAT_DATA_DIR": str(tmp_path), "AWSOMECHAT_DATABASE__URL": fresh_db}
    out = _run(env, "-m", "awsomechat", "db", "migrate")
    assert out.returncode == 0, out.stderr
    newest = available()[-1].version
    assert f"schema version {newest} (this release: {newest})" in out.stdout
    assert "pgvector 0." in out.stdout
    with psycopg.connect(fresh_db) as conn:
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert ext is not None and parse_version(ext[0]) >= MIN_PGVECTOR
    assert {"documents", "chunks", "schema_migrations"} <= tables
    again = _run(env, "-m", "awsomechat", "db", "migrate")  # idempotent: a Job may run twice
    assert again.returncode == 0 and f"schema version {newest}" in again.stdout


def test_db_migrate_names_an_unreachable_database(tmp_path: Path) -> None:
    env = {
        "AWSOMECHAT_DATA_DIR": str(tmp_path),
        "AWSOMECHAT_DATABASE__URL": f"postgresql://app:s3cretpw@127.0.0.1:{_free_port()}/chat",
        "AWSOMECHAT_DATABASE__CONNECT_TIMEOUT_S": "2",
    }
    out = _run(env, "-m", "awsomechat", "db", "migrate")
    assert out.returncode == 1
    assert "cannot connect" in out.stderr and "s3cretpw" not in out.stderr + out.stdout


def test_pgvector_versions_compare_numerically() -> None:
    assert parse_version("0.8.0") >= MIN_PGVECTOR and parse_version("0.10.1") >= MIN_PGVECTOR
    assert parse_version("0.7.4") < MIN_PGVECTOR and parse_version("0.5") < MIN_PGVECTOR


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``awsomechat model-runner --listen http://…`` with a bearer token, as in compose.yaml."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("runner") / "runner.log").open("w+b")
    env = {
        **os.environ, "AWSOMECHAT_DATA_DIR": str(tmp_path_factory.mktemp("runner-data")),
        "AWSOMECHAT_LLM__MODEL": "small", "AWSOMECHAT_LLM__N_CTX": "2048",
        "AWSOMECHAT_LLM__API_KEY": RUNNER_TOKEN,
    }  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "awsomechat", "model-runner", "--listen", f"http://127.0.0.1:{port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            raise RuntimeError("model runner did not start:\n" + log.read().decode(errors="replace")[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_runner_healthcheck_sends_the_bearer_token(runner: str, tmp_path: Path) -> None:
    check = ("-m", "awsomechat.healthcheck", "--runner", runner)
    good = _run({"AWSOMECHAT_LLM__API_KEY": RUNNER_TOKEN}, *check)
    assert good.returncode == 0, good.stderr
    wrong = _run({"AWSOMECHAT_LLM__API_KEY": "not-the-token"}, *check)
    assert wrong.returncode == 1 and "answered 401" in wrong.stderr
    assert "not-the-token" not in wrong.stderr + wrong.stdout


def test_api_healthcheck_follows_the_configured_port(tmp_path: Path) -> None:
    port = _free_port()
    env = {"AWSOMECHAT_DATA_DIR": str(tmp_path), "AWSOMECHAT_API__PORT": str(port)}
    down = _run(env, "-m", "awsomechat.healthcheck", "--timeout", "2")
    assert down.returncode == 1 and f"127.0.0.1:{port}/healthz did not answer" in down.stderr
    # The real app on that port (healthz needs no database, as a liveness probe should).
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "awsomechat.api.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **env, "AWSOMECHAT_DATABASE__URL": f"postgresql://u@127.0.0.1:{_free_port()}/x",
             "AWSOMECHAT_LLM__KIND": "openai"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (up := _run(env, "-m", "awsomechat.healthcheck", "--timeout", "2")).returncode != 0:
            assert server.poll() is None and time.monotonic() < deadline, up.stderr
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=20)
