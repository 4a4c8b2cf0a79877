"""Abstention calibration: the relevance signals of answerable vs unanswerable questions.

For every question, retrieve as the chain does and compute the two signals the relevance gate
uses (top dense similarity, IDF-weighted coverage); then sweep both thresholds and report the
pairs that answer the most answerable questions while declining the most unanswerable ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from awsomechat.eval.answers import QAItem
from awsomechat.seams import RelevanceJudge, Retriever
from awsomechat.types import AccessScope, SearchRequest


@dataclass(frozen=True)
class Signals:
    item: QAItem
    top_dense: float
    coverage: float


def collect(items: list[QAItem], retriever: Retriever, gate: RelevanceJudge, k: int) -> list[Signals]:
    out = []
    for item in items:
        access = AccessScope.public()
        hits = retriever.search(SearchRequest(text=item.question, k=k, access=access)).hits
        v = gate.judge(item.question, hits, access)
        out.append(Signals(item, v.top_dense, v.coverage))
    return out


def sweep(signals: list[Signals]) -> list[dict[str, Any]]:
    """Threshold pairs ranked by min(answered answerable, abstained unanswerable)."""
    pos = [s for s in signals if s.item.answer is not None]
    neg = [s for s in signals if s.item.answer is None]
    rows = []
    for d in [x / 100 for x in range(10, 71, 2)]:
        for c in [x / 100 for x in range(0, 101, 5)]:
            answered = sum(s.top_dense >= d and s.coverage >= c for s in pos) / max(len(pos), 1)
            declined = sum(s.top_dense < d or s.coverage < c for s in neg) / max(len(neg), 1)
            rows.append({"min_dense": d, "min_coverage": c, "answered_answerable": round(answered, 4),
                         "abstained_unanswerable": round(declined, 4)})  # fmt: skip
    rows.sort(key=lambda r: (-min(r["answered_answerable"], r["abstained_unanswerable"]),
                             -(r["answered_answerable"] + r["abstained_unanswerable"])))  # fmt: skip
    return rows
