"""Ranking metrics as in BEIR / pytrec_eval (linear gains, queries without judgements skipped)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg_at(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """nDCG@k with gain = graded relevance (trec_eval's ``ndcg_cut``)."""
    dcg = sum(qrels.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    for i, doc in enumerate(ranked[:k]):
        if qrels.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def evaluate_run(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """Mean nDCG@10, Recall@10, Recall@100 and MRR@10 over the judged queries in ``run``."""
    judged = [q for q in run if any(g > 0 for g in qrels.get(q, {}).values())]
    if not judged:
        return {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    n = len(judged)
    return {
        "ndcg@10": round(sum(ndcg_at(run[q], qrels[q], 10) for q in judged) / n, 4),
        "recall@10": round(sum(recall_at(run[q], qrels[q], 10) for q in judged) / n, 4),
        "recall@100": round(sum(recall_at(run[q], qrels[q], 100) for q in judged) / n, 4),
        "mrr@10": round(sum(mrr_at(run[q], qrels[q], 10) for q in judged) / n, 4),
    }


def mean(values: Sequence[bool] | Sequence[float]) -> float:
    """The mean rounded to 4 places (0.0 for no values): every figure the evaluations report."""
    return round(sum(values) / len(values), 4) if values else 0.0
