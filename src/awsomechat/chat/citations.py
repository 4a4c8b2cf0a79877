"""Numbered citations: ``[n]`` markers in an answer mapped to the passages they point at."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from awsomechat.chat.types import Citation

# [1], [1, 3], [1][2], [1-2] (ranges are expanded)
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,–-]\s*\d{1,3})*)\]")


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*,\s*", group):
        if re.search(r"[–-]", part):
            lo, hi = (int(x) for x in re.split(r"\s*[–-]\s*", part))
            out.extend(range(lo, hi + 1) if 0 < hi - lo < 10 else [lo, hi])
        else:
            out.append(int(part))
    return out


def resolve_citations(answer: str, sources: Sequence[Citation]) -> tuple[str, tuple[Citation, ...]]:
    """Return the answer with markers that point at nothing removed, and the cited sources in order.

    A model sometimes cites ``[7]`` when it saw five passages: such markers are dropped rather than
    shown as a broken link.
    """
    by_n = {c.n: c for c in sources}
    cited: dict[int, Citation] = {}

    def fix(m: re.Match[str]) -> str:
        valid = [n for n in _numbers(m.group(1)) if n in by_n]
        for n in valid:
            cited.setdefault(n, by_n[n])
        return "".join(f"[{n}]" for n in dict.fromkeys(valid))

    cleaned = _MARKER.sub(fix, answer)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)  # "text [9]." → "text." without a stray space
    return cleaned, tuple(cited.values())


def attribute_uncited(
    answer: str,
    passages: Sequence[tuple[Citation, str]],
    terms: Callable[[str], set[str]],
    *,
    min_overlap: float = 0.5,
) -> str:
    """Add ``[n]`` to answer sentences that carry none, when one passage clearly supports them.

    Small models often state the right fact and forget the marker. A sentence gets the passage
    holding the largest share (at least ``min_overlap``) of its content terms; sentences with no
    such passage stay uncited rather than being given a guess.
    """
    passage_terms = [(c.n, terms(text)) for c, text in passages]
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?])(\s+)", answer):
        if not sentence.strip() or _MARKER.search(sentence):
            out.append(sentence)
            continue
        words = terms(sentence)
        best_n, best = 0, 0.0
        for n, pt in passage_terms:
            share = len(words & pt) / len(words) if words else 0.0
            if share > best:
                best_n, best = n, share
        if best >= min_overlap and len(words) >= 3:
            stripped = sentence.rstrip()
            end = stripped[-1] if stripped and stripped[-1] in ".!?" else ""
            sentence = (stripped[:-1] if end else stripped) + f" [{best_n}]" + end + sentence[len(stripped) :]
        out.append(sentence)
    return "".join(out)
