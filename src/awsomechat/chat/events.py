"""The typed events a chat turn streams; the API serialises them (SSE), the CLI renders them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from awsomechat.chat.types import Citation
from awsomechat.chat.verify import SentenceCheck


@dataclass(frozen=True)
class StandaloneQuestionEvent:
    """The question retrieval used: the follow-up rewritten with the conversation, or as asked."""

    question: str
    rewritten: bool


@dataclass(frozen=True)
class SourcesEvent:
    """The numbered passages given to the model (or, when abstaining, the closest ones found)."""

    sources: tuple[Citation, ...]
    abstained: bool


@dataclass(frozen=True)
class TokenEvent:
    """A piece of the answer text."""

    text: str


@dataclass(frozen=True)
class FinalEvent:
    """The finished turn (stored unless the request said not to): the whole answer, the citations
    it really uses, token counts and timings. ``verification``: the verdict on each sentence the
    model wrote (``chat.verify``), kept, marked or dropped; empty when verification is off."""

    message_id: uuid.UUID | None  # None when the request asked not to store the turn
    session_id: uuid.UUID | None
    answer: str
    citations: tuple[Citation, ...]
    abstained: bool
    model: str
    prompt_tokens: int
    completion_tokens: int
    timings: dict[str, float] = field(default_factory=dict)
    verification: tuple[SentenceCheck, ...] = ()


@dataclass(frozen=True)
class ErrorEvent:
    """The turn failed; nothing was stored. ``code`` is stable, ``message`` is for people."""

    code: str
    message: str


ChatEvent = StandaloneQuestionEvent | SourcesEvent | TokenEvent | FinalEvent | ErrorEvent
