"""A passage's context line: ``title > h1 > h2``, written by the chunker above every passage.

Keyword ranking weighs it above the body (see ``Analyzer.context_weight``), so the indexer and
reindexer must find where it ends in a stored passage.
"""

from __future__ import annotations

__all__ = ["context_length", "context_line"]


def context_line(title: str, path: tuple[str, ...]) -> str:
    """``title > h1 > h2``, the line a passage starts with (the title left out when it is the first
    heading)."""
    parts = [p.strip() for p in path if p.strip()]
    title = title.strip()
    if title and not (parts and parts[0].casefold() == title.casefold()):
        parts.insert(0, title)
    return " > ".join(parts)


def context_length(text: str, title: str, path: tuple[str, ...]) -> int:
    """How many leading characters of a passage are its context line (0 when it has none): the
    title and heading field that keyword ranking weighs above the body."""
    head, sep, _ = text.partition("\n\n")
    if not sep:
        return 0
    line = context_line(title, path)
    if head == line or (head.endswith(" …") and line.startswith(head[:-2].rstrip())):
        return len(head)
    return 0
