"""Plain data of conversations: sessions, turns, citations, feedback. Imports nothing of the project."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: ``[n]`` in the text points at this passage."""

    n: int
    chunk_id: str  # opaque (see SearchHit)
    document_id: str
    title: str
    uri: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    excerpt: str = ""
    # An address a reader can open (the document's public page), "" when it has none; ``uri`` is
    # where it was read from and may be a server path (see ``awsomechat.links``).
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "title": self.title,
            "uri": self.uri,
            "heading_path": list(self.heading_path),
            "page": self.page,
            "excerpt": self.excerpt,
            "url": self.url,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Citation:
        return cls(
            n=int(d["n"]),
            chunk_id=str(d["chunk_id"]),  # conversations stored before ids were strings hold ints
            document_id=str(d["document_id"]),
            title=str(d["title"]),
            uri=str(d["uri"]),
            heading_path=tuple(d.get("heading_path") or ()),
            page=d.get("page"),
            excerpt=str(d.get("excerpt") or ""),
            url=str(d.get("url") or ""),  # turns stored before links existed have none
        )


@dataclass(frozen=True)
class ChatSession:
    """One conversation of one user."""

    id: uuid.UUID
    user_id: str
    title: str
    profile: str
    created_at: dt.datetime
    updated_at: dt.datetime
    message_count: int = 0


@dataclass(frozen=True)
class NewTurn:
    """A finished question/answer exchange, ready to store."""

    question: str
    standalone_question: str
    answer: str
    abstained: bool = False
    citations: tuple[Citation, ...] = ()
    sources: tuple[Citation, ...] = ()
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn(NewTurn):
    """A stored exchange."""

    id: uuid.UUID = field(default_factory=uuid.uuid4)
    session_id: uuid.UUID = field(default_factory=uuid.uuid4)
    seq: int = 0
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    rating: int | None = None
    feedback_comment: str = ""


@dataclass(frozen=True)
class Feedback:
    """A user's rating of one answer (+1 or -1) with an optional comment."""

    message_id: uuid.UUID
    user_id: str
    rating: int
    comment: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class Message:
    """One chat-model message."""

    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class Usage:
    """Token counts, yielded once at the end of a model stream."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
