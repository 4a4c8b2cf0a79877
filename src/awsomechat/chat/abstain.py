"""Deciding, from retrieval alone, whether the documents can answer at all.

Small models do not decline by themselves, so the system decides before calling the model:

- ``top_dense``: cosine similarity of the best passage to the question (semantic match);
- ``coverage``: the share of the question's informative terms (IDF-weighted) that occur in the
  best passages. A question about "WorkSpaces Web screen resolution" may find passages about
  Amazon and screens, but not the rare, decisive term "WorkSpaces": low coverage.

The answer is withheld when either falls below its threshold (``chat.min_dense``,
``chat.min_coverage``), calibrated on the evaluation set (see README).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from awsomechat.store.search import SearchQueries
from awsomechat.text.analyzer import Analyzer
from awsomechat.types import AccessScope, RelevanceVerdict, SearchHit

# Words that shape a question without naming its subject: they must not count as uncovered.
QUESTION_WORDS = (
    "many much long often possible way ways need want get use using tell know explain describe find "
    "give make work works there please also able happen happens difference mean means when where why whose"
).split()


class RelevanceGate:
    """The ``RelevanceJudge`` of the hybrid retriever: computes the two signals for a question and
    its hits and applies the thresholds."""

    def __init__(
        self,
        queries: SearchQueries,
        analyzer: Analyzer,
        *,
        min_dense: float,
        min_coverage: float,
        top_n: int = 3,
    ) -> None:
        self._queries = queries
        self._analyzer = analyzer
        self._min_dense = min_dense
        self._min_coverage = min_coverage
        self._top_n = top_n
        self._ignore = {analyzer.stem(w) for w in QUESTION_WORDS}
        # Last question's IDF (one entry: a turn judges, then trims, for the same question and scope).
        self._idf_cache: tuple[tuple[str, AccessScope], dict[str, float]] | None = None

    def with_thresholds(self, *, min_dense: float, min_coverage: float) -> RelevanceGate:
        """The same gate with other thresholds (e-mail requests are calibrated apart from questions)."""
        return RelevanceGate(
            self._queries, self._analyzer, min_dense=min_dense, min_coverage=min_coverage, top_n=self._top_n
        )

    def judge(self, question: str, hits: Sequence[SearchHit], scope: AccessScope) -> RelevanceVerdict:
        """The verdict for ``hits`` retrieved for ``question`` under ``scope`` (the same scope: term
        weights come from the passages it may read, so abstaining reveals nothing hidden)."""
        if not hits:
            return RelevanceVerdict(False, 0.0, 0.0, "no passage matched")
        top_dense = max((h.scores.dense for h in hits if h.scores.dense is not None), default=0.0)
        coverage = self.coverage(question, hits[: self._top_n], scope)
        if top_dense < self._min_dense:
            return RelevanceVerdict(False, top_dense, coverage, f"best similarity {top_dense:.2f} is too low")
        if coverage < self._min_coverage:
            return RelevanceVerdict(
                False, top_dense, coverage, f"passages cover {coverage:.0%} of the question"
            )
        return RelevanceVerdict(True, top_dense, coverage, "")

    def term_set(self, text: str) -> set[str]:
        """Content terms of ``text`` (analyzer terms without question words)."""
        return set(self._analyzer.terms(text)) - self._ignore

    def _idf(self, question: str, scope: AccessScope) -> dict[str, float]:
        """IDF of each query term among the passages ``scope`` may read; judging and trimming share
        one database round trip per question."""
        key = (question, scope)
        cached = self._idf_cache  # read once: the judge is shared by the threads of concurrent turns
        if cached is not None and cached[0] == key:
            return cached[1]
        terms = list(self._analyzer.query_terms(question))
        n, df = self._queries.term_stats(terms, scope) if terms else (1, {})
        n = max(n, 1)
        idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms}
        self._idf_cache = (key, idf)
        return idf

    def relevance_scorer(self, question: str, scope: AccessScope) -> Callable[[str], float]:
        """Scores a sentence by the IDF mass of the question's terms it holds (for trimming passages)."""
        idf = self._idf(question, scope)

        def score(sentence: str) -> float:
            return sum(idf.get(t, 0.0) for t in set(self._analyzer.terms(sentence)))

        return score

    def coverage(self, question: str, hits: Sequence[SearchHit], scope: AccessScope) -> float:
        """IDF-weighted share of the question's terms found in ``hits`` (IDF within ``scope``)."""
        idf = {t: w for t, w in self._idf(question, scope).items() if t not in self._ignore}
        if not idf:
            return 0.0
        present: set[str] = set()
        for h in hits:
            present.update(self._analyzer.terms(h.text))
        present |= self._spelled_out(question, set(idf) - present, hits)
        total = sum(idf.values())
        return sum(w for t, w in idf.items() if t in present) / total if total else 0.0

    def _spelled_out(self, question: str, missing: set[str], hits: Sequence[SearchHit]) -> set[str]:
        """The question's acronyms among ``missing`` that ``hits`` write out in full: "ALB" is
        covered by "Application Load Balancer", consecutive capitalised words with its letters as
        their initials, as the guides name a service in full where people abbreviate it."""
        found: set[str] = set()
        for acronym in set(_ACRONYM.findall(question)):
            term = self._analyzer.stem(acronym.lower())
            if term in missing and any(acronym in _initials(h.text) for h in hits):
                found.add(term)
        return found


# "ALB", "NLB", "SLA": an all-capitals word of 3 to 6 letters (a plural "ALBs" too).
_ACRONYM = re.compile(r"\b([A-Z]{3,6})s?\b")
_WORD = re.compile(r"[^\W_]+")


def _initials(text: str) -> str:
    """The first letter of every word, capitalised words only as capitals ("Application Load
    Balancer" gives "ALB"; "a load balancer" gives "alb", which no acronym matches)."""
    return "".join(w[0] for w in _WORD.findall(text))
