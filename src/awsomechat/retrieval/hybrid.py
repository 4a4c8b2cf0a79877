"""The retriever behind ``search``, the query API and the answer chain."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from awsomechat.errors import EmbedderMismatchError
from awsomechat.retrieval.dedup import near_duplicates, spread_documents
from awsomechat.retrieval.fusion import reciprocal_rank_fusion
from awsomechat.seams import Embedder, Reranker
from awsomechat.settings import RetrievalSettings
from awsomechat.store.index_meta import IndexGuard, IndexSpec, describe
from awsomechat.store.search import Candidate, CandidateFilter, SearchQueries, candidate_filter
from awsomechat.text.analyzer import Analyzer
from awsomechat.text.highlight import make_excerpt
from awsomechat.types import AccessScope, Scores, SearchHit, SearchRequest, SearchResponse

# Fused candidates read beyond the page, to fill the places of near-duplicates left out.
_DEDUP_EXTRA = 10
# Spreading results over documents reorders a window of at least this many fused candidates, the
# same for every page that lies inside it, so page 2 continues page 1.
_SPREAD_WINDOW = 40


class HybridRetriever:
    """Dense and BM25 candidates under the caller's access scope and filters, fused by RRF.

    The embedder is loaded on first dense query (a BM25-only caller never pays for it).
    """

    def __init__(
        self,
        queries: SearchQueries,
        guard: IndexGuard,
        embedder: Callable[[], Embedder],
        analyzer: Analyzer,
        settings: RetrievalSettings,
        reranker: Reranker | None = None,
    ) -> None:
        self._queries = queries
        self._guard = guard
        self._embedder = embedder
        self._analyzer = analyzer
        self._settings = settings
        self._reranker = reranker
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bm25")

    def search(self, request: SearchRequest) -> SearchResponse:
        s = self._settings
        timings: dict[str, float] = {}
        want = request.offset + request.k
        n_candidates = max(s.candidates, want)
        scope = candidate_filter(request.filters, request.access)
        query_terms = self._analyzer.query_terms(request.text)

        t_start = time.perf_counter()
        bm25_future: Future[list[Candidate]] | None = None
        if request.mode in ("hybrid", "bm25"):
            if request.mode == "bm25":
                self._check_analyzer()
            # BM25 needs no query vector: it runs in the database while the query is embedded.
            bm25_future = self._pool.submit(
                self._bm25, query_terms, n_candidates if request.mode == "hybrid" else want, scope,
                request.access, 0 if request.filters else 4 * n_candidates, timings,
            )  # fmt: skip
        dense: list[Candidate] = []
        try:
            if request.mode in ("hybrid", "dense"):
                t0 = time.perf_counter()
                emb = self._embedder()
                self._guard.ensure(IndexSpec(emb.name, emb.dim, self._analyzer.version))
                vector = emb.embed_query(request.text)
                timings["embed_ms"] = _ms(t0)
                t0 = time.perf_counter()
                dense = self._queries.dense(
                    vector, n_candidates if request.mode == "hybrid" else want, scope.where, scope.params
                )
                timings["dense_ms"] = _ms(t0)
        finally:
            bm25 = bm25_future.result() if bm25_future is not None else []

        t0 = time.perf_counter()
        fused = reciprocal_rank_fusion(
            [[c.chunk_id for c in dense], [c.chunk_id for c in bm25]],
            [
                s.dense_weight if request.mode != "bm25" else 0.0,
                s.bm25_weight if request.mode != "dense" else 0.0,
            ],
            k=s.rrf_k,
        )
        dense_score = {c.chunk_id: c.score for c in dense}
        bm25_score = {c.chunk_id: c.score for c in bm25}
        # A reranker sees its whole window before paging, so page 2 follows page 1. Near-duplicates
        # are dropped before paging too (a few more rows are read to make up for them).
        dedup = s.duplicate_similarity < 1.0
        extra = (want + _DEDUP_EXTRA) if dedup else want
        if s.passages_per_document:
            extra = max(extra, _SPREAD_WINDOW)
        window = fused[: max(extra, s.reranker.top_n)] if self._reranker else fused[:extra]
        rows = self._queries.rows([f.chunk_id for f in window])
        found = [(f, rows[f.chunk_id]) for f in window if f.chunk_id in rows]  # not deleted meanwhile
        if dedup:
            dups = near_duplicates([row.text for _, row in found], s.duplicate_similarity)
            found = [pair for pair, dup in zip(found, dups, strict=True) if not dup]
        if s.passages_per_document:
            found = spread_documents(found, lambda pair: str(pair[1].document_id), s.passages_per_document)
        if self._reranker is None:
            found = found[request.offset : want]
        hits: list[SearchHit] = []
        for f, row in found:
            excerpt, highlights = make_excerpt(row.text, query_terms, self._analyzer, s.excerpt_chars)
            hits.append(
                SearchHit(
                    chunk_id=str(row.chunk_id),
                    document_id=str(row.document_id),
                    title=row.title,
                    uri=row.uri,
                    source=row.source,
                    attributes=row.attributes,
                    text=row.text,
                    heading_path=row.heading_path,
                    page=row.page,
                    position=row.position,
                    excerpt=excerpt,
                    highlights=highlights,
                    scores=Scores(
                        fused=f.score,
                        dense=dense_score.get(f.chunk_id),
                        bm25=bm25_score.get(f.chunk_id),
                        dense_rank=f.ranks[0],
                        bm25_rank=f.ranks[1],
                    ),
                )
            )
        if self._reranker is not None:
            hits = self._reranker.rerank(request.text, hits)[request.offset : want]
        timings["fuse_fetch_ms"] = _ms(t0)
        timings["total_ms"] = _ms(t_start)
        return SearchResponse(hits=hits, timings_ms=timings)

    def _bm25(
        self,
        query_terms: Counter[str],
        k: int,
        candidates: CandidateFilter,
        scope: AccessScope,
        prefilter_pool: int,
        timings: dict[str, float],
    ) -> list[Candidate]:
        t0 = time.perf_counter()
        s = self._settings
        # Without metadata filters, rank first and check access on the best few only. The corpus
        # statistics are the caller's: scores never depend on passages it may not read.
        out = self._queries.bm25(
            query_terms, k, candidates.where, candidates.params, scope=scope, k1=s.bm25_k1, b=s.bm25_b,
            prefilter_pool=prefilter_pool,
        )  # fmt: skip
        timings["bm25_ms"] = _ms(t0)
        return out

    def _check_analyzer(self) -> None:
        spec = self._guard.current()
        if spec is not None and spec.analyzer != self._analyzer.version:
            raise EmbedderMismatchError(
                f"the store was indexed with {describe(spec)}, but analyzer {self._analyzer.version}"
                " is in use",
                hint="run `awsomechat reindex`",
            )


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
