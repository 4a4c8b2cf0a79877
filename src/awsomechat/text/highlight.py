"""Excerpts around the best-matching part of a passage, with query terms marked."""

from __future__ import annotations

from collections.abc import Collection

from awsomechat.text.analyzer import Analyzer, iter_words
from awsomechat.types import Highlight


def make_excerpt(
    text: str, query_terms: Collection[str], analyzer: Analyzer, max_chars: int
) -> tuple[str, tuple[Highlight, ...]]:
    """Pick the ``max_chars`` window of ``text`` holding the most query terms.

    Returns the excerpt (with ``…`` where it was cut) and highlight spans as offsets into the
    returned excerpt, like Kendra's ``DocumentExcerpt.Highlights``.
    """
    body = text.split("\n\n", 1)[1] if text.count("\n\n") and len(text) > max_chars else text
    matches: list[tuple[int, int]] = []
    terms = set(query_terms)
    for start, end, word in iter_words(body):
        stems = {analyzer.stem(w) for w in [*word.replace("'", "").split("."), word] if w}
        if stems & terms:
            matches.append((start, end))
    if len(body) <= max_chars:
        lo, hi = 0, len(body)
    else:
        lo = _best_window_start(body, matches, max_chars)
        hi = min(len(body), lo + max_chars)
        # Snap to word boundaries so the excerpt does not start or end mid-word.
        if lo > 0:
            space = body.find(" ", lo, lo + 30)
            lo = space + 1 if space != -1 else lo
        if hi < len(body):
            space = body.rfind(" ", hi - 30, hi)
            hi = space if space > lo else hi
    prefix = "…" if lo > 0 else ""
    suffix = "…" if hi < len(body) else ""
    excerpt = prefix + body[lo:hi].strip() + suffix
    shift = len(prefix) - lo - (len(body[lo:hi]) - len(body[lo:hi].lstrip()))
    highlights = tuple(Highlight(start=s + shift, end=e + shift) for s, e in matches if s >= lo and e <= hi)
    return excerpt, highlights


def _best_window_start(body: str, matches: list[tuple[int, int]], width: int) -> int:
    """Start offset of the window with the most matches (two-pointer sweep)."""
    if not matches:
        return 0
    best_start, best_count, j = matches[0][0], 0, 0
    for i, (start, _) in enumerate(matches):
        while j < len(matches) and matches[j][1] <= start + width:
            j += 1
        if j - i > best_count:
            best_count, best_start = j - i, start
    # Leave a little context before the first match.
    return max(0, min(best_start - width // 6, len(body) - width))
