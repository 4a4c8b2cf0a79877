"""A real AWSomeChat server for end-to-end tests: ``awsomechat serve`` in a subprocess on a free
loopback port, on the embedded PostgreSQL (its own database) and the small packaged model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from awsomechat.auth.keys_pg import PgKeyStore
from awsomechat.container import Container
from awsomechat.seams import Embedder
from awsomechat.settings import DatabaseSettings, Settings
from awsomechat.store import embedded

SMALL_MODEL_ENV = {
    "AWSOMECHAT_LLM__MODEL": "small",
    "AWSOMECHAT_LLM__N_CTX": "2048",
    "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "40",
    "AWSOMECHAT_LLM__N_THREADS": "2",
    # The small model's sentences rarely pass the answer check; servers for plumbing tests skip it
    # (the tests of the check itself turn it on).
    "AWSOMECHAT_CHAT__VERIFY": "off",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """One running server process; ``container`` shares its database (for setup and checks)."""

    url: str
    container: Container
    env: dict[str, str]
    log_path: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    admin_key: str = ""

    @property
    def keys(self) -> PgKeyStore:
        return self.container.keys

    def create_user(self, name: str, groups: tuple[str, ...] = (), admin: bool = False) -> str:
        """A new user with one API key; returns the key."""
        self.keys.add_user(name, groups=groups, admin=admin)
        return self.keys.create_key(name, "test")[1]

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kw)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def launch(
    env: dict[str, str], log_path: Path, *args: str, port: int | None = None, wait: bool = True
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``awsomechat serve`` with ``env``; wait until /readyz answers 200."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "awsomechat", "serve", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    if wait:
        wait_ready(url, proc, log_path)
    return proc, url


def wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server not ready within {timeout} s:\n{log_path.read_text(errors='replace')}")


@contextmanager
def live_server(
    data_dir: Path,
    embedder: Embedder,
    log_dir: Path,
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    setup: object = None,
    wait: bool = True,
) -> Iterator[LiveServer]:
    """A server on a fresh database of the shared embedded PostgreSQL. ``setup(container)`` runs
    before the server starts (ingest documents, add users). An ``admin`` user's key is ready."""
    db_name = f"live_{uuid.uuid4().hex[:10]}"
    settings = Settings(data_dir=data_dir, database=DatabaseSettings(name=db_name, pool_max=4))
    container = Container(settings, embedder=embedder)
    full_env = {
        "AWSOMECHAT_DATA_DIR": str(data_dir),
        "AWSOMECHAT_DATABASE__NAME": db_name,
        "AWSOMECHAT_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
        **SMALL_MODEL_ENV,
        **(env or {}),
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    server = LiveServer("", container, full_env, log_dir / f"server-{db_name}.log")
    try:
        server.admin_key = server.create_user("admin", admin=True)
        if callable(setup):
            setup(container)
        proc, server.url = launch(full_env, server.log_path, *args, wait=wait)
        server.procs.append(proc)
        yield server
    finally:
        server.stop()
        container.close()
        uri = embedded.start(data_dir, "postgres")
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
