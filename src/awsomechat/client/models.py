"""Typed results of the client: plain frozen dataclasses built from the API's JSON.

Ids of chunks and documents are strings (the API may send them as numbers or as opaque strings;
both become ``str``). Session and message ids are UUID strings. Each type keeps the JSON it was
built from in ``raw``, so a field the server adds later is not lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


def _id(value: Any) -> str:
    return "" if value is None else str(value)


def _opt_id(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _raw(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(data)


# ----------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filter:
    """One metadata condition. Conditions are ANDed with each other and with the caller's access:
    a filter can only narrow what a key may read, never widen it.

    ``field``: ``source``, ``uri``, ``title``, ``format``, ``created_at``, ``updated_at`` or an
    attribute (``attributes.<key>``). ``op``: eq, ne, in, gt, gte, lt, lte, exists.
    """

    field: str
    value: Any = None
    op: str = "eq"

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": self.value}


Filters = Mapping[str, Any] | Iterable[Filter | Mapping[str, Any]] | None
"""``{"attributes.team": "finance"}`` (a list or tuple value means ``in``), or a list of
:class:`Filter` or ``{"field", "op", "value"}`` dicts."""


def filters_json(filters: Filters) -> list[dict[str, Any]]:
    """The API's filter list from any of the accepted forms."""
    if not filters:
        return []
    if isinstance(filters, Mapping):
        out = []
        for key, value in filters.items():
            if isinstance(value, list | tuple | set | frozenset):
                out.append({"field": key, "op": "in", "value": list(value)})
            else:
                out.append({"field": key, "op": "eq", "value": value})
        return out
    result: list[dict[str, Any]] = []
    for f in filters:
        if isinstance(f, Filter):
            result.append(f.to_json())
        elif isinstance(f, Mapping):
            result.append({"op": "eq", **dict(f)})
        else:
            raise TypeError(f"a filter must be a Filter or a mapping, not {type(f).__name__}")
    return result


# ------------------------------------------------------------------------- query


@dataclass(frozen=True)
class Scores:
    """Why a passage ranks where it does: the fused (RRF) score and each retriever's score and rank."""

    fused: float
    dense: float | None = None
    bm25: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Scores:
        return cls(
            fused=float(d.get("fused", 0.0)), dense=d.get("dense"), bm25=d.get("bm25"),
            dense_rank=d.get("dense_rank"), bm25_rank=d.get("bm25_rank"),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "fused": self.fused, "dense": self.dense, "bm25": self.bm25,
            "dense_rank": self.dense_rank, "bm25_rank": self.bm25_rank,
        }  # fmt: skip


@dataclass(frozen=True)
class Highlight:
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """One ranked passage of ``query``: the whole ``text``, its best ``excerpt`` and where it is from."""

    rank: int
    chunk_id: str
    document_id: str
    title: str
    uri: str
    text: str
    excerpt: str
    scores: Scores
    source: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    highlights: tuple[Highlight, ...] = ()
    url: str = ""  # a link a reader can open (the public page, else the web UI's view)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Passage:
        return cls(
            rank=int(d.get("rank", 0)), chunk_id=_id(d.get("chunk_id")),
            document_id=_id(d.get("document_id")), title=d.get("title", ""), uri=d.get("uri", ""),
            text=d.get("text", ""),
            excerpt=d.get("excerpt", ""), scores=Scores.from_json(d.get("scores") or {}),
            source=d.get("source", ""), attributes=dict(d.get("attributes") or {}),
            heading_path=tuple(d.get("heading_path") or ()), page=d.get("page"),
            highlights=tuple(Highlight(int(h["start"]), int(h["end"])) for h in d.get("highlights") or ()),
            url=d.get("url", ""), raw=_raw(d),
        )  # fmt: skip

    @property
    def highlighted_excerpt(self) -> str:
        """The excerpt with the query's matches in ``**bold**`` (Markdown)."""
        out, last = [], 0
        for h in sorted(self.highlights, key=lambda h: h.start):
            if h.start < last:
                continue
            out += [self.excerpt[last : h.start], "**", self.excerpt[h.start : h.end], "**"]
            last = h.end
        out.append(self.excerpt[last:])
        return "".join(out)


class Passages(list[Passage]):
    """The passages of one ``query`` page (a list), with ``next_offset`` and the server's timings."""

    def __init__(
        self,
        passages: Iterable[Passage] = (),
        *,
        query: str = "",
        next_offset: int | None = None,
        timings_ms: dict[str, float] | None = None,
    ) -> None:
        super().__init__(passages)
        self.query = query
        self.next_offset = next_offset
        self.timings_ms = dict(timings_ms or {})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Passages:
        return cls(
            (Passage.from_json(r) for r in d.get("results") or ()),
            query=d.get("query", ""),
            next_offset=d.get("next_offset"),
            timings_ms=d.get("timings_ms"),
        )


