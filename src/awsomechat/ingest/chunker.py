"""Structure-aware chunker: packs a document's sections into passages that fit the embedder.

Passages never cross a heading (or a PDF page) and start with their context (``title > heading
path``) so they stand alone for embedding and BM25; the whole text fits ``max_tokens``. Pieces are
counted once and summed, and each finished passage is counted once more in case the sum
under-estimates (never for word-piece tokenizers, but other counters may differ).

Tiny sections (under ``min_tokens``) merge into the following passage under the same top-level
heading: one short line is a poor retrieval unit. The merged passage keeps the deeper heading path
when one path contains the other (a section's intro line, then its first subsection); for siblings
it keeps the following path and writes the tiny section's heading before its text.

A table too long for one passage is cut between rows, and every piece repeats the table's header
row and its caption (the short paragraph right above it), so a row such as ``Function timeout |
900 seconds`` is still found, and read, as a quota. Table pieces never overlap.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from awsomechat.ingest.tables import ParsedTable, table_segments
from awsomechat.text.context import context_line
from awsomechat.types import ChunkDraft, LoadedDocument, Section

__all__ = ["StructuredChunker"]

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+(?=\S)")
_FENCES = ("```", "~~~")
# A paragraph this short right above a table is read as its caption.
_CAPTION_TOKENS = 60
_WORD_CHAR = re.compile(r"\w")
_TABLE_INTRO = re.compile(r"\b(?:following|below|table|these|this list)\b|:\s*$", re.IGNORECASE)
# A table with this many body rows (or tokens) gets passages of its own; a smaller one stays in the
# text around it.
_TABLE_ROWS = 3
_TABLE_TOKENS = 48


@dataclass
class _Unit:
    """A piece of body text with its (summed, special-token-free) cost and the separator before it."""

    text: str
    tokens: int
    sep: str
    page: int | None = None
    table: ParsedTable | None = None  # a whole table, cut by rows if it is over budget
    caption: str = ""
    table_part: bool = False  # rows of a cut table under its header: no overlap from it


@dataclass
class _Group:
    """Consecutive sections that share one heading path and page; one packing run."""

    path: tuple[str, ...]
    page: int | None
    atomic: bool
    units: list[_Unit] = field(default_factory=list)


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs; a fenced code block is never cut at its blank lines."""
    out: list[str] = []
    buf: list[str] = []
    fence = ""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if fence or stripped.startswith(_FENCES):
            buf.append(line)
            if not fence:
                fence = stripped[:3]
            elif stripped.startswith(fence):
                fence = ""
        elif stripped:
            buf.append(line)
        elif buf:
            out.append("\n".join(buf))
            buf = []
    if buf:
        out.append("\n".join(buf))
    return out


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.split("\n") if line.strip()]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


# Split levels, coarsest first, with the separator that rejoins their pieces.
_LEVELS: tuple[tuple[Callable[[str], list[str]], str], ...] = (
    (_paragraphs, "\n\n"),
    (_lines, "\n"),
    (_sentences, " "),
    (str.split, " "),  # words
)


