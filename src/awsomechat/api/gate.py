"""A bounded queue in front of the model: at most N answers generate at once, M more may wait.

Past M waiting, a request is refused at once (503 + Retry-After) instead of hanging; a request
that waits longer than the timeout is refused the same way.
"""

from __future__ import annotations

import asyncio

from awsomechat.api.metrics import Metrics
from awsomechat.api.problems import ApiProblem


class GenerationGate:
    def __init__(self, concurrency: int, depth: int, timeout_s: float, retry_after_s: int, metrics: Metrics):
        self._sem = asyncio.Semaphore(concurrency)
        self._depth = depth
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._metrics = metrics
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    async def acquire(self) -> None:
        """Wait for a generation slot; raise a 503 problem when the queue is full or the wait too long.

        The caller must call :meth:`release` exactly once after a successful acquire (streaming
        responses release when the stream ends, however it ends).
        """
        if self._sem.locked() and self._waiting >= self._depth:
            self._metrics.rejected.labels("queue_full").inc()
            raise ApiProblem(
                503, f"the answer queue is full ({self._depth} waiting); try again shortly",
                retry_after=self._retry_after_s, code="queue-full",
            )  # fmt: skip
        self._waiting += 1
        self._metrics.queue_depth.inc()
        try:
            await asyncio.wait_for(self._sem.acquire(), timeout=self._timeout_s)
        except TimeoutError:
            self._metrics.rejected.labels("queue_timeout").inc()
            raise ApiProblem(
                503, f"no answer slot became free within {self._timeout_s:.0f} s; try again shortly",
                retry_after=self._retry_after_s, code="queue-timeout",
            ) from None  # fmt: skip
        finally:
            self._waiting -= 1
            self._metrics.queue_depth.dec()
        self._metrics.in_flight.inc()

    def release(self) -> None:
        self._metrics.in_flight.dec()
        self._sem.release()