# -------------------------------------------------------------------------- chat


@dataclass(frozen=True)
class Citation:
    """A numbered passage: ``[n]`` in an answer points at it."""

    n: int
    chunk_id: str
    document_id: str
    title: str
    uri: str
    excerpt: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    url: str = ""  # a link a reader can open (the public page, else the web UI's view)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Citation:
        return cls(
            n=int(d.get("n", 0)), chunk_id=_id(d.get("chunk_id")), document_id=_id(d.get("document_id")),
            title=d.get("title", ""), uri=d.get("uri", ""), excerpt=d.get("excerpt", ""),
            heading_path=tuple(d.get("heading_path") or ()), page=d.get("page"), url=d.get("url", ""),
        )  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """A finished, stored answer. ``abstained``: the documents do not cover the question, and
    ``sources`` are the closest passages rather than the ones the answer rests on."""

    answer: str
    abstained: bool
    citations: tuple[Citation, ...]
    sources: tuple[Citation, ...]
    question: str = ""
    standalone_question: str = ""
    session_id: str | None = None
    message_id: str | None = None
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.answer

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Answer:
        return cls(
            answer=d.get("answer", ""), abstained=bool(d.get("abstained", False)),
            citations=tuple(Citation.from_json(c) for c in d.get("citations") or ()),
            sources=tuple(Citation.from_json(c) for c in d.get("sources") or ()),
            question=d.get("question", ""), standalone_question=d.get("standalone_question", ""),
            session_id=_opt_id(d.get("session_id")), message_id=_opt_id(d.get("message_id")),
            model=d.get("model", ""), prompt_tokens=int(d.get("prompt_tokens") or 0),
            completion_tokens=int(d.get("completion_tokens") or 0), timings=dict(d.get("timings") or {}),
            raw=_raw(d),
        )  # fmt: skip


@dataclass(frozen=True)
class QuestionEvent:
    """The standalone question retrieval used (``rewritten``: a follow-up rewritten from the conversation)."""

    question: str
    rewritten: bool
    type: Literal["question"] = "question"


@dataclass(frozen=True)
class SourcesEvent:
    """The passages given to the model (the closest ones when ``abstained``)."""

    sources: tuple[Citation, ...]
    abstained: bool
    type: Literal["sources"] = "sources"


@dataclass(frozen=True)
class TokenEvent:
    """A piece of the answer's text, as the model writes it."""

    text: str
    type: Literal["token"] = "token"


@dataclass(frozen=True)
class FinalEvent:
    """The end of a successful stream: the whole stored answer."""

    answer: Answer
    type: Literal["final"] = "final"


@dataclass(frozen=True)
class ErrorEvent:
    """The stream failed after it started (nothing was stored)."""

    code: str
    message: str
    type: Literal["error"] = "error"


ChatEvent = QuestionEvent | SourcesEvent | TokenEvent | FinalEvent | ErrorEvent


def chat_event(name: str, d: Mapping[str, Any]) -> ChatEvent | None:
    """The typed event of one Server-Sent Event (None for an event this client does not know)."""
    if name == "question":
        return QuestionEvent(question=d.get("question", ""), rewritten=bool(d.get("rewritten", False)))
    if name == "sources":
        return SourcesEvent(
            sources=tuple(Citation.from_json(c) for c in d.get("sources") or ()),
            abstained=bool(d.get("abstained", False)),
        )
    if name == "token":
        return TokenEvent(text=d.get("text", ""))
    if name == "final":
        return FinalEvent(answer=Answer.from_json(d))
    if name == "error":
        return ErrorEvent(code=str(d.get("code", "")), message=str(d.get("message", "")))
    return None


# --------------------------------------------------------------------- documents


@dataclass(frozen=True)
class DocumentPassage:
    chunk_id: str
    position: int
    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True)
