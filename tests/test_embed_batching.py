"""Query embeddings batched across concurrent requests: same vectors as one at a time, fewer
model calls, and the model's errors reach every caller."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest

from awsomechat.embed import build_embedder
from awsomechat.embed.batching import BatchingEmbedder
from awsomechat.seams import Embedder
from awsomechat.settings import EmbedderSettings

QUERIES = [f"how large can a lambda deployment package be, case {i}?" for i in range(16)]


def _inner(embedder: Embedder) -> Embedder:
    return embedder.inner if isinstance(embedder, BatchingEmbedder) else embedder


def test_concurrent_queries_share_model_calls_and_get_their_own_vectors(embedder: Embedder) -> None:
    model = _inner(embedder)
    alone = [np.asarray(model.embed_query(q)) for q in QUERIES]
    batching = BatchingEmbedder(model, wait_ms=20, max_batch=32)
    start = threading.Barrier(len(QUERIES))

    def ask(q: str) -> npt.NDArray[np.float32]:
        start.wait()
        return np.asarray(batching.embed_query(q))

    with ThreadPoolExecutor(len(QUERIES)) as pool:
        together = list(pool.map(ask, QUERIES))
    for a, b in zip(alone, together, strict=True):
        assert a.shape == (384,)
        np.testing.assert_allclose(a, b, atol=2e-5)
    assert batching.batcher.queries == len(QUERIES)
    assert batching.batcher.batches < len(QUERIES)
    # an idle caller is served alone, at once
    np.testing.assert_allclose(batching.embed_query(QUERIES[0]), alone[0], atol=2e-5)


class _Broken:
    name, dim, max_tokens = "broken", 3, 8

    def count_tokens(self, text: str) -> int:
        return 1

    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        raise RuntimeError("model unavailable")

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        raise RuntimeError("model unavailable")


def test_a_model_error_reaches_every_caller_and_the_batcher_goes_on() -> None:
    batching = BatchingEmbedder(_Broken(), wait_ms=5, max_batch=8)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batching.embed_query, q) for q in QUERIES[:4]]
        for f in futures:
            with pytest.raises(RuntimeError, match="model unavailable"):
                f.result()
    with pytest.raises(RuntimeError, match="model unavailable"):
        batching.embed_query("again")


def test_batching_is_on_by_default_and_off_with_zero_wait(embedder: Embedder) -> None:
    assert isinstance(embedder, BatchingEmbedder)  # the session embedder: build_embedder's default
    plain = build_embedder(EmbedderSettings(kind="minilm", query_batch_wait_ms=0))
    assert not isinstance(plain, BatchingEmbedder)
