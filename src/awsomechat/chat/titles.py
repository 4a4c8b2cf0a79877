"""Session titles, the same in every conversation store."""

from __future__ import annotations

MAX_TITLE_CHARS = 120


def title_from(question: str) -> str:
    """A session title from its first question: one line, cut at a word boundary."""
    line = " ".join(question.split())
    if len(line) <= MAX_TITLE_CHARS:
        return line
    cut = line[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0]
    return cut + "…"