class Document:
    """A stored document (``passages`` is its passage count; ``passage_list`` the passages themselves,
    when asked for with ``get_document(id, passages=True)``)."""

    id: str
    source: str
    uri: str
    title: str
    format: str
    attributes: dict[str, Any]
    groups: tuple[str, ...]
    passages: int
    size_bytes: int
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    passage_list: tuple[DocumentPassage, ...] | None = None
    url: str = ""  # a link a reader can open (the public page, else the web UI's view)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Document:
        plist = d.get("passage_list")
        return cls(
            id=_id(d.get("id")), source=d.get("source", ""), uri=d.get("uri", ""), title=d.get("title", ""),
            format=d.get("format", ""), attributes=dict(d.get("attributes") or {}),
            groups=tuple(d.get("groups") or ()), passages=int(d.get("passages") or 0),
            size_bytes=int(d.get("size_bytes") or 0), created_at=_time(d.get("created_at")),
            updated_at=_time(d.get("updated_at")),
            passage_list=None if plist is None else tuple(
                DocumentPassage(
                    chunk_id=_id(p.get("chunk_id")), position=int(p.get("position") or 0),
                    text=p.get("text", ""), heading_path=tuple(p.get("heading_path") or ()),
                    page=p.get("page"),
                )
                for p in plist
            ),
            url=d.get("url", ""), raw=_raw(d),
        )  # fmt: skip

    @property
    def text(self) -> str:
        """The document's passages joined (only with ``passages=True``)."""
        return "\n\n".join(p.text for p in self.passage_list or ())


@dataclass(frozen=True)
class JobFile:
    name: str
    status: str  # queued, added, updated, unchanged or failed
    detail: str = ""
    size_bytes: int = 0
    document_id: str | None = None


@dataclass(frozen=True)
class Job:
    """A background ingestion job (``status``: queued, running, succeeded, failed or partial)."""

    id: str
    status: str
    total: int
    done: int
    files: tuple[JobFile, ...]
    error: str = ""
    collection: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FINAL = frozenset({"succeeded", "failed", "partial"})

    @property
    def finished(self) -> bool:
        return self.status in self.FINAL

    @property
    def failed_files(self) -> tuple[JobFile, ...]:
        return tuple(f for f in self.files if f.status == "failed")

    @property
    def document_ids(self) -> tuple[str, ...]:
        return tuple(f.document_id for f in self.files if f.document_id is not None)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Job:
        return cls(
            id=_id(d.get("id")), status=d.get("status", ""), total=int(d.get("total") or 0),
            done=int(d.get("done") or 0),
            files=tuple(
                JobFile(
                    name=f.get("name", ""), status=f.get("status", ""), detail=f.get("detail", ""),
                    size_bytes=int(f.get("size_bytes") or 0), document_id=_opt_id(f.get("document_id")),
                )
                for f in d.get("files") or ()
            ),
            error=d.get("error", ""), collection=d.get("collection", ""),
            attributes=dict(d.get("attributes") or {}), groups=tuple(d.get("groups") or ()),
            created_at=_time(d.get("created_at")), finished_at=_time(d.get("finished_at")), raw=_raw(d),
        )  # fmt: skip


# ---------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    id: str
    title: str
    profile: str
    message_count: int
    created_at: dt.datetime | None
    updated_at: dt.datetime | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Session:
        return cls(
            id=_id(d.get("id")), title=d.get("title", ""), profile=d.get("profile", ""),
            message_count=int(d.get("message_count") or 0), created_at=_time(d.get("created_at")),
            updated_at=_time(d.get("updated_at")),
        )  # fmt: skip


@dataclass(frozen=True)
class Message:
    """One question/answer turn of a session, with its feedback."""

    id: str
    session_id: str
    seq: int
    question: str
    standalone_question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...]
    sources: tuple[Citation, ...]
    rating: int | None
    feedback_comment: str
    created_at: dt.datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Message:
        return cls(
            id=_id(d.get("id")), session_id=_id(d.get("session_id")), seq=int(d.get("seq") or 0),
            question=d.get("question", ""), standalone_question=d.get("standalone_question", ""),
            answer=d.get("answer", ""), abstained=bool(d.get("abstained", False)),
            citations=tuple(Citation.from_json(c) for c in d.get("citations") or ()),
            sources=tuple(Citation.from_json(c) for c in d.get("sources") or ()),
            rating=d.get("rating"), feedback_comment=d.get("feedback_comment", ""),
            created_at=_time(d.get("created_at")), raw=_raw(d),
        )  # fmt: skip


@dataclass(frozen=True)
class Feedback:
    message_id: str
    rating: int
    comment: str
    updated_at: dt.datetime | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Feedback:
        return cls(
            message_id=_id(d.get("message_id")), rating=int(d.get("rating") or 0),
            comment=d.get("comment", ""), updated_at=_time(d.get("updated_at")),
        )  # fmt: skip


@dataclass(frozen=True)
class Me:
    """The caller as the server sees it."""

    user_id: str
    groups: tuple[str, ...]
    admin: bool
    local_mode: bool = False

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Me:
        return cls(
            user_id=d.get("user_id", ""),
            groups=tuple(d.get("groups") or ()),
            admin=bool(d.get("admin")),
            local_mode=bool(d.get("local_mode")),
        )
