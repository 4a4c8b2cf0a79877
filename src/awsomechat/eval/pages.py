"""Page recall: does the page that answers a question come back in the top k passages?

The retrieval half of ``eval answers`` without a model call, so a whole corpus can be measured
in minutes: recall@1/5/10 of the answering page (a question counts when any of its pages is among
the pages of the top k passages), MRR@10 by page, how many distinct pages fill the top 5, and the
misses with what came back instead.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from awsomechat.eval.answers import QAItem, relevant
from awsomechat.eval.metrics import mean
from awsomechat.seams import Retriever
from awsomechat.types import AccessScope, SearchRequest

__all__ = ["PageResult", "evaluate_pages", "summarise_pages"]

_K = 10


@dataclass(frozen=True)
class PageResult:
    item: QAItem
    pages: tuple[str, ...]  # the page (URI) of each of the top passages, in rank order
    titles: tuple[str, ...]
    ms: float

    def first_rank(self, k: int = _K) -> int | None:
        """1-based rank of the first passage from an answering page within the top ``k``."""
        for rank, uri in enumerate(self.pages[:k], start=1):
            if relevant(uri, self.item.doc_ids):
                return rank
        return None


def evaluate_pages(
    items: list[QAItem], retriever: Retriever, *, on_item: Callable[[PageResult], None] | None = None
) -> list[PageResult]:
    """Search every answerable question once (top 10 passages, public scope)."""
    out: list[PageResult] = []
    for item in items:
        if item.answer is None or not item.doc_ids:
            continue
        t0 = time.perf_counter()
        hits = retriever.search(SearchRequest(text=item.question, k=_K, access=AccessScope.public())).hits
        ms = (time.perf_counter() - t0) * 1000
        result = PageResult(item, tuple(h.uri for h in hits), tuple(h.title for h in hits), ms)
        out.append(result)
        if on_item:
            on_item(result)
    return out


def summarise_pages(results: list[PageResult]) -> dict[str, Any]:
    ranks = [r.first_rank() for r in results]
    summary: dict[str, Any] = {"n": len(results)}
    for k in (1, 5, 10):
        summary[f"recall@{k}"] = mean([rank is not None and rank <= k for rank in ranks])
    summary["mrr@10"] = mean([1 / rank if rank else 0.0 for rank in ranks])
    summary["distinct_pages@5"] = mean([len(set(r.pages[:5])) for r in results])
    summary["p50_ms"] = round(statistics.median(r.ms for r in results), 1) if results else 0.0
    summary["misses@5"] = [
        {"id": r.item.id, "question": r.item.question, "want": list(r.item.doc_ids),
         "got": list(dict.fromkeys(r.titles[:5]))}
        for r, rank in zip(results, ranks, strict=True)
        if rank is None or rank > 5
    ]  # fmt: skip
    return summary
