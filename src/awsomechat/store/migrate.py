"""Versioned schema migrations: numbered SQL files applied in order, each recorded once.

``schema_migrations`` holds the applied versions. A session advisory lock makes concurrent
starters (several workers or replicas) apply each migration exactly once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from awsomechat.errors import StoreError

_LOCK_KEY = 0x4157_534D  # "AWSM"
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """Migrations shipped in the package, in version order."""
    found = []
    for entry in resources.files("awsomechat.store").joinpath("migrations").iterdir():
        m = _NAME_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda mig: mig.version)


def current_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    version = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(version[0]) if version else 0


def apply_migrations(conn: psycopg.Connection) -> list[Migration]:
    """Bring the schema up to date; returns what was applied. Refuses a newer schema than known."""
    migrations = available()
    newest = migrations[-1].version if migrations else 0
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.commit()
        have = current_version(conn)
        if have > newest:
            raise StoreError(
                f"the database schema is version {have}, newer than this AWSomeChat knows ({newest})",
                hint="upgrade AWSomeChat, or point it at another database",
            )
        applied = []
        for mig in migrations:
            if mig.version <= have:
                continue
            with conn.transaction():
                conn.execute(mig.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (mig.version, mig.name),
                )
            applied.append(mig)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        conn.commit()
