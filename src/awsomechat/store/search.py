"""The two candidate queries of hybrid retrieval, both filtered inside SQL.

Dense: cosine distance over the HNSW index with pgvector's iterative index scans, so a filter
that keeps few passages still returns ``k`` of them. BM25: Okapi BM25 scored in SQL from the
postings table, with document frequencies counted from the same rows in the same snapshot, and
every statistic (N, avgdl, df) limited to the passages the caller may read.
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
from awsomechat.store.filters_sql import access_clause, where_clause
from awsomechat.types import AccessScope, Condition

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


def _scoped_stats(scope: AccessScope, terms: list[str]) -> tuple[sql.Composable, list[Any]]:
    """CTEs ``st`` (N and avgdl) and ``vdf`` (each term's document frequency) over the passages
    ``scope`` may read.

    A caller who may read everything sums every statistics row and counts the postings as they
    are (the fast path). Any other caller sums the rows of the group sets it may read and
    subtracts, per term, the postings of restricted passages it may not read, which a partial
    index holds apart (nothing to read when every document is public).
    """
    st_access, st_params = access_clause(scope, "g")
    stmt = sql.SQL(
        "st AS (SELECT greatest(sum(n_chunks), 1)::float8 AS n,"
        " greatest(sum(total_terms), 1)::float8 / greatest(sum(n_chunks), 1) AS avgdl,"
        " coalesce(sum(n_chunks), 0) AS n_chunks FROM bm25_stats g WHERE {}),"
        " df AS (SELECT p.term, count(*)::float8 AS df FROM bm25_postings p"
        " WHERE p.term = ANY(%s::text[]) GROUP BY p.term),"
    ).format(st_access)
    if scope.all_access:
        return stmt + sql.SQL(" vdf AS (SELECT term, df FROM df)"), [*st_params, terms]
    p_access, p_params = access_clause(scope, "p")
    hidden = sql.SQL(
        " hidden AS (SELECT p.term, count(*)::float8 AS df FROM bm25_postings p"
        " WHERE p.term = ANY(%s::text[]) AND p.groups IS NOT NULL AND NOT {} GROUP BY p.term),"
        " vdf AS (SELECT df.term, df.df - coalesce(hidden.df, 0) AS df FROM df"
        " LEFT JOIN hidden USING (term))"
    ).format(p_access)
    return stmt + hidden, [*st_params, terms, terms, *p_params]


def _bm25_scores(
    query_terms: Counter[str], scope: AccessScope, k1: float, b: float
) -> tuple[sql.Composable, list[Any]]:
    """CTE ``s``: each passage's BM25 score for the query, with statistics over what ``scope`` may
    read. Terms no readable passage holds get no weight: they could only score hidden passages."""
    terms = list(query_terms)
    stats, stats_params = _scoped_stats(scope, terms)
    stmt = (
        sql.SQL("WITH q AS (SELECT * FROM unnest(%s::text[], %s::int[]) AS q(term, qtf)), ")
        + stats
        + sql.SQL(
            ", w AS (SELECT q.term, q.qtf * ln(1 + (st.n - vdf.df + 0.5) / (vdf.df + 0.5)) AS idf"
            " FROM q JOIN vdf USING (term) CROSS JOIN st WHERE vdf.df > 0),"
            " s AS (SELECT p.chunk_id,"
            " sum(w.idf * p.tf * (%s + 1) / (p.tf + %s * (1 - %s + %s * p.dl / st.avgdl))) AS score"
            " FROM bm25_postings p JOIN w USING (term) CROSS JOIN st GROUP BY p.chunk_id)"
        )
    )
    return stmt, [terms, [query_terms[t] for t in terms], *stats_params, k1, k1, b, b]


@dataclass(frozen=True)
class CandidateFilter:
    """The SQL condition of a caller's access scope ANDed with its filters: built once per search,
    opaque outside the store."""

    where: sql.Composable
    params: tuple[Any, ...]


def candidate_filter(filters: Sequence[Condition], access: AccessScope) -> CandidateFilter:
    where, params = where_clause(filters, access)
    return CandidateFilter(where, tuple(params))


class SearchQueries:
    """SQL for dense and BM25 candidates and for fetching the winners' details.

    Every query here only reads, and may see the index as it was a moment ago: they run on the
    read replica when ``database.read_url`` is set (``Database.read_pool``).
    """

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
        with self._db.read_pool.connection() as conn, conn.transaction():
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
        scope: AccessScope,
        k1: float,
        b: float,
        prefilter_pool: int = 0,
    ) -> list[Candidate]:
        """Top ``k`` passages by Okapi BM25 among those matching ``where``.

        idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (Lucene's, never negative);
        score = sum over query terms of qtf * idf * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)).
        N, avgdl and df count only the passages ``scope`` may read (``where`` must hold its access
        clause), so no score depends on a passage the caller cannot see.

        With ``prefilter_pool`` > 0 (for requests without metadata filters), the best
        ``prefilter_pool`` passages are ranked first and only they are joined and filtered; when
        fewer than ``k`` survive, the exact statement runs instead. The result is the same: any
        passage outside the pool scores no higher than every passage in it.
        """
        if not query_terms:
            return []
        scores, head = _bm25_scores(query_terms, scope, k1, b)
        if prefilter_pool > k:
            stmt = scores + sql.SQL(
                " , top AS MATERIALIZED (SELECT chunk_id, score FROM s"
                " ORDER BY score DESC, chunk_id LIMIT %s)"
                " SELECT top.chunk_id, top.score FROM top"
                " JOIN chunks c ON c.id = top.chunk_id JOIN documents d ON d.id = c.document_id"
                " WHERE {where} ORDER BY top.score DESC, top.chunk_id LIMIT %s"
            ).format(where=where)
            with self._db.read_pool.connection() as conn:
                rows = conn.execute(stmt, [*head, prefilter_pool, *params, k]).fetchall()
            if len(rows) >= k:
                return [Candidate(int(r[0]), float(r[1])) for r in rows]
        stmt = scores + sql.SQL(
            " SELECT s.chunk_id, s.score FROM s"
            " JOIN chunks c ON c.id = s.chunk_id JOIN documents d ON d.id = c.document_id"
            " WHERE {where} ORDER BY s.score DESC, s.chunk_id LIMIT %s"
        ).format(where=where)
        with self._db.read_pool.connection() as conn:
            rows = conn.execute(stmt, [*head, *params, k]).fetchall()
        return [Candidate(int(r[0]), float(r[1])) for r in rows]

    def term_stats(self, terms: Sequence[str], scope: AccessScope) -> tuple[int, dict[str, int]]:
        """Passages ``scope`` may read and the document frequency of each term among them (0 when
        absent)."""
        stats, params = _scoped_stats(scope, list(terms))
        stmt = (
            sql.SQL("WITH ")
            + stats
            + sql.SQL(" SELECT NULL, st.n_chunks FROM st UNION ALL SELECT term, df FROM vdf")
        )
        with self._db.read_pool.connection() as conn:
            rows = conn.execute(stmt, params).fetchall()
        df = {t: 0 for t in terms}
        n = 0
        for term, value in rows:
            if term is None:
                n = int(value)
            else:
                df[term] = int(value)
        return n, df

    def rows(self, chunk_ids: Sequence[int]) -> dict[int, HitRow]:
        """Passage and document details for the given passages."""
        if not chunk_ids:
            return {}
        with self._db.read_pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
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
