"""The keyword analyzer shared by indexing and querying (BM25 must see both the same way).

Like Lucene's English analyzer: Unicode-folded lower case, word tokens (dotted technical names
such as ``db.m5.large`` are kept whole *and* split), English stop words, Porter stemming.
Changing anything here changes every stored term: bump ``ANALYZER_VERSION`` so the store asks for
``awsomechat reindex``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache

import snowballstemmer

ANALYZER_VERSION = "en-porter-1"

# Lucene's English stop set plus a few question words that carry no topical weight.
STOP_WORDS = frozenset(
    (
        "a an and are as at be but by for if in into is it no not of on or such that the their then there "
        "these they this to was will with i me my we our you your he she him her its what which who whom "
        "do does did how can could would should has have had been being am were s t"
    ).split()
)

_TOKEN_RE = re.compile(r"[^\W_]+(?:[.'][^\W_]+)*")
_MAX_TOKEN_CHARS = 40


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("porter")


def _fold(text: str) -> str:
    """Lower case and strip accents (café → cafe) so queries match either spelling."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def iter_words(text: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, folded_word)`` for every word of ``text`` (offsets into ``text``)."""
    # Folding can change string length for a few characters; offsets come from the original.
    for m in _TOKEN_RE.finditer(text):
        yield m.start(), m.end(), _fold(m.group())


def _terms_of_word(word: str) -> list[str]:
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace("'", "")
    parts = word.split(".") if "." in word else []
    out: list[str] = []
    for w in [word, *parts] if len(parts) > 1 else [word]:
        if not w or len(w) > _MAX_TOKEN_CHARS or w in STOP_WORDS:
            continue
        if len(w) == 1 and not w.isdigit():
            continue
        out.append(w)
    return out


class Analyzer:
    """Turns text into BM25 terms. Stemming is memoised: corpora repeat words a lot.

    ``context_weight`` makes a passage's context line (its title and heading path) count that many
    times in its term frequencies and length, a simple BM25F: a title term outweighs a body term.
    The weight is part of ``version``, since every stored posting depends on it.
    """

    def __init__(self, context_weight: int = 1) -> None:
        if context_weight < 1:
            raise ValueError(f"context_weight must be at least 1, got {context_weight}")
        self._cache: dict[str, str] = {}
        self.context_weight = context_weight
        self.version = ANALYZER_VERSION if context_weight == 1 else f"{ANALYZER_VERSION}+ctx{context_weight}"

    def stem(self, word: str) -> str:
        cached = self._cache.get(word)
        if cached is None:
            cached = word if any(c.isdigit() for c in word) else _stemmer().stemWord(word)
            if len(self._cache) < 500_000:
                self._cache[word] = cached
        return cached

    def terms(self, text: str) -> list[str]:
        """All index terms of ``text`` in order (duplicates kept)."""
        out: list[str] = []
        for _, _, word in iter_words(text):
            out.extend(self.stem(t) for t in _terms_of_word(word))
        return out

    def term_frequencies(self, text: str, context_chars: int = 0) -> tuple[Counter[str], int]:
        """Term counts and document length (number of terms) for indexing one passage; the first
        ``context_chars`` characters are its context line, weighted by ``context_weight``."""
        if context_chars <= 0 or self.context_weight == 1:
            terms = self.terms(text)
            return Counter(terms), len(terms)
        context = self.terms(text[:context_chars])
        body = self.terms(text[context_chars:])
        tf = Counter(body)
        for term in context:
            tf[term] += self.context_weight
        return tf, len(body) + self.context_weight * len(context)

    def query_terms(self, text: str) -> Counter[str]:
        """Distinct query terms with their counts (a repeated word weighs more, as in BM25)."""
        return Counter(self.terms(text))
