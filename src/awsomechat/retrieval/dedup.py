"""Near-duplicate passages, and passages of one page crowding out the others.

Near-duplicates: the same text on several pages (a shared procedure, a copied table,
the Linux and Windows editions of a guide) must not fill a result list with one answer.

Passages are compared by the Jaccard similarity of their word 3-gram shingles, body only (the
context line differs between pages that share a paragraph). The first, best ranked, of a group of
near-duplicates stays; the others are left out. Comparing a few dozen short passages takes well
under a millisecond.

Spread: the first ``per_document`` passages of each document keep their ranks and the rest move
after them (nothing is dropped), so the top of a result list holds the best passage of as many
pages as it can: one long page that matches everywhere (a FAQ, an API reference) no longer fills
the top 5 while the page that answers waits at rank 7. Off by default
(``retrieval.passages_per_document``); its figures are in the README ("The whole corpus").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["near_duplicates", "shingles", "spread_documents"]

T = TypeVar("T")

_WORD = re.compile(r"\w+")
_SHINGLE = 3


def shingles(text: str) -> frozenset[int]:
    """Hashes of the word 3-grams of a passage's body (the text after its context line)."""
    _, sep, body = text.partition("\n\n")
    words = _WORD.findall((body if sep else text).casefold())
    if len(words) < _SHINGLE:
        return frozenset({hash(tuple(words))}) if words else frozenset()
    return frozenset(hash(tuple(words[i : i + _SHINGLE])) for i in range(len(words) - _SHINGLE + 1))


def near_duplicates(texts: Sequence[str], threshold: float) -> list[bool]:
    """For each text, in rank order, whether it nearly repeats (Jaccard >= ``threshold``) a text
    ranked above it that was kept."""
    kept: list[frozenset[int]] = []
    out: list[bool] = []
    for text in texts:
        s = shingles(text)
        dup = bool(s) and any(len(s & k) >= threshold * len(s | k) for k in kept if k)
        out.append(dup)
        if not dup:
            kept.append(s)
    return out


def spread_documents(items: Sequence[T], document: Callable[[T], str], per_document: int) -> list[T]:
    """``items`` in rank order with each document's passages beyond its first ``per_document``
    moved, in their order, after all the others (stable; ``per_document`` 0 keeps the order)."""
    if per_document <= 0:
        return list(items)
    seen: dict[str, int] = {}
    first: list[T] = []
    later: list[T] = []
    for item in items:
        key = document(item)
        seen[key] = seen.get(key, 0) + 1
        (first if seen[key] <= per_document else later).append(item)
    return first + later
