"""Connecting to the store: the embedded server or any PostgreSQL with pgvector by URL.

With ``database.read_url`` a second pool goes to a read replica: ``Database.read_pool`` serves
reads that may lag the primary by the replica's replay delay (retrieval: passages, BM25
statistics). Everything that writes, and every read that must see a write just made (jobs,
conversations, keys, index metadata, the document being replaced), stays on ``pool``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from awsomechat.errors import StoreError
from awsomechat.settings import DatabaseSettings
from awsomechat.store import embedded
from awsomechat.store.migrate import apply_migrations
from awsomechat.store.pool import TranslatingPool

log = logging.getLogger(__name__)


def resolve_url(db: DatabaseSettings, data_dir: Path) -> str:
    """The connection URL in force, starting the embedded server when no URL is configured."""
    if db.url is not None:
        return db.url.get_secret_value()
    return embedded.start(data_dir, db.name)


def describe_url(url: str) -> str:
    """The URL with any password removed, for messages and logs."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    parts.pop("password", None)
    return make_conninfo("", **{k: str(v) for k, v in parts.items() if v is not None})


def _configure(conn: psycopg.Connection[Any]) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)
    conn.commit()


class Database:
    """A connection pool on a migrated schema. Open once per process; close at exit."""

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 8,
        timeout_s: float = 10.0,
        checkout_timeout_s: float = 5.0,
        read_url: str | None = None,
    ) -> None:
        self.url = url
        self.read_url = read_url
        self._check_and_migrate(timeout_s)

        def make_pool(pool_url: str, name: str) -> ConnectionPool[psycopg.Connection[Any]]:
            return TranslatingPool(
                pool_url,
                min_size=pool_min,
                max_size=pool_max,
                timeout=checkout_timeout_s,
                configure=_configure,
                # A connection broken by a database restart is replaced on checkout instead of failing
                # the request that drew it: the service recovers by itself when the database is back.
                check=ConnectionPool.check_connection,
                kwargs={"connect_timeout": max(1, int(timeout_s))},
                open=True,
                name=name,
            )

        self.pool = make_pool(url, "awsomechat")
        self._read_pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        if read_url:
            self._check_replica(read_url, timeout_s)
            self._read_pool = make_pool(read_url, "awsomechat-read")

    @property
    def read_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        """The replica's pool when ``database.read_url`` is set, else the primary's."""
        return self._read_pool or self.pool

    def _check_replica(self, read_url: str, timeout_s: float) -> None:
        """The replica answers and has the schema. It replays the migrations just applied on the
        primary a moment later, so a missing schema is waited for up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        try:
            with psycopg.connect(read_url, connect_timeout=max(1, int(timeout_s)), autocommit=True) as conn:
                while True:
                    row = conn.execute(
                        "SELECT pg_is_in_recovery(), to_regclass('chunks') IS NOT NULL"
                    ).fetchone()
                    if (row and row[1]) or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"cannot connect to the read replica at {describe_url(read_url)}: {str(exc).strip()}",
                hint="check AWSOMECHAT_DATABASE__READ_URL, or unset it to read from the primary",
            ) from exc
        if not row or not row[1]:
            raise StoreError(
                f"the read replica at {describe_url(read_url)} has no AWSomeChat schema",
                hint="point AWSOMECHAT_DATABASE__READ_URL at a replica of AWSOMECHAT_DATABASE__URL",
            )
        if not row[0]:
            log.warning(
                "database.read_url %s is not in recovery (not a streaming replica): reads go to a"
                " server that is not kept in step with the primary by PostgreSQL",
                describe_url(read_url),
            )

    def _check_and_migrate(self, timeout_s: float) -> None:
        try:
            with psycopg.connect(self.url, connect_timeout=max(1, int(timeout_s))) as conn:
                ok = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
                if not ok:
                    raise StoreError(
                        f"PostgreSQL at {describe_url(self.url)} has no pgvector extension",
                        hint="install pgvector there, or unset the URL to use the embedded store",
                    )
                applied = apply_migrations(conn)
                for mig in applied:
                    log.info("applied migration %04d_%s", mig.version, mig.name)
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {describe_url(self.url)}: {str(exc).strip()}",
                hint="check AWSOMECHAT_DATABASE__URL, or unset it to use the embedded store",
            ) from exc

    def ping(self, timeout_s: float = 2.0) -> None:
        """Round-trip ``SELECT 1``; ``StoreUnavailableError`` when the database does not answer."""
        with self.pool.connection(timeout=timeout_s) as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        if self._read_pool is not None:
            self._read_pool.close()
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_database(db: DatabaseSettings, data_dir: Path) -> Database:
    return Database(
        resolve_url(db, data_dir),
        pool_min=db.pool_min,
        pool_max=db.pool_max,
        timeout_s=db.connect_timeout_s,
        checkout_timeout_s=db.checkout_timeout_s,
        read_url=db.read_url.get_secret_value() if db.read_url is not None else None,
    )
