"""The seams between layers: protocols that adapters implement and services depend on."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from awsomechat.chat.types import ChatSession, Feedback, Message, NewTurn, Turn, Usage
from awsomechat.types import AccessScope, RelevanceVerdict, SearchHit, SearchRequest, SearchResponse

Vector = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns passages and queries into unit-length vectors of one fixed dimension."""

    @property
    def name(self) -> str:
        """Model identity recorded in the store; a different name means re-index."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Longest input the model reads; passages are chunked to fit."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` (special tokens included)."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One row per text, L2-normalised."""
        ...

    def embed_query(self, text: str) -> Vector:
        """The query vector, L2-normalised (models with query prefixes add them here)."""
        ...


@runtime_checkable
class Reranker(Protocol):
    """Re-orders fused candidates with a stronger (slower) relevance model."""

    @property
    def name(self) -> str: ...

    def rerank(self, query: str, hits: Sequence[SearchHit]) -> list[SearchHit]:
        """Return ``hits`` re-ordered, each with ``scores.rerank`` set."""
        ...


@runtime_checkable
class ConversationStore(Protocol):
    """Sessions, turns and feedback, always scoped to one user (PostgreSQL or DynamoDB).

    Another user's ids behave exactly like ids that do not exist (``NotFoundError``).
    """

    def create_session(self, user_id: str, *, title: str = "", profile: str = "chat") -> ChatSession: ...

    def get_session(self, user_id: str, session_id: uuid.UUID) -> ChatSession: ...

    def list_sessions(self, user_id: str, *, limit: int = 50, offset: int = 0) -> list[ChatSession]: ...

    def rename_session(self, user_id: str, session_id: uuid.UUID, title: str) -> ChatSession: ...

    def delete_session(self, user_id: str, session_id: uuid.UUID) -> None: ...

    def turns(self, user_id: str, session_id: uuid.UUID, *, last: int | None = None) -> list[Turn]: ...

    def append_turn(self, user_id: str, session_id: uuid.UUID, turn: NewTurn) -> Turn: ...

    def message(self, user_id: str, message_id: uuid.UUID) -> Turn: ...

    def set_feedback(
        self, user_id: str, message_id: uuid.UUID, rating: int, comment: str = ""
    ) -> Feedback: ...


@runtime_checkable
class ChatModel(Protocol):
    """A chat model that streams text. Closing the iterator early stops generation."""

    @property
    def name(self) -> str: ...

    @property
    def context_window(self) -> int:
        """Tokens the model can attend to (prompt + answer)."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Usage]:
        """Yield text deltas, then one ``Usage``. Raises ``ModelError`` on backend failure."""
        ...


@runtime_checkable
class ModelHealth(Protocol):
    """A chat model whose availability can be asked before an answer (a model runner, a server)."""

    def status(self) -> dict[str, Any]:
        """State for ``/readyz``: at least ``state`` and ``ready``."""
        ...

    def check_available(self) -> None:
        """Raise ``ModelUnavailableError`` when an answer could not be generated now."""
        ...


class Retriever(Protocol):
    """Ranked passages for a request, under the caller's access scope and filters (ours: hybrid
    search in PostgreSQL; Kendra behind the same seam)."""

    def search(self, request: SearchRequest) -> SearchResponse: ...


class RelevanceJudge(Protocol):
    """A retriever's answerability signal: whether its hits can answer the question at all (the
    system abstains before any model call when not), calibrated per backend."""

    def judge(self, question: str, hits: Sequence[SearchHit], scope: AccessScope) -> RelevanceVerdict: ...

    def relevance_scorer(self, question: str, scope: AccessScope) -> Callable[[str], float]:
        """Scores a sentence by how much of the question it holds (to trim passages)."""
        ...

    def term_set(self, text: str) -> set[str]:
        """Content terms of ``text`` (for attributing uncited sentences)."""
        ...