class StructuredChunker:
    """Splits a LoadedDocument into ChunkDrafts of at most ``max_tokens`` tokens each."""

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        max_tokens: int = 200,
        overlap_tokens: int = 40,
        min_tokens: int = 20,
        *,
        split_tables: bool = True,
    ) -> None:
        if max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8, got {max_tokens}")
        if not 0 <= overlap_tokens < max_tokens // 2:
            raise ValueError(f"overlap_tokens must be in [0, {max_tokens // 2}), got {overlap_tokens}")
        if min_tokens < 0:
            raise ValueError(f"min_tokens must be >= 0, got {min_tokens}")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.min_tokens = min_tokens
        self.split_tables = split_tables
        # Special tokens ([CLS]/[SEP]) are counted once per call; subtract them from each piece so
        # that summed pieces estimate the joined text instead of over-counting.
        self._overhead = max(0, count_tokens(""))
        # Text this long is almost surely over budget (about 4 characters a token), so its
        # paragraphs are counted instead of the whole; packing rejoins them if they do fit.
        self._chars_cap = 6 * max_tokens

    def _cost(self, text: str) -> int:
        return max(0, self.count_tokens(text) - self._overhead)

    def chunk(self, doc: LoadedDocument) -> list[ChunkDraft]:
        """The document's passages in order, ``position`` 0..n-1. Deterministic."""
        drafts: list[ChunkDraft] = []
        prefixes: dict[tuple[str, ...], tuple[str, int]] = {}
        for group in self._merge_tiny(self._groups(doc.sections)):
            if group.path not in prefixes:
                prefixes[group.path] = self._prefix(doc.title, group.path)
            prefix, prefix_cost = prefixes[group.path]
            budget = self.max_tokens - self._overhead - prefix_cost
            units: list[_Unit] = []
            for unit in group.units:
                if unit.table is not None:
                    units.extend(self._table_units(unit, budget))
                elif unit.tokens <= budget:
                    units.append(unit)
                else:
                    units.extend(self._split(unit.text, budget, unit.sep, unit.page))
            for text, count, page in self._pack(units, budget, prefix):
                drafts.append(ChunkDraft(text, len(drafts), group.path, page, count))
        return drafts

    def _groups(self, sections: list[Section]) -> Iterator[_Group]:
        current: _Group | None = None
        for section in sections:
            text = section.text.strip("\n").rstrip()
            if not text.strip():
                continue
            key = (section.heading_path, section.page)
            if current is None or section.atomic or current.atomic or (current.path, current.page) != key:
                if current is not None:
                    yield current
                current = _Group(section.heading_path, section.page, section.atomic)
            current.units.extend(self._section_units(text, section.page))
        if current is not None:
            yield current

    def _section_units(self, text: str, page: int | None) -> list[_Unit]:
        """A section as one unit, or as paragraphs when it is surely too long for one passage.

        Its tables become units of their own, each carrying the caption above it.
        """
        segments = _table_split(text) if self.split_tables and "|" in text else [(text, None)]
        units: list[_Unit] = []
        for seg, table in segments:
            if table is not None and (len(table.rows) >= _TABLE_ROWS or self._cost(seg) >= _TABLE_TOKENS):
                units.append(_Unit(seg, self._cost(seg), "\n\n", page, table=table))
            # A small table reads best with the text around it.
            elif table is not None or len(seg) <= self._chars_cap:
                units.append(_Unit(seg, self._cost(seg), "\n\n", page))
            else:
                units.extend(_Unit(p, self._cost(p), "\n\n", page) for p in _paragraphs(seg))
        # The short paragraph right above a table moves into it as its caption.
        for i, unit in enumerate(units):
            if unit.table is None:
                continue
            j = i - 1  # past lines with no words (``****``, a rule) between the text and the table
            while j >= 0 and units[j].table is None and not _WORD_CHAR.search(units[j].text):
                units[j].text = ""
                j -= 1
            prev = units[j] if j >= 0 else None
            if prev is None or prev.table is not None or not prev.text:
                continue
            caption, rest = self._caption(_paragraphs(prev.text))
            if caption:
                unit.caption = caption
                prev.text = "\n\n".join(rest)
                prev.tokens = self._cost(prev.text) if prev.text else 0
        return [u for u in units if u.text]

    def _caption(self, paras: list[str]) -> tuple[str, list[str]]:
        """The caption of the table below ``paras`` and what stays above it: from the sentence of
        the last paragraph that introduces the table ("The following table shows ...", within its
        last three) to its end; with no such sentence the paragraph when it is short, else its last
        sentence; lines with no words (``****``, a rule) skipped. ``("", paras)`` when that is
        over the caption budget too."""
        while paras and not _WORD_CHAR.search(paras[-1]):
            paras = paras[:-1]
        if not paras:
            return "", paras
        last = paras[-1]
        sentences = _SENTENCE_END.split(last)
        intro = next(
            (i for i in range(len(sentences) - 1, max(0, len(sentences) - 3) - 1, -1)
             if _TABLE_INTRO.search(sentences[i])),
            None,
        )  # fmt: skip
        if intro is None or intro == 0:
            if self._cost(last) <= _CAPTION_TOKENS:
                return last, paras[:-1]
            intro = len(sentences) - 1
        tail = " ".join(sentences[intro:])
        if intro == 0 or self._cost(tail) > _CAPTION_TOKENS:
            return "", paras
        return tail, [*paras[:-1], " ".join(sentences[:intro])]

    def _table_units(self, unit: _Unit, budget: int) -> list[_Unit]:
        """A table over budget as pieces of whole rows, each under the caption and header row."""
        assert unit.table is not None
        head = f"{unit.caption}\n{unit.table.head}" if unit.caption else unit.table.head
        head_cost = self._cost(head)
        if head_cost > budget // 2 and unit.caption:
            head = unit.table.head
            head_cost = self._cost(head)
        if head_cost > budget // 2:  # a header this wide leaves rows no room: cut it as text
            return self._split(unit.text, budget, unit.sep, unit.page)
        room = budget - head_cost - 1  # the newline after the head
        rows: list[_Unit] = []
        for row in unit.table.rows:
            cost = self._cost(row) + 1
            if cost <= room:
                rows.append(_Unit(row, cost, "\n", unit.page))
            else:
                rows.extend(self._split(row, room - 1, "\n", unit.page, level=2))
        out: list[_Unit] = []
        cur: list[_Unit] = []
        cost = 0
        for piece in rows:
            if cur and cost + piece.tokens > room:
                out.append(self._table_piece(head, head_cost, cur, unit, not out))
                cur, cost = [], 0
            cur.append(piece)
            cost += piece.tokens
        if cur:
            out.append(self._table_piece(head, head_cost, cur, unit, not out))
        return out

    @staticmethod
    def _table_piece(head: str, head_cost: int, rows: list[_Unit], unit: _Unit, first: bool) -> _Unit:
        text = head + "\n" + "\n".join(r.text for r in rows)
        cost = head_cost + sum(r.tokens for r in rows)
        return _Unit(text, cost, unit.sep if first else "\n\n", unit.page, table_part=True)

    def _merge_tiny(self, groups: Iterator[_Group]) -> Iterator[_Group]:
        carry: _Group | None = None
        for group in groups:
            if carry is not None:
                top = carry.path[:1]
                if group.atomic or group.path[:1] != top:
                    yield carry
                else:
                    group = self._merged(carry, group)
                carry = None
            if not group.atomic and sum(u.tokens for u in group.units) < self.min_tokens:
                carry = group
            else:
                yield group
        if carry is not None:
            yield carry

    def _merged(self, tiny: _Group, nxt: _Group) -> _Group:
        units = list(tiny.units)
        if nxt.path[: len(tiny.path)] == tiny.path or tiny.path[: len(nxt.path)] != nxt.path:
            path = nxt.path
        else:
            path = tiny.path  # the tiny section is the deeper one
        if path[: len(tiny.path)] != tiny.path:
            common = 0
            while common < min(len(path), len(tiny.path)) and path[common] == tiny.path[common]:
                common += 1
            first = units[0]
            text = " > ".join(tiny.path[common:]) + "\n" + first.text
            units[0] = _Unit(text, self._cost(text), first.sep, first.page)
        return _Group(path, tiny.page, False, units + nxt.units)

    def _prefix(self, title: str, path: tuple[str, ...]) -> tuple[str, int]:
        """``title > h1 > h2`` (title left out when it is the first heading) and its cost.

        A context longer than half the budget is cut so that a body always has room.
        """
        prefix = context_line(title, path)
        if not prefix:
            return "", 0
        limit = (self.max_tokens - self._overhead) // 2
        cost = self._cost(prefix + "\n\n")
        if cost <= limit:
            return prefix, cost
        room = limit - self._cost(" …")
        kept: list[str] = []
        for piece in self._split(prefix, room, "", None):
            room -= piece.tokens
            if room < 0:
                break
            kept.append(piece.sep + piece.text if kept else piece.text)
        prefix = "".join(kept).rstrip() + " …"
        return prefix, self._cost(prefix + "\n\n")

    def _split(self, text: str, budget: int, sep: str, page: int | None, level: int = 0) -> list[_Unit]:
        """Cut ``text`` (known to be over ``budget``) at the coarsest boundaries that fit."""
        if level == len(_LEVELS):
            return self._split_chars(text, budget, sep, page)
        splitter, join = _LEVELS[level]
        pieces = splitter(text)
        if len(pieces) <= 1:
            return self._split(text, budget, sep, page, level + 1)
        out: list[_Unit] = []
        for i, piece in enumerate(pieces):
            piece_sep = sep if i == 0 else join
            cost = self._cost(piece)
            if cost <= budget:
                out.append(_Unit(piece, cost, piece_sep, page))
            else:
                out.extend(self._split(piece, budget, piece_sep, page, level + 1))
        return out

    def _split_chars(self, text: str, budget: int, sep: str, page: int | None) -> list[_Unit]:
        """Last resort for a single huge "word" (a hash, base64, minified code)."""
        text = text.strip()
        chars_per_token = len(text) / max(1, self._cost(text))
        out: list[_Unit] = []
        start = 0
        while start < len(text):
            size = max(1, int(budget * chars_per_token))
            cost = self._cost(text[start : start + size])
            while cost > budget and size > 1:
                size = max(1, int(size * budget / cost * 0.9))
                cost = self._cost(text[start : start + size])
            out.append(_Unit(text[start : start + size], cost, sep if start == 0 else "", page))
            start += size
        return out

    def _pack(self, units: list[_Unit], budget: int, prefix: str) -> Iterator[tuple[str, int, int | None]]:
        """Greedy packing with overlap; yields (text, token count, page) per passage."""
        pending = deque(units)
        cur: list[_Unit] = []
        cost = 0
        n_overlap = 0
        while pending or len(cur) > n_overlap:
            # A table's piece is a passage of its own: nothing is packed before or after it.
            alone = bool(cur) and (cur[-1].table_part or bool(pending and pending[0].table_part))
            if pending and (not cur or cost + pending[0].tokens <= budget) and not alone:
                unit = pending.popleft()
                cur.append(unit)
                cost += unit.tokens
                continue
            if len(cur) == n_overlap:  # only overlap left and the next unit needs its room
                cur, cost, n_overlap = [], 0, 0
                continue
            text, count, kept = self._finish(cur, n_overlap, prefix, pending)
            yield text, count, kept[0].page
            room = budget - pending[0].tokens if pending and not pending[0].table_part else 0
            cur = self._overlap(kept, min(self.overlap_tokens, room))
            cost, n_overlap = sum(u.tokens for u in cur), len(cur)

    def _finish(
        self, cur: list[_Unit], n_overlap: int, prefix: str, pending: deque[_Unit]
    ) -> tuple[str, int, list[_Unit]]:
        """Render ``cur`` and check its real count; give back units (to ``pending``) until it fits."""
        cur = list(cur)
        while True:
            body = "".join(u.sep + u.text if i else u.text for i, u in enumerate(cur))
            text = f"{prefix}\n\n{body}" if prefix else body
            count = self.count_tokens(text)
            if count <= self.max_tokens or (len(cur) == 1 and len(cur[0].text) <= 1):
                return text, count, cur
            if n_overlap:
                cur.pop(0)
                n_overlap -= 1
            elif len(cur) > 1:
                pending.appendleft(cur.pop())
            else:
                # One piece whose real count beats its estimate: cut it tighter and retry.
                unit = cur.pop()
                smaller = max(1, unit.tokens - (count - self.max_tokens) - 1)
                pieces = self._split(unit.text, smaller, unit.sep, unit.page)
                if len(pieces) == 1:
                    pieces = self._split_chars(unit.text, smaller, unit.sep, unit.page)
                cur.append(pieces[0])
                pending.extendleft(reversed(pieces[1:]))

    def _overlap(self, kept: list[_Unit], limit: int) -> list[_Unit]:
        """The trailing sentences of a passage, about ``limit`` tokens, to open the next one.

        Only the tail is counted, sentence by sentence from the end. When not even the last
        sentence fits, its last words are used instead.
        """
        taken: list[_Unit] = []
        total = 0
        if limit <= 0 or (kept and kept[-1].table_part):
            return taken
        for unit in reversed(kept):
            if total + unit.tokens <= limit:
                taken.append(unit)
                total += unit.tokens
                continue
            for text, sep in reversed(_sentence_pieces(unit.text, unit.sep)):
                cost = self._cost(text)
                if total + cost > limit:
                    # A few words of context are noise; a long sentence's tail is still context.
                    if not taken and limit >= max(4, self.overlap_tokens // 2):
                        taken.extend(self._word_tail(text, limit, unit.page))
                    break
                taken.append(_Unit(text, cost, sep, unit.page))
                total += cost
            break
        taken.reverse()
        return taken

    def _word_tail(self, sentence: str, limit: int, page: int | None) -> list[_Unit]:
        words = sentence.split()
        k = min(len(words), limit)
        while k > 0:
            text = " ".join(words[-k:])
            cost = self._cost(text)
            if cost <= limit:
                return [_Unit(text, cost, " ", page)]
            k = min(k - 1, k * limit // cost)
        return []


def _table_split(text: str) -> list[tuple[str, ParsedTable | None]]:
    """The section's text and tables in order; text between tables is rejoined as it was."""
    out: list[tuple[str, ParsedTable | None]] = []
    text_parts: list[str] = []
    for para in _paragraphs(text):
        if para.lstrip().startswith(_FENCES):
            text_parts.append(para)
            continue
        for seg, table in table_segments(para):
            if table is None:
                text_parts.append(seg)
                continue
            if text_parts:
                out.append(("\n\n".join(text_parts), None))
                text_parts = []
            out.append((seg, table))
    if not out:
        return [(text, None)]  # no table: the text exactly as it was
    if text_parts:
        out.append(("\n\n".join(text_parts), None))
    return out


def _sentence_pieces(text: str, sep: str) -> list[tuple[str, str]]:
    """``text`` cut into lines and sentences, each with the separator that precedes it."""
    out: list[tuple[str, str]] = []
    for line in _lines(text):
        for i, sentence in enumerate(_sentences(line)):
            out.append((sentence, (" " if i else "\n") if out else sep))
    return out
