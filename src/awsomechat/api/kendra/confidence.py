"""Kendra's ``ScoreConfidence`` from our own relevance signals.

Kendra clients abstain on it (a ``LOW`` result is not used to answer), so it must say what our
relevance gate says: the same gate that makes ``/v1/chat`` withhold an answer.
"""

from __future__ import annotations

from awsomechat.types import RelevanceVerdict

# Above chat.min_dense, each band is this much more cosine similarity (all-MiniLM-L6-v2 with the
# default 0.3: MEDIUM from 0.30, HIGH from 0.45, VERY_HIGH from 0.60). Relative to the threshold,
# so the bands follow it when it is calibrated for another embedder.
BAND_WIDTH = 0.15


def score_confidence(
    verdict: RelevanceVerdict, dense: float | None, *, min_dense: float, backend: str | None = None
) -> str:
    """The ``ScoreConfidence`` of one hit for a query whose top hits got ``verdict``.

    - The gate says the passages cannot answer (best similarity or term coverage too low):
      ``LOW`` for every hit, so a client that drops LOW results abstains exactly when we would.
    - Otherwise, by the hit's own dense cosine similarity ``dense`` to the query: below
      ``min_dense`` (or no dense score: the hit came from BM25 alone) ``LOW``; then ``MEDIUM``,
      ``HIGH`` and ``VERY_HIGH`` in bands of ``BAND_WIDTH`` above ``min_dense``. The best hit of an
      answerable query (the most similar one) is always at least ``MEDIUM``: the gate required
      its similarity.
    - A retriever that reports its own band (``backend``: this service on Kendra) keeps it when
      the gate lets the query through.
    """
    if not verdict.answerable:
        return "LOW"
    if backend is not None:
        return backend
    if dense is None or dense < min_dense:
        return "LOW"
    if dense >= min_dense + 2 * BAND_WIDTH:
        return "VERY_HIGH"
    if dense >= min_dense + BAND_WIDTH:
        return "HIGH"
    return "MEDIUM"
