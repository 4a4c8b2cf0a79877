"""A bounded queue in front of the model: at most N answers generate at once, M more may wait.

Past M waiting, a request is refused at once (503 + Retry-After) instead of hanging; a request
that waits longer than the timeout is refused the same way.

The slot is taken on the thread that runs the answer chain, at the moment the chain is about to
call the model (a follow-up rewrite, or the answer itself), not when the request arrives: a
question the documents do not cover is answered without the model and never waits here. So the
gate is thread-safe and blocking; waiters are served first come, first served.
"""

from __future__ import annotations

import collections
import threading
import time

from awsomechat.api.metrics import Metrics
from awsomechat.api.problems import ApiProblem

_POLL_S = 0.25  # how often a waiter looks at its cancel flag


class GenerationGate:
    def __init__(self, concurrency: int, depth: int, timeout_s: float, retry_after_s: int, metrics: Metrics):
        self._lock = threading.Lock()
        self._free = concurrency
        self._queue: collections.deque[threading.Event] = collections.deque()
        self._depth = depth
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._metrics = metrics

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def acquire(self, cancelled: threading.Event | None = None) -> None:
        """Block until a generation slot is free; raise a 503 problem when the queue is full or the
        wait too long (or when ``cancelled`` is set meanwhile: the caller has gone).

        Never call it on the event loop. The caller must call :meth:`release` exactly once after a
        successful acquire.
        """
        with self._lock:
            if self._free > 0 and not self._queue:
                self._free -= 1
                self._metrics.in_flight.inc()
                return
            if len(self._queue) >= self._depth:
                self._metrics.rejected.labels("queue_full").inc()
                raise ApiProblem(
                    503, f"the answer queue is full ({self._depth} waiting); try again shortly",
                    retry_after=self._retry_after_s, code="queue-full",
                )  # fmt: skip
            turn = threading.Event()
            self._queue.append(turn)
            self._metrics.queue_depth.inc()
        deadline = time.monotonic() + self._timeout_s
        granted = False
        try:
            while not granted:
                remaining = deadline - time.monotonic()
                granted = turn.wait(max(0.0, min(_POLL_S, remaining)))
                if not granted and (remaining <= 0 or (cancelled is not None and cancelled.is_set())):
                    break
        finally:
            with self._lock:
                granted = granted or turn.is_set()  # handed over at the last moment: it is ours
                if not granted:
                    self._queue.remove(turn)
                self._metrics.queue_depth.dec()
        if granted:
            self._metrics.in_flight.inc()
            return
        if cancelled is not None and cancelled.is_set():
            raise ApiProblem(503, "the request went away while waiting for an answer slot", code="cancelled")
        self._metrics.rejected.labels("queue_timeout").inc()
        raise ApiProblem(
            503, f"no answer slot became free within {self._timeout_s:.0f} s; try again shortly",
            retry_after=self._retry_after_s, code="queue-timeout",
        )  # fmt: skip

    def release(self) -> None:
        """Free a slot: handed straight to the longest waiter, if any."""
        with self._lock:
            self._metrics.in_flight.dec()
            if self._queue:
                self._queue.popleft().set()
            else:
                self._free += 1
