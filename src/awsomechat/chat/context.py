"""Packing retrieved passages into the model's context budget, numbered for citation."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from awsomechat.chat.types import Citation
from awsomechat.links import public_url
from awsomechat.types import SearchHit

# A passage cut shorter than this says too little to be worth its place in the prompt.
_MIN_PASSAGE_TOKENS = 16


@dataclass(frozen=True)
class PackedPassage:
    """A passage as the model sees it: its number, the text given, and its citation record."""

    citation: Citation
    text: str


def citation_for(n: int, hit: SearchHit) -> Citation:
    """The citation record of a retrieved passage, numbered ``n``."""
    return Citation(
        n=n, chunk_id=hit.chunk_id, document_id=hit.document_id, title=hit.title, uri=hit.uri,
        heading_path=hit.heading_path, page=hit.page, excerpt=hit.excerpt,
        url=public_url(hit.uri, hit.attributes),
    )  # fmt: skip


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _body(hit: SearchHit) -> str:
    """The passage without the ``title > headings`` line the chunker put first (shown separately)."""
    head, sep, body = hit.text.partition("\n\n")
    is_prefix = ">" in head or head.strip() == hit.title
    return body if sep and is_prefix else hit.text


def _trim(text: str, count: Callable[[str], int], limit: int, relevance: Callable[[str], float]) -> str:
    """Cut a long passage to the run of sentences that best matches the question within ``limit``."""
    if count(text) <= limit:
        return text
    sentences = [s for s in re.split(r"(?<=[.!?:])\s+|\n+", text) if s.strip()]
    sizes = [count(s) + 1 for s in sentences]
    scores = [relevance(s) for s in sentences]
    best, best_score = (0, 0), -1.0
    for start in range(len(sentences)):
        used, score, end = 0, 0.0, start
        while end < len(sentences) and used + sizes[end] <= limit:
            used += sizes[end]
            score += scores[end]
            end += 1
        if end > start and score > best_score:
            best, best_score = (start, end), score
    start, end = best
    if end == start:  # one sentence longer than the limit: keep its beginning
        return _cut(text, count, limit)
    return ("… " if start else "") + " ".join(sentences[start:end]) + (" …" if end < len(sentences) else "")


def _cut(text: str, count: Callable[[str], int], limit: int) -> str:
    """The longest beginning of ``text`` that, with an ellipsis, stays within ``limit`` tokens."""
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on the length: a few counts whatever the script (CJK, emoji)
        mid = (lo + hi + 1) // 2
        if count(text[:mid] + " …") <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + " …" if lo else ""


def _label(title: str, heading_path: Sequence[str], page: int | None) -> str:
    where = " › ".join(h for h in heading_path if h != title)
    return title + (f" › {where}" if where else "") + (f" (p. {page})" if page else "")


def pack_passages(
    hits: Sequence[SearchHit],
    *,
    count_tokens: Callable[[str], int],
    budget_tokens: int,
    max_passages: int,
    relevance: Callable[[str], float] = lambda _s: 0.0,
) -> list[PackedPassage]:
    """Best-ranked distinct passages that fit the budget, then re-ordered by document and position.

    Duplicates (same passage, or the same text from another document) are dropped; each passage is
    capped so that a single long one cannot crowd out the rest. The rendered passages (labels
    included) never exceed ``budget_tokens``: the budget may be what is left of the model's
    context, so a passage that does not fit is cut to the room left, or left out.
    """
    per_passage = max(40, int(budget_tokens / max(1, min(max_passages, len(hits) or 1)) * 1.2))
    chosen: list[tuple[SearchHit, str]] = []
    seen_text: set[str] = set()
    seen_ids: set[str] = set()
    used = 0
    for hit in hits:
        if len(chosen) >= max_passages:
            break
        key = _norm(_body(hit))
        if hit.chunk_id in seen_ids or key in seen_text:
            continue
        # "[n] label" line and the blank line between passages
        head = count_tokens(f"[{len(chosen) + 1}] {_label(hit.title, hit.heading_path, hit.page)}\n") + 2
        room = min(per_passage, budget_tokens - used - head)
        if room < _MIN_PASSAGE_TOKENS:
            continue
        text = _trim(_body(hit), count_tokens, room, relevance)
        if count_tokens(text) > room:  # the ellipses of a trimmed passage can tip it over
            text = _cut(text, count_tokens, room)
        n = count_tokens(text) + head
        if not text or used + n > budget_tokens:
            continue
        chosen.append((hit, text))
        seen_ids.add(hit.chunk_id)
        seen_text.add(key)
        used += n
    # Group passages of one document together (in the order documents first appear), in reading order.
    doc_order = {hit.document_id: i for i, (hit, _) in reversed(list(enumerate(chosen)))}
    chosen.sort(key=lambda ht: (doc_order[ht[0].document_id], ht[0].position))
    return [
        PackedPassage(citation=citation_for(i, hit), text=text)
        for i, (hit, text) in enumerate(chosen, start=1)
    ]


def number_parts(
    parts: Sequence[Sequence[PackedPassage]],
) -> tuple[list[PackedPassage], list[list[PackedPassage]]]:
    """One numbering over the passages of several model calls (an e-mail's requests, each answered
    from its own passages): a passage given to two calls keeps one number. Returns every distinct
    passage once, numbered in order of first appearance, with the text of each call's trims joined
    (what the verifier checks a sentence against), and each call's passages renumbered."""
    numbers: dict[str, int] = {}
    texts: dict[str, list[str]] = {}
    first: dict[str, PackedPassage] = {}
    calls: list[list[PackedPassage]] = []
    for part in parts:
        numbered = []
        for p in part:
            key = p.citation.chunk_id
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                first[key], texts[key] = p, []
            if p.text not in texts[key]:
                texts[key].append(p.text)
            numbered.append(replace(p, citation=replace(p.citation, n=numbers[key])))
        calls.append(numbered)
    merged = [
        PackedPassage(citation=replace(first[k].citation, n=n), text=" … ".join(texts[k]))
        for k, n in numbers.items()
    ]
    return merged, calls


def render_passages(passages: Sequence[PackedPassage]) -> str:
    """``[n] Title › Heading (p. 3)`` then the text, for each passage."""
    blocks = []
    for p in passages:
        c = p.citation
        blocks.append(f"[{c.n}] {_label(c.title, c.heading_path, c.page)}\n{p.text}")
    return "\n\n".join(blocks)
