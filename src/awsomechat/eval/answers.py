"""End-to-end answer evaluation: retrieval, answer quality, citations, abstention, latency.

Dataset lines: ``id``, ``question``, ``answer`` (null when the corpus cannot answer) and
``doc_ids`` (relevant documents as paths relative to the corpus folder).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from awsomechat.chat.service import ChatRequest, ChatService
from awsomechat.chat.verify import numbers_with_units
from awsomechat.errors import SourceError
from awsomechat.eval.metrics import mean
from awsomechat.seams import Retriever
from awsomechat.text.analyzer import STOP_WORDS
from awsomechat.types import AccessScope, SearchRequest

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer: str | None
    doc_ids: tuple[str, ...]


@dataclass
class QAResult:
    item: QAItem
    retrieved_docs: list[str]
    answer: str
    abstained: bool
    cited_docs: list[str]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    # Per sentence the model wrote: SentenceCheck.to_json() plus the checked passage text.
    verification: list[dict[str, Any]] = field(default_factory=list)


def load_qa(path: Path) -> list[QAItem]:
    items: list[QAItem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            items.append(
                QAItem(str(rec["id"]), rec["question"], rec.get("answer"), tuple(rec.get("doc_ids") or ()))
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SourceError(
                f"{path}:{n}: not a QA record ({exc})", hint="need id, question, answer, doc_ids"
            ) from exc
    return items


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


def token_recall(reference: str, answer: str) -> float:
    """Share of the reference answer's content words that the answer contains."""
    ref = set(words(reference))
    return len(ref & set(words(answer))) / len(ref) if ref else 0.0


def token_f1(reference: str, candidate: str) -> float:
    ref, cand = words(reference), words(candidate)
    if not ref or not cand:
        return float(ref == cand)
    common = sum(min(ref.count(w), cand.count(w)) for w in set(ref) & set(cand))
    if common == 0:
        return 0.0
    p, r = common / len(cand), common / len(ref)
    return 2 * p * r / (p + r)


def relevant(uri: str, doc_ids: tuple[str, ...]) -> bool:
    """Whether a hit's URI is one of the dataset's documents (paths relative to the corpus folder)."""
    return any(uri.endswith("/" + d) for d in doc_ids)


def run_item(item: QAItem, chat: ChatService, retriever: Retriever, user: str) -> QAResult:
    hits = retriever.search(SearchRequest(text=item.question, k=5, access=AccessScope.public())).hits
    retrieved = list(dict.fromkeys(h.uri for h in hits))
    final = chat.ask(ChatRequest(user_id=user, message=item.question, access=AccessScope.public()))
    return QAResult(
        item=item,
        retrieved_docs=retrieved,
        answer=final.answer,
        abstained=final.abstained,
        cited_docs=[c.uri for c in final.citations],
        seconds=final.timings.get("total_s", 0.0),
        timings=final.timings,
        verification=[c.to_json() | {"evidence": c.evidence} for c in final.verification],
    )


def _shown(r: QAResult) -> list[dict[str, Any]]:
    """The claim sentences of an answer a reader sees (kept or marked, not dropped); a corrected
    sentence is seen as its correction, the cited passage's own sentence."""
    return [
        c | {"sentence": c["correction"], "supported": True} if c["action"] == "corrected" else c
        for c in r.verification
        if c["claim"] and c["action"] != "dropped"
    ]


def numbers_in_evidence(check: dict[str, Any]) -> bool:
    """Every number of the sentence appears in the passage it cites (units aside)."""
    have = {n for n, _ in numbers_with_units(check["evidence"])}
    return all(n in have for n, _ in numbers_with_units(check["sentence"]))


def trust_summary(answered: list[QAResult]) -> dict[str, Any]:
    """Model-written citations, verified sentences, numbers found in their cited passage."""
    checked = [r for r in answered if r.verification]
    shown = [c for r in checked for c in _shown(r)]
    generated = [c for r in checked for c in r.verification if c["claim"]]
    with_numbers = [c for c in shown if numbers_with_units(c["sentence"])]
    return {
        "answers_with_citations": mean([r.timings.get("model_citations", 0) > 0 for r in answered]),
        "supported_sentences": mean([c["supported"] for c in shown]) if checked else None,
        # None when no shown sentence holds a number (nothing to check, not a failure)
        "numbers_supported": mean([numbers_in_evidence(c) for c in with_numbers]) if with_numbers else None,
        "generated_supported": mean([c["supported"] for c in generated]) if checked else None,
        "sentences_per_answer": round(len(shown) / len(checked), 2) if checked else None,
        "verify_seconds": round(statistics.median([r.timings.get("verify_s", 0.0) for r in checked]), 3)
        if checked
        else None,
    }


def summarise(results: list[QAResult]) -> dict[str, Any]:
    answerable = [r for r in results if r.item.answer is not None]
    unanswerable = [r for r in results if r.item.answer is None]
    answered = [r for r in answerable if not r.abstained]
    recall5 = [any(relevant(u, r.item.doc_ids) for u in r.retrieved_docs[:5]) for r in answerable]
    cited = [relevant(u, r.item.doc_ids) for r in answered for u in r.cited_docs]
    return {
        "n": len(results),
        "recall@5": mean(recall5),
        "token_recall": mean([token_recall(r.item.answer or "", r.answer) for r in answered]),
        "citation_precision": mean(cited),
        "answered_answerable": mean([not r.abstained for r in answerable]),
        "abstained_unanswerable": mean([r.abstained for r in unanswerable]),
        "p50_seconds": round(statistics.median([r.seconds for r in results]), 2) if results else 0.0,
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answers_with_any_citation": mean([bool(r.cited_docs) for r in answered]),
    } | trust_summary(answered)


def markdown_report(dataset: str, summary: dict[str, Any], results: list[QAResult]) -> str:
    lines = [f"# Answer evaluation: {dataset}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary.items()]
    lines += [
        "",
        "| id | expected | abstained | retrieved@5 hit | cited | seconds | answer |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        expected = "answer" if r.item.answer is not None else "abstain"
        hit = any(relevant(u, r.item.doc_ids) for u in r.retrieved_docs[:5]) if r.item.doc_ids else "-"
        answer = r.answer.replace("\n", " ").replace("|", "\\|")[:160]
        cells = [
            r.item.id,
            expected,
            str(r.abstained),
            str(hit),
            str(len(r.cited_docs)),
            f"{r.seconds:.1f}",
            answer,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluate_answers(
    items: list[QAItem],
    chat: ChatService,
    retriever: Retriever,
    *,
    on_item: Callable[[QAResult], None] | None = None,
) -> list[QAResult]:
    results = []
    for item in items:
        result = run_item(item, chat, retriever, user=f"eval-{item.id}")
        results.append(result)
        if on_item:
            on_item(result)
    return results
