"""Every generation of the runner on one thread, in arrival order: the global generation queue.

llama.cpp's CPU backend runs its matrix work on an OpenMP thread team that belongs to the calling
thread. Calling the model from a new thread per HTTP request (what a threading HTTP server does)
makes a new team each time while the old ones spin-wait on the same cores: generation measured
about a third slower than bare llama-cpp-python here. So request threads only hand work to this
thread and read the pieces back from a queue; a request whose client went away is cancelled, and
its generation stops at the next token.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

_DONE = object()
_Job = tuple[Callable[[], Iterator[Any]], "queue.SimpleQueue[Any]", threading.Event]


class GenerationThread:
    """Runs ``job()`` iterators one at a time on a single thread; ``submit`` streams a job's items."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], Iterator[Any]], queue.SimpleQueue[Any], threading.Event]
        ]
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="generation", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return self._jobs.qsize()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the generation thread and return its result (for the self-test)."""
        return next(iter(self.submit(lambda: iter([fn()]))))

    def submit(self, job: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """The items of ``job()`` as it runs on the generation thread. Closing the returned iterator
        early cancels the job; an exception in the job is raised here."""
        out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        cancel = threading.Event()
        self._jobs.put((job, out, cancel))
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            cancel.set()

    def _run(self) -> None:
        while True:
            job, out, cancel = self._jobs.get()
            if cancel.is_set():  # the client left while waiting in the queue
                continue
            iterator: Iterator[Any] | None = None
            try:
                iterator = job()
                for item in iterator:
                    if cancel.is_set():
                        break
                    out.put(item)
            except Exception as exc:  # delivered to the request's thread
                out.put(_Failure(exc))
                continue
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()  # frees the model's lock and stops llama.cpp
            out.put(_DONE)


class _Failure:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc
