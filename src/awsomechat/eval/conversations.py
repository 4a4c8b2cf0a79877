"""Follow-up questions: does rewriting them help retrieval, and how close are the rewrites?

- Multi-turn set (ours, over the sample knowledge base): retrieval recall@5 of follow-up turns
  searched as asked, as rewritten by the model, and as rewritten by hand (the ceiling).
- TREC CAsT 2019: token F1 of the model's rewrites against the manual ones, and how well the
  "does this need the conversation?" check predicts which turns people rewrote.

History is built from the previous turns' manual rewrites with empty answers, so every follow-up
is judged on the same footing and no answer generation is needed.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awsomechat.chat.rewrite import needs_context, rewrite
from awsomechat.chat.types import Turn
from awsomechat.eval.answers import relevant, token_f1
from awsomechat.seams import ChatModel, Retriever
from awsomechat.types import AccessScope, SearchRequest


@dataclass(frozen=True)
class ConvTurn:
    question: str
    rewrite: str
    doc_ids: tuple[str, ...]
    needs_context: bool


def load_conversations(path: Path) -> list[tuple[str, list[ConvTurn]]]:
    """Our multi-turn format or CAsT's (``utterance``/``rewrite``)."""
    convs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        turns = []
        for t in rec["turns"]:
            q = t.get("question") or t["utterance"]
            rw = t.get("rewrite") or q
            turns.append(
                ConvTurn(q, rw, tuple(t.get("doc_ids") or ()), bool(t.get("needs_context", q != rw)))
            )
        convs.append((str(rec["id"]), turns))
    return convs


def _history(turns: list[ConvTurn]) -> list[Turn]:
    now = dt.datetime.now(dt.UTC)
    return [
        Turn(
            question=t.question,
            standalone_question=t.rewrite,
            answer="",
            seq=i,
            created_at=now,
            id=uuid.uuid4(),
        )
        for i, t in enumerate(turns, start=1)
    ]


def _hit(retriever: Retriever, text: str, doc_ids: tuple[str, ...]) -> bool:
    hits = retriever.search(SearchRequest(text=text, k=5, access=AccessScope.public())).hits
    return any(relevant(h.uri, doc_ids) for h in hits)


def evaluate_conversations(
    path: Path,
    model: ChatModel,
    retriever: Retriever | None,
    *,
    limit: int | None = None,
    on_turn: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Figures for one conversation file (retrieval figures only when turns carry ``doc_ids``)."""
    convs = load_conversations(path)[:limit]
    f1_model: list[float] = []
    f1_asked: list[float] = []
    f1_auto: list[float] = []
    f1_needed: list[tuple[float, float]] = []  # (model rewrite, as asked) on turns people rewrote
    decisions: list[tuple[bool, bool]] = []  # (predicted needs context, humans rewrote it)
    recall = {"asked": [], "auto": [], "always": [], "manual": []}  # type: dict[str, list[bool]]
    rewrites_called = 0
    for _, turns in convs:
        for i, turn in enumerate(turns[1:], start=1):
            history = _history(turns[:i])
            predicted = needs_context(turn.question)
            decisions.append((predicted, turn.needs_context))
            rewritten, _, _ = rewrite(model, history, turn.question)
            f1_model.append(token_f1(turn.rewrite, rewritten))
            f1_asked.append(token_f1(turn.rewrite, turn.question))
            auto = rewritten if predicted else turn.question
            f1_auto.append(token_f1(turn.rewrite, auto))
            if turn.rewrite != turn.question:
                f1_needed.append((f1_model[-1], f1_asked[-1]))
            rewrites_called += predicted
            if retriever is not None and turn.doc_ids:
                recall["asked"].append(_hit(retriever, turn.question, turn.doc_ids))
                recall["always"].append(_hit(retriever, rewritten, turn.doc_ids))
                recall["auto"].append(_hit(retriever, auto, turn.doc_ids))
                recall["manual"].append(_hit(retriever, turn.rewrite, turn.doc_ids))
            if on_turn:
                on_turn()
    tp = sum(p and h for p, h in decisions)
    fp = sum(p and not h for p, h in decisions)
    fn = sum(h and not p for p, h in decisions)
    out: dict[str, Any] = {
        "dataset": path.stem,
        "follow_ups": len(decisions),
        "rewrite_token_f1": _mean(f1_model),
        "asked_token_f1": _mean(f1_asked),
        "auto_token_f1": _mean(f1_auto),
        "rewrite_token_f1_where_needed": _mean([m for m, _ in f1_needed]),
        "asked_token_f1_where_needed": _mean([a for _, a in f1_needed]),
        "needs_context_precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "needs_context_recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "model_calls_skipped": round(1 - rewrites_called / len(decisions), 4) if decisions else 0.0,
    }
    if recall["asked"]:
        out.update({f"recall@5_{k}": _mean(v) for k, v in recall.items()})
    return out


def _mean(values: list[bool] | list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0
