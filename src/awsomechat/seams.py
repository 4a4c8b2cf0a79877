"""The seams between layers: protocols that adapters implement and services depend on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from awsomechat.types import SearchHit

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
