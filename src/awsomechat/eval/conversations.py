"""Follow-up questions: which way of making them stand alone helps, and at what cost?

For every follow-up turn of a file, each strategy gives the text that would be searched:

- ``asked``: the follow-up as typed; ``human``: the dataset's manual rewrite (the ceiling);
- ``topic``: the conversation's subject put in, no model call (``chat/followup.py``);
- ``model``: the chat model's rewrite; ``topic+model``: topic for a pronoun, else the model.

The model strategies rewrite only turns the skip rule (``needs_context`` with the history) flags,
as the chat service does. Reported: token F1 against the manual rewrite (all follow-ups, and
where people rewrote), retrieval recall@5 when turns carry ``doc_ids`` (our multi-turn set), the
skip rule's precision and recall against "people rewrote it", and seconds per follow-up. Files
are also split in halves by conversation (even positions: ``dev``, odd: ``held_out``) so a
strategy tuned on one half is reported on the other.

History is built from the previous turns' manual rewrites with empty answers, so every follow-up
is judged on the same footing and no answer generation is needed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from awsomechat.chat.rewrite import Standalone, make_standalone, needs_context
from awsomechat.chat.types import Turn
from awsomechat.eval.answers import relevant, token_f1
from awsomechat.eval.metrics import mean
from awsomechat.seams import ChatModel, Retriever
from awsomechat.types import AccessScope, SearchRequest

STRATEGIES = ("asked", "topic", "model", "topic+model", "human")


@dataclass(frozen=True)
class ConvTurn:
    question: str
    rewrite: str
    doc_ids: tuple[str, ...]
    needs_context: bool


def _norm(text: str) -> str:
    return " ".join(text.split())


def load_conversations(path: Path) -> list[tuple[str, list[ConvTurn]]]:
    """Our multi-turn format or CAsT's (``utterance``/``rewrite``). A turn needs the conversation
    when the file says so, else when its rewrite differs beyond whitespace."""
    convs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        turns = []
        for t in rec["turns"]:
            q = t.get("question") or t["utterance"]
            rw = t.get("rewrite") or q
            needed = bool(t.get("needs_context", _norm(q) != _norm(rw)))
            turns.append(ConvTurn(q, rw, tuple(t.get("doc_ids") or ()), needed))
        convs.append((str(rec["id"]), turns))
    return convs


def _history(turns: list[ConvTurn]) -> list[Turn]:
    now = dt.datetime.now(dt.UTC)
    return [
        Turn(question=t.question, standalone_question=t.rewrite, answer="", seq=i, created_at=now,
             id=uuid.uuid4())
        for i, t in enumerate(turns, start=1)
    ]  # fmt: skip


@dataclass
class _Figures:
    f1: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STRATEGIES})
    f1_needed: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STRATEGIES})
    hit: dict[str, list[bool]] = field(default_factory=lambda: {s: [] for s in STRATEGIES})
    seconds: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STRATEGIES})
    decisions: list[tuple[bool, bool]] = field(default_factory=list)
    model_calls: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STRATEGIES})

    def summary(self) -> dict[str, Any]:
        tp = sum(p and h for p, h in self.decisions)
        fp = sum(p and not h for p, h in self.decisions)
        fn = sum(h and not p for p, h in self.decisions)
        n = len(self.decisions)
        out: dict[str, Any] = {"follow_ups": n, "needed": sum(h for _, h in self.decisions)}
        out["token_f1"] = {s: mean(v) for s, v in self.f1.items() if v}
        out["token_f1_where_needed"] = {s: mean(v) for s, v in self.f1_needed.items() if v}
        if any(self.hit.values()):
            out["recall@5"] = {s: mean(v) for s, v in self.hit.items() if v}
        out["seconds_per_turn"] = {s: mean(v) for s, v in self.seconds.items() if v}
        out["needs_context_precision"] = round(tp / (tp + fp), 4) if tp + fp else 0.0
        out["needs_context_recall"] = round(tp / (tp + fn), 4) if tp + fn else 0.0
        out["model_calls_per_turn"] = {
            s: round(c / n, 4) for s, c in self.model_calls.items() if self.f1[s] and n
        }
        return out


def _hit(retriever: Retriever, text: str, doc_ids: tuple[str, ...]) -> bool:
    hits = retriever.search(SearchRequest(text=text, k=5, access=AccessScope.public())).hits
    return any(relevant(h.uri, doc_ids) for h in hits)


def evaluate_conversations(
    path: Path,
    model: ChatModel | None,
    retriever: Retriever | None,
    *,
    limit: int | None = None,
    on_turn: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Figures for one file, overall and per half (``model`` None: the model strategies are left out)."""
    convs = load_conversations(path)[:limit]
    halves = {"all": _Figures(), "dev": _Figures(), "held_out": _Figures()}
    for index, (_, turns) in enumerate(convs):
        figures = (halves["all"], halves["dev" if index % 2 == 0 else "held_out"])
        for i, turn in enumerate(turns[1:], start=1):
            history = _history(turns[:i])
            texts, searches, seconds, calls = _strategies(model, history, turn)
            predicted = needs_context(turn.question, [t.standalone_question for t in history])
            for fig in figures:
                fig.decisions.append((predicted, turn.needs_context))
                for name, made in calls.items():
                    fig.model_calls[name] += made
                for name, text in texts.items():
                    fig.f1[name].append(token_f1(turn.rewrite, text))
                    fig.seconds[name].append(seconds.get(name, 0.0))
                    if turn.needs_context:
                        fig.f1_needed[name].append(fig.f1[name][-1])
            if retriever is not None and turn.doc_ids:
                hits = {name: _hit(retriever, text, turn.doc_ids) for name, text in searches.items()}
                for fig in figures:
                    for name, hit in hits.items():
                        fig.hit[name].append(hit)
            if on_turn:
                on_turn()
    out: dict[str, Any] = {"dataset": path.stem, **halves["all"].summary()}
    out["halves"] = {name: fig.summary() for name, fig in halves.items() if name != "all" and fig.decisions}
    return out


def _strategies(
    model: ChatModel | None, history: list[Turn], turn: ConvTurn
) -> tuple[dict[str, str], dict[str, str], dict[str, float], dict[str, int]]:
    """(text per strategy, search text per strategy, seconds, model calls) for one follow-up. The
    text is what the user would see as the standalone question (scored by token F1); the search
    text adds the previous question's terms (scored by recall@5)."""
    texts = {"asked": turn.question, "human": turn.rewrite}
    searches = dict(texts)
    seconds: dict[str, float] = {}
    calls: dict[str, int] = {}
    flagged = needs_context(turn.question, [t.standalone_question for t in history])
    methods = ("topic", "model", "topic+model") if model is not None else ("topic",)
    model_result: tuple[Standalone, float] | None = None
    for method in methods:
        if not flagged:
            texts[method] = searches[method] = turn.question
            continue
        t0 = time.perf_counter()
        result = (
            make_standalone(None, history, turn.question, "topic+model") if method == "topic+model" else None
        )
        if result is not None and result.method == "asked" and model_result is not None:
            # The model's rewrite is the same call as the "model" strategy's: reuse it (and its time).
            result, seconds[method] = model_result
            calls[method] = 1
        else:
            if result is None or result.method == "asked":
                result = make_standalone(model, history, turn.question, method)  # type: ignore[arg-type]
            seconds[method] = time.perf_counter() - t0
            if result.method == "model":
                calls[method] = 1
                model_result = (result, seconds[method])
        texts[method], searches[method] = result.text, result.search_text or result.text
    return texts, searches, seconds, calls
