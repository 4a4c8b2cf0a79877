"""What the index was built with, and the HNSW index that depends on it.

The store records the embedder's name and dimension and the keyword analyzer's version the
first time something is indexed. Querying or ingesting with anything else is refused with a
clear error (mixing vector spaces gives silently wrong results), until ``awsomechat reindex``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from awsomechat.errors import EmbedderMismatchError
from awsomechat.settings import DatabaseSettings
from awsomechat.store.database import Database

HNSW_INDEX = "chunks_embedding_hnsw"


@dataclass(frozen=True)
class IndexSpec:
    """The models an index is built with."""

    embedder: str
    dim: int
    analyzer: str


def read_spec(conn: psycopg.Connection[Any]) -> IndexSpec | None:
    row = conn.execute("SELECT value FROM index_meta WHERE key = 'spec'").fetchone()
    if row is None:
        return None
    v = row[0]
    return IndexSpec(embedder=v["embedder"], dim=int(v["dim"]), analyzer=v["analyzer"])


def write_spec(conn: psycopg.Connection[Any], spec: IndexSpec) -> None:
    conn.execute(
        "INSERT INTO index_meta (key, value) VALUES ('spec', %s::jsonb)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (json.dumps({"embedder": spec.embedder, "dim": spec.dim, "analyzer": spec.analyzer}),),
    )


def create_hnsw(conn: psycopg.Connection[Any], dim: int, settings: DatabaseSettings) -> None:
    """(Re)build the HNSW index for vectors of ``dim`` dimensions (cosine distance)."""
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(HNSW_INDEX)))
    conn.execute(
        sql.SQL(
            "CREATE INDEX {} ON chunks USING hnsw ((embedding::vector({})) vector_cosine_ops)"
            " WITH (m = {}, ef_construction = {})"
        ).format(
            sql.Identifier(HNSW_INDEX),
            sql.Literal(dim),
            sql.Literal(settings.hnsw_m),
            sql.Literal(settings.hnsw_ef_construction),
        )
    )


class IndexGuard:
    """Checks (and on first use records) the index spec; caches the answer per process."""

    def __init__(self, db: Database, settings: DatabaseSettings) -> None:
        self._db = db
        self._settings = settings
        self._checked: IndexSpec | None = None

    def current(self) -> IndexSpec | None:
        with self._db.pool.connection() as conn:
            return read_spec(conn)

    def ensure(self, wanted: IndexSpec) -> None:
        """Record ``wanted`` on an empty index, or raise if the index was built otherwise."""
        if self._checked == wanted:
            return
        with self._db.pool.connection() as conn, conn.transaction():
            # Serialise first use across processes: two ingesters must not both create the index.
            conn.execute("LOCK TABLE index_meta IN SHARE ROW EXCLUSIVE MODE")
            have = read_spec(conn)
            if have is None:
                write_spec(conn, wanted)
                create_hnsw(conn, wanted.dim, self._settings)
            elif have != wanted:
                raise EmbedderMismatchError(
                    f"the store was indexed with {describe(have)}, but {describe(wanted)} is configured",
                    hint="run `awsomechat reindex` to rebuild the index with the configured models,"
                    " or configure the original embedder",
                )
        self._checked = wanted


def describe(spec: IndexSpec) -> str:
    return f"embedder {spec.embedder} ({spec.dim}-d) and analyzer {spec.analyzer}"
