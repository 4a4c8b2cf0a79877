"""The two candidate queries of hybrid retrieval, both filtered inside SQL.

Dense: cosine distance over the HNSW index with pgvector's iterative index scans, so a filter
that keeps few passages still returns ``k`` of them. BM25: Okapi BM25 scored in SQL from the
postings table, with document frequencies counted from the same rows in the same snapshot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import sql
from psycopg.rows import dict_row

from awsomechat.settings import DatabaseSettings
from awsomechat.store.database import Database

# pgvector's upper bound for hnsw.ef_search; with iterative scans on, LIMIT k is still met above it.
HNSW_EF_SEARCH_MAX = 1000


@dataclass(frozen=True)
class Candidate:
    chunk_id: int
    score: float


@dataclass(frozen=True)
class HitRow:
    """A passage joined with its document, for building search hits."""

    chunk_id: int
    document_id: int
    position: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    title: str
    uri: str
    source: str
    attributes: dict[str, Any]


# Per-passage BM25 scores of the query terms (parameters: terms, qtfs, terms, k1, k1, b, b).
_BM25_SCORES = (
    "WITH q AS (SELECT * FROM unnest(%s::text[], %s::int[]) AS q(term, qtf)),"
    " st AS (SELECT greatest(sum(n_chunks), 1)::float8 AS n,"
    "        greatest(sum(total_terms), 1)::float8 / greatest(sum(n_chunks), 1) AS avgdl"
    "        FROM bm25_stats),"
    " df AS (SELECT p.term, count(*)::float8 AS df FROM bm25_postings p"
    "        WHERE p.term = ANY(%s::text[]) GROUP BY p.term),"
    " w AS (SELECT q.term, q.qtf * ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) AS idf"
    "       FROM q JOIN df USING (term) CROSS JOIN st),"
    " s AS (SELECT p.chunk_id,"
    "        sum(w.idf * p.tf * (%s + 1) / (p.tf + %s * (1 - %s + %s * p.dl / st.avgdl))) AS score"
    "        FROM bm25_postings p JOIN w USING (term) CROSS JOIN st GROUP BY p.chunk_id)"
)


class SearchQueries:
    """SQL for dense and BM25 candidates and for fetching the winners' details."""

    def __init__(self, db: Database, settings: DatabaseSettings) -> None:
        self._db = db
        self._settings = settings

    def dense(
        self,
        vector: npt.NDArray[np.float32],
        k: int,
        where: sql.Composable,
        params: Sequence[Any],
        *,
        exact: bool = False,
    ) -> list[Candidate]:
        """Top ``k`` passages by cosine similarity among those matching ``where``."""
        dim = int(vector.shape[0])
        stmt = sql.SQL(
            "WITH r AS MATERIALIZED ("
            " SELECT c.id, (c.embedding::vector({dim})) <=> %s::vector({dim}) AS dist"
            " FROM chunks c JOIN documents d ON d.id = c.document_id"
            " WHERE {where} ORDER BY dist LIMIT %s)"
            " SELECT id, dist FROM r ORDER BY dist"
        ).format(dim=sql.Literal(dim), where=where)
        with self._db.pool.connection() as conn, conn.transaction():
            s = self._settings
            conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true),"
                " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                " set_config('hnsw.max_scan_tuples', %s, true)",
                (str(min(max(s.hnsw_ef_search, k), HNSW_EF_SEARCH_MAX)), str(s.hnsw_max_scan_tuples)),
            )
            if exact:
                conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
            rows = conn.execute(stmt, [vector, *params, k]).fetchall()
        return [Candidate(int(r[0]), 1.0 - float(r[1])) for r in rows]

    def bm25(
        self,
        query_terms: Counter[str],
        k: int,
        where: sql.Composable,
        params: Sequence[Any],
        *,
        k1: float,
        b: float,
        prefilter_pool: int = 0,
    ) -> list[Candidate]:
        """Top ``k`` passages by Okapi BM25 among those matching ``where``.

        idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (Lucene's, never negative);
        score = sum over query terms of qtf * idf * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)).

        With ``prefilter_pool`` > 0 (for requests without metadata filters), the best
        ``prefilter_pool`` passages are ranked first and only they are joined and filtered; when
        fewer than ``k`` survive, the exact statement runs instead. The result is the same: any
        passage outside the pool scores no higher than every passage in it.
        """
        if not query_terms:
            return []
        terms = list(query_terms)
        head = [terms, [query_terms[t] for t in terms], terms, k1, k1, b, b]
        if prefilter_pool > k:
            stmt = sql.SQL(
                _BM25_SCORES + " , top AS MATERIALIZED (SELECT chunk_id, score FROM s"
                " ORDER BY score DESC, chunk_id LIMIT %s)"
                " SELECT top.chunk_id, top.score FROM top"
                " JOIN chunks c ON c.id = top.chunk_id JOIN documents d ON d.id = c.document_id"
                " WHERE {where} ORDER BY top.score DESC, top.chunk_id LIMIT %s"
            ).format(where=where)
            with self._db.pool.connection() as conn:
                rows = conn.execute(stmt, [*head, prefilter_pool, *params, k]).fetchall()
            if len(rows) >= k:
                return [Candidate(int(r[0]), float(r[1])) for r in rows]
        stmt = sql.SQL(
            _BM25_SCORES + " SELECT s.chunk_id, s.score FROM s"
            " JOIN chunks c ON c.id = s.chunk_id JOIN documents d ON d.id = c.document_id"
            " WHERE {where} ORDER BY s.score DESC, s.chunk_id LIMIT %s"
        ).format(where=where)
        with self._db.pool.connection() as conn:
            rows = conn.execute(stmt, [*head, *params, k]).fetchall()
        return [Candidate(int(r[0]), float(r[1])) for r in rows]

    def term_stats(self, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """Number of passages and the document frequency of each term (0 when absent)."""
        with self._db.pool.connection() as conn:
            n_row = conn.execute("SELECT coalesce(sum(n_chunks), 0) FROM bm25_stats").fetchone()
            rows = conn.execute(
                "SELECT term, count(*) FROM bm25_postings WHERE term = ANY(%s) GROUP BY term", (list(terms),)
            ).fetchall()
        df = {t: 0 for t in terms}
        df.update({r[0]: int(r[1]) for r in rows})
        return int(n_row[0]) if n_row else 0, df

    def rows(self, chunk_ids: Sequence[int]) -> dict[int, HitRow]:
        """Passage and document details for the given passages."""
        if not chunk_ids:
            return {}
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT c.id, c.document_id, c.position, c.text, c.heading_path, c.page,"
                " d.title, d.uri, d.source, d.attributes"
                " FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ANY(%s)",
                (list(chunk_ids),),
            )
            return {
                r["id"]: HitRow(
                    r["id"],
                    r["document_id"],
                    r["position"],
                    r["text"],
                    tuple(r["heading_path"]),
                    r["page"],
                    r["title"],
                    r["uri"],
                    r["source"],
                    dict(r["attributes"]),
                )
                for r in cur.fetchall()
            }
