"""Query embeddings batched across concurrent requests.

One short query costs the MiniLM model about as much as a few queries together (the per-call
overhead of tokenising, building tensors and running six layers dominates), and the model runs
one call at a time per process. So concurrent ``embed_query`` calls are queued to one thread that
embeds together whatever is waiting: every query that arrived while the previous batch ran, plus
any that arrive within ``wait_ms`` of the first (up to ``max_batch``). An idle server pays at most
``wait_ms`` per query; a busy one pays one embedder call per batch instead of per query.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np
import numpy.typing as npt

from awsomechat.seams import Embedder, Vector

EmbedMany = Callable[[Sequence[str]], npt.NDArray[np.float32]]


class QueryBatcher:
    """Runs ``embed_many`` on batches of concurrently submitted queries, on one daemon thread."""

    def __init__(self, embed_many: EmbedMany, *, wait_ms: float, max_batch: int) -> None:
        self._embed_many = embed_many
        self._wait_s = wait_ms / 1000.0
        self._max = max(1, max_batch)
        self._queue: queue.SimpleQueue[tuple[str, Future[npt.NDArray[np.float32]]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0  # for benchmarks: calls made, and queries served
        self.queries = 0

    def embed(self, text: str) -> npt.NDArray[np.float32]:
        future: Future[npt.NDArray[np.float32]] = Future()
        self._queue.put((text, future))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="query-batcher", daemon=True)
                    self._thread.start()
        return future.result()

    def _collect(self) -> list[tuple[str, Future[npt.NDArray[np.float32]]]]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self._wait_s
        while len(batch) < self._max:
            try:
                batch.append(self._queue.get_nowait())  # whatever queued while the last batch ran
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._collect()
            try:
                vectors = self._embed_many([text for text, _ in batch])
            except BaseException as exc:  # each caller sees the model's error as its own
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.batches += 1
            self.queries += len(batch)
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)


class BatchingEmbedder:
    """An :class:`Embedder` whose ``embed_query`` calls share model calls (see module doc).

    ``embed_queries(texts)`` on the wrapped embedder is used when it has one (one model call for
    the batch), else its ``embed_query`` per text.
    """

    def __init__(self, inner: Embedder, *, wait_ms: float, max_batch: int) -> None:
        self.inner = inner
        many: EmbedMany | None = getattr(inner, "embed_queries", None)
        if many is None:

            def many(texts: Sequence[str]) -> npt.NDArray[np.float32]:
                return np.vstack([np.asarray(inner.embed_query(t), dtype=np.float32) for t in texts])

        self.batcher = QueryBatcher(many, wait_ms=wait_ms, max_batch=max_batch)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> Vector:
        return self.batcher.embed(text)

    def embed_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        many: EmbedMany | None = getattr(self.inner, "embed_queries", None)
        if many is not None:
            return many(texts)
        return np.vstack([np.asarray(self.inner.embed_query(t), dtype=np.float32) for t in texts])
