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


# ------------------------------------------------------------------ API paths side by side

PATHS = ("native", "openai")


@dataclass
class _PathFigures:
    """One path's follow-ups: retrieval hit in the passages used, answered or abstained."""

    hit: list[bool] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)
    rewritten: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    first_answered: list[bool] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "follow_ups": len(self.answered),
            "recall@5": mean(self.hit),
            "answered": mean(self.answered),
            "abstained": round(1 - mean(self.answered), 4) if self.answered else 0.0,
            "rewritten": mean(self.rewritten),
            "first_turn_answered": mean(self.first_answered),
            "seconds_per_turn": mean(self.seconds),
        }


@dataclass(frozen=True)
class PathTurn:
    """What one path did with one turn, as its client saw it."""

    standalone: str
    sources: tuple[str, ...]  # URIs of the passages used (the closest ones when abstained)
    abstained: bool
    rewritten: bool
    content: str


def _native_turn(client: Any, question: str, session_id: str | None) -> tuple[PathTurn, str]:
    r = client.post("/v1/chat", json={"message": question, "session_id": session_id, "stream": False})
    r.raise_for_status()
    body = r.json()
    turn = PathTurn(
        standalone=body["standalone_question"], sources=tuple(s["uri"] for s in body["sources"]),
        abstained=bool(body["abstained"]), rewritten=body["standalone_question"] != question,
        content=body["answer"],
    )  # fmt: skip
    return turn, str(body["session_id"])


def _openai_turn(client: Any, messages: list[dict[str, str]]) -> PathTurn:
    r = client.post("/v1/chat/completions", json={"model": "awsomechat", "messages": messages})
    r.raise_for_status()
    body = r.json()
    ext = body["awsomechat"]
    return PathTurn(
        standalone=ext["standalone_question"] or "", sources=tuple(s["uri"] for s in ext["sources"]),
        abstained=bool(ext["abstained"]), rewritten=bool(ext["rewritten"]),
        content=body["choices"][0]["message"]["content"] or "",
    )  # fmt: skip


def evaluate_paths(
    path: Path,
    client: Any,
    *,
    paths: tuple[str, ...] = PATHS,
    limit: int | None = None,
    on_turn: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The same conversations through each API path, with ``client`` (an HTTP client of the app
    holding a user's key): ``native`` continues a session with ``POST /v1/chat``, ``openai`` sends
    the growing ``messages`` (each answer's content as the assistant message, as an OpenAI client
    does) to ``POST /v1/chat/completions``. Per follow-up: recall@5 of the passages the answer
    used (any of them from a relevant page), answered or abstained, and whether both paths
    searched the same standalone question and used the same passages. Sessions the run created
    are deleted."""
    convs = load_conversations(path)[:limit]
    figures = {p: _PathFigures() for p in paths}
    same_question: list[bool] = []
    same_outcome: list[bool] = []
    same_sources: list[bool] = []
    differing: list[dict[str, Any]] = []
    sessions: list[str] = []
    try:
        for conv_id, turns in convs:
            session_id: str | None = None
            messages: list[dict[str, str]] = []
            for i, turn in enumerate(turns):
                done: dict[str, PathTurn] = {}
                for name in paths:
                    t0 = time.perf_counter()
                    if name == "native":
                        done[name], session_id = _native_turn(client, turn.question, session_id)
                        if i == 0:
                            sessions.append(session_id)
                    else:
                        messages.append({"role": "user", "content": turn.question})
                        done[name] = _openai_turn(client, messages)
                        messages.append({"role": "assistant", "content": done[name].content})
                    fig = figures[name]
                    if i == 0:
                        fig.first_answered.append(not done[name].abstained)
                        continue
                    fig.seconds.append(time.perf_counter() - t0)
                    fig.answered.append(not done[name].abstained)
                    fig.rewritten.append(done[name].rewritten)
                    if turn.doc_ids:
                        fig.hit.append(any(relevant(u, turn.doc_ids) for u in done[name].sources[:5]))
                if i and len(done) > 1:
                    outs = list(done.values())
                    same_question.append(len({_norm(o.standalone) for o in outs}) == 1)
                    same_outcome.append(len({o.abstained for o in outs}) == 1)
                    same_sources.append(len({o.sources for o in outs}) == 1)
                    if not (same_question[-1] and same_outcome[-1] and same_sources[-1]):
                        differing.append(
                            {"id": conv_id, "turn": i + 1, "question": turn.question}
                            | {
                                n: {"standalone": o.standalone, "abstained": o.abstained}
                                for n, o in done.items()
                            }
                        )
                if on_turn:
                    on_turn()
    finally:
        for sid in sessions:
            client.delete(f"/v1/sessions/{sid}")
    out: dict[str, Any] = {"dataset": path.stem, "conversations": len(convs)}
    out["paths"] = {name: fig.summary() for name, fig in figures.items()}
    if len(paths) > 1:
        out["same_standalone_question"] = mean(same_question)
        out["same_answered_or_abstained"] = mean(same_outcome)
        out["same_sources"] = mean(same_sources)
        out["differing"] = differing
    return out
