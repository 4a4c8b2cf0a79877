"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from awsomechat.container import Container
from awsomechat.ingest.pipeline import IngestOptions, IngestReport
from awsomechat.types import SourceItem


def md_item(name: str, text: str, source: str = "test://kb") -> SourceItem:
    return SourceItem(
        uri=f"{source}/{name}", source=source, name=name, data=text.encode(), content_type="text/markdown"
    )


def ingest_texts(
    c: Container,
    docs: dict[str, str],
    *,
    groups: tuple[str, ...] = (),
    attributes: dict[str, Any] | None = None,
    source: str = "test://kb",
) -> IngestReport:
    """Ingest ``{name.md: markdown}`` through the real pipeline."""
    report = IngestReport()
    items = [md_item(name, text, source) for name, text in docs.items()]
    c.ingestion.ingest_items(
        items, source, IngestOptions(attributes=attributes or {}, groups=groups), None, report
    )
    assert not report.failed, report.failed
    return report


def consistency_problems(c: Container) -> list[str]:
    """Invariants that must hold after any crash: no half-written document anywhere."""
    problems: list[str] = []
    with c.database.pool.connection() as conn:
        rows = conn.execute(
            "SELECT d.uri, d.chunk_count, count(ch.id) FROM documents d"
            " LEFT JOIN chunks ch ON ch.document_id = d.id GROUP BY d.id"
        ).fetchall()
        problems += [f"{u}: chunk_count {n} but {m} chunks" for u, n, m in rows if n != m or m == 0]
        orphans = conn.execute(
            "SELECT count(*) FROM chunks ch WHERE NOT EXISTS"
            " (SELECT 1 FROM bm25_postings p WHERE p.chunk_id = ch.id)"
        ).fetchone()
        if orphans and orphans[0]:
            problems.append(f"{orphans[0]} chunks without postings")
        stats = conn.execute(
            "SELECT (SELECT sum(n_chunks) FROM bm25_stats), (SELECT count(*) FROM chunks),"
            " (SELECT sum(total_terms) FROM bm25_stats), (SELECT coalesce(sum(term_count), 0) FROM chunks)"
        ).fetchone()
        assert stats is not None
        if int(stats[0]) != int(stats[1]) or int(stats[2]) != int(stats[3]):
            problems.append(f"bm25_stats {stats[0]}/{stats[2]} != chunks {stats[1]}/{stats[3]}")
    return problems


def reference_bm25(
    docs: dict[int, Counter[str]], query: Counter[str], k1: float, b: float
) -> dict[int, float]:
    """Textbook Okapi BM25 (Lucene idf) computed in Python, to check the SQL against."""
    n = len(docs)
    avgdl = sum(sum(tf.values()) for tf in docs.values()) / n
    scores: dict[int, float] = {}
    for doc_id, tf in docs.items():
        dl = sum(tf.values())
        s = 0.0
        for term, qtf in query.items():
            if term not in tf:
                continue
            df = sum(1 for t in docs.values() if term in t)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            s += qtf * idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * dl / avgdl))
        if s > 0:
            scores[doc_id] = s
    return scores
