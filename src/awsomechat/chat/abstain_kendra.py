"""The answerability signal of a Kendra index: its own ``ScoreConfidence``.

Kendra gives no cosine similarity and no term statistics, so the hybrid gate's two signals do not
exist there; what it does give is a confidence band per result (``VERY_HIGH`` .. ``LOW``), computed
from its own semantic ranking. The answer is withheld when the best result's band is below
``retriever.min_confidence``. The verdict reports the band as 0.25 .. 1.0 in ``top_dense`` (and
coverage 1.0), so ``eval abstention`` and the logs read the same for every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from awsomechat.chat.abstain import QUESTION_WORDS
from awsomechat.retrieval.kendra import confidence_value
from awsomechat.text.analyzer import Analyzer
from awsomechat.types import AccessScope, RelevanceVerdict, SearchHit


class KendraConfidenceJudge:
    """``RelevanceJudge`` for the Kendra retriever."""

    def __init__(self, analyzer: Analyzer, *, min_confidence: str) -> None:
        self._analyzer = analyzer
        self._min = confidence_value(min_confidence)
        self._min_name = min_confidence
        self._ignore = {analyzer.stem(w) for w in QUESTION_WORDS}

    def judge(self, question: str, hits: Sequence[SearchHit], scope: AccessScope) -> RelevanceVerdict:
        if not hits:
            return RelevanceVerdict(False, 0.0, 0.0, "no passage matched")
        best = max(hits, key=lambda h: confidence_value(h.scores.confidence))
        value = confidence_value(best.scores.confidence)
        if value < self._min:
            return RelevanceVerdict(
                False, value, 1.0,
                f"Kendra's best confidence is {best.scores.confidence or 'not available'},"
                f" below {self._min_name}",
            )  # fmt: skip
        return RelevanceVerdict(True, value, 1.0, "")

    def term_set(self, text: str) -> set[str]:
        return set(self._analyzer.terms(text)) - self._ignore

    def relevance_scorer(self, question: str, scope: AccessScope) -> Callable[[str], float]:
        """Question terms a sentence holds; rarer (longer) terms weigh a little more, as no
        corpus statistics are at hand."""
        weights = {t: 1.0 + min(len(t), 12) / 12 for t in self.term_set(question)}

        def score(sentence: str) -> float:
            return sum(weights.get(t, 0.0) for t in set(self._analyzer.terms(sentence)))

        return score
