"""Rebuild vectors and BM25 postings with the configured embedder and analyzer.

Runs in one transaction: readers keep the old index until the new one commits, and an
interrupted reindex leaves the old index as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from psycopg import sql

from awsomechat.seams import Embedder
from awsomechat.settings import DatabaseSettings
from awsomechat.store.database import Database
from awsomechat.store.documents import STATS_SLOTS
from awsomechat.store.index_meta import HNSW_INDEX, IndexSpec, create_hnsw, read_spec, write_spec
from awsomechat.text.analyzer import Analyzer
from awsomechat.text.context import context_length

BATCH = 256


class ReindexProgress(Protocol):
    def started(self, total: int) -> None: ...

    def advanced(self, n: int) -> None: ...


class Reindexer:
    """Re-embeds and re-analyses every passage."""

    def __init__(
        self,
        db: Database,
        embedder: Callable[[], Embedder],
        analyzer: Analyzer,
        settings: DatabaseSettings,
    ) -> None:
        self._db = db
        self._embedder = embedder
        self._analyzer = analyzer
        self._settings = settings

    def run(self, progress: ReindexProgress | None = None) -> tuple[IndexSpec | None, IndexSpec, int]:
        """Returns (old spec, new spec, passages re-indexed).

        When only the analyzer changed (same embedder, same dimension), the vectors and the HNSW
        index are kept and only the BM25 postings are rebuilt: minutes instead of hours on a big
        store.
        """
        emb = self._embedder()
        new = IndexSpec(emb.name, emb.dim, self._analyzer.version)
        with self._db.pool.connection() as conn, conn.transaction():
            conn.execute("LOCK TABLE index_meta IN SHARE ROW EXCLUSIVE MODE")
            old = read_spec(conn)
            re_embed = old is None or (old.embedder, old.dim) != (new.embedder, new.dim)
            if re_embed:
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(HNSW_INDEX)))
            conn.execute("TRUNCATE bm25_postings")
            conn.execute("UPDATE bm25_stats SET n_chunks = 0, total_terms = 0")
            rows = conn.execute(
                "SELECT c.id, d.id, c.text, d.groups, d.title, c.heading_path FROM chunks c"
                " JOIN documents d ON d.id = c.document_id ORDER BY c.id"
            ).fetchall()
            if progress:
                progress.started(len(rows))
            stats: dict[tuple[tuple[str, ...], int], list[int]] = {}
            for start in range(0, len(rows), BATCH):
                part = rows[start : start + BATCH]
                analysed = [
                    self._analyzer.term_frequencies(r[2], context_length(r[2], r[4], tuple(r[5])))
                    for r in part
                ]
                with conn.cursor() as cur:
                    if re_embed:
                        vectors = emb.embed_passages([r[2] for r in part])
                        cur.executemany(
                            "UPDATE chunks SET embedding = %s, term_count = %s WHERE id = %s",
                            [(vec, a[1], r[0]) for r, vec, a in zip(part, vectors, analysed, strict=True)],
                        )
                    else:
                        cur.executemany(
                            "UPDATE chunks SET term_count = %s WHERE id = %s",
                            [(a[1], r[0]) for r, a in zip(part, analysed, strict=True)],
                        )
                copy_sql = "COPY bm25_postings (term, chunk_id, tf, dl, groups) FROM STDIN"
                with conn.cursor().copy(copy_sql) as copy:
                    for r, (tf, n) in zip(part, analysed, strict=True):
                        # Statistics per group set, and restricted postings carrying their groups:
                        # BM25 stays scoped to what each caller may read.
                        slot = stats.setdefault((tuple(r[3]), r[1] % STATS_SLOTS), [0, 0])
                        slot[0] += 1
                        slot[1] += n
                        for term, f in tf.items():
                            copy.write_row((term, r[0], f, n, list(r[3]) or None))
                if progress:
                    progress.advanced(len(part))
            for (groups, slot_id), (n_chunks, total) in stats.items():
                conn.execute(
                    "INSERT INTO bm25_stats (groups, slot, n_chunks, total_terms) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (groups, slot) DO UPDATE SET n_chunks = excluded.n_chunks,"
                    " total_terms = excluded.total_terms",
                    (list(groups), slot_id, n_chunks, total),
                )
            write_spec(conn, new)
            if re_embed:
                create_hnsw(conn, new.dim, self._settings)
        return old, new, len(rows)
