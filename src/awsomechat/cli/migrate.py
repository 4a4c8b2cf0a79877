"""``awsomechat db migrate``: bring the database schema up to date, then exit.

For deployments: a Kubernetes Job, an ECS task or a CI step runs it once per release, before the
API starts, with a role allowed to ``CREATE EXTENSION vector`` (migration 1). ``serve`` migrates at
start as well, under the same advisory lock, so running both is safe.
"""

from __future__ import annotations

import re

from awsomechat.cli.common import console, handled, settings
from awsomechat.errors import StoreError

# Filtered dense queries use pgvector's iterative index scans (hnsw.iterative_scan), new in 0.8.0.
MIN_PGVECTOR = (0, 8, 0)


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.8.1"`` -> ``(0, 8, 1)``; unparseable parts count as 0."""
    return tuple(int(m) if m.isdigit() else 0 for m in re.split(r"[.-]", text)[:3])


def migrate_command() -> None:
    """Apply the schema migrations (creating the pgvector extension) to the configured database."""
    from awsomechat.store.database import describe_url, open_database
    from awsomechat.store.migrate import available, current_version

    with handled():
        s = settings()
        db = open_database(s.database, s.data_dir)  # checks pgvector is available, then migrates
        try:
            with db.pool.connection() as conn:
                version = current_version(conn)
                row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        finally:
            db.close()
        pgvector = str(row[0]) if row else "not installed"
        newest = max((m.version for m in available()), default=0)
        console.print(
            f"schema version {version} (this release: {newest}) on {describe_url(db.url)};"
            f" pgvector {pgvector}",
            highlight=False,
        )
        if not row or parse_version(pgvector) < MIN_PGVECTOR:
            need = ".".join(map(str, MIN_PGVECTOR))
            raise StoreError(
                f"pgvector {pgvector} is too old: AWSomeChat needs {need} or newer",
                hint="run ALTER EXTENSION vector UPDATE as the database owner "
                "(after upgrading the server's pgvector package, or RDS to a version that ships it)",
            )
