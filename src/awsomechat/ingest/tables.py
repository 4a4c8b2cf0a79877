"""Tables as pipe-delimited rows: the one form every loader writes and the chunker splits by rows.

A table is a block of ``| cell | cell |`` lines whose second line is the delimiter row
(``| --- | --- |``), as in GitHub-flavoured Markdown. Markdown documents carry them already; the
HTML and Word loaders render their tables the same way (``pipe_table``), so the chunker can cut
any long table between rows and repeat its header row in every passage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ParsedTable", "parse_table", "pipe_table", "table_segments"]

_DELIMITER = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def _row_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"


def pipe_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows (the first one the header) as a pipe table; empty rows are left out."""
    kept = [list(r) for r in rows if any(c.strip() for c in r)]
    if not kept:
        return ""
    width = max(len(r) for r in kept)
    kept = [r + [""] * (width - len(r)) for r in kept]
    lines = [_row_line(kept[0]), "| " + " | ".join(["---"] * width) + " |"]
    lines.extend(_row_line(r) for r in kept[1:])
    return "\n".join(lines)


@dataclass(frozen=True)
class ParsedTable:
    """A pipe table cut into its head (header and delimiter lines) and its body rows."""

    head: str
    rows: tuple[str, ...]


def _is_row(line: str) -> bool:
    s = line.strip()
    return len(s) > 1 and s.startswith("|")


def parse_table(text: str) -> ParsedTable | None:
    """``text`` as a table when it is one (every line a row, the second the delimiter row)."""
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    if len(lines) < 3 or not _DELIMITER.match(lines[1].strip()) or not all(map(_is_row, lines)):
        return None
    return ParsedTable("\n".join(lines[:2]), tuple(lines[2:]))


def _table_start(lines: list[str], i: int) -> bool:
    return i + 1 < len(lines) and _is_row(lines[i]) and bool(_DELIMITER.match(lines[i + 1].strip()))


def table_segments(paragraph: str) -> list[tuple[str, ParsedTable | None]]:
    """A paragraph cut into its text and its tables, in order (most paragraphs: one text piece).

    A table ends at its first line that is not a row, so a table written right under a line of
    text, or with text right under it, is still found.
    """
    lines = paragraph.split("\n")
    if not any(_table_start(lines, i) for i in range(len(lines) - 1)):
        return [(paragraph, None)]
    out: list[tuple[str, ParsedTable | None]] = []
    text: list[str] = []
    i = 0
    while i < len(lines):
        if _table_start(lines, i):
            j = i + 2
            while j < len(lines) and _is_row(lines[j]):
                j += 1
            if text:
                out.append(("\n".join(text), None))
                text = []
            block = "\n".join(line.rstrip() for line in lines[i:j])
            out.append((block, parse_table(block)))
            i = j
        else:
            text.append(lines[i])
            i += 1
    if text:
        out.append(("\n".join(text), None))
    return out
