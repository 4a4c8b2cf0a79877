"""Weighted reciprocal rank fusion (Cormack et al., 2009)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fused:
    """A fused candidate with the rank it had in each input list (1-based, None = absent)."""

    chunk_id: int
    score: float
    ranks: tuple[int | None, ...]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], weights: Sequence[float], k: int = 60
) -> list[Fused]:
    """score(d) = Σ_i w_i / (k + rank_i(d)). Ties break by best single rank, then id (stable)."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    ranks: dict[int, list[int | None]] = {}
    for i, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking, start=1):
            slot = ranks.setdefault(item, [None] * len(rankings))
            if slot[i] is None:
                slot[i] = rank
    fused = [
        Fused(
            chunk_id=item,
            score=sum(w / (k + r) for w, r in zip(weights, rs, strict=True) if r is not None),
            ranks=tuple(rs),
        )
        for item, rs in ranks.items()
    ]
    fused.sort(key=lambda f: (-f.score, min(r for r in f.ranks if r is not None), f.chunk_id))
    return fused
