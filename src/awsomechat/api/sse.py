"""Runs a blocking event iterator (the chat chain) on its own thread and streams it to asyncio.

When the consumer goes away (client disconnect cancels the response task), the thread is told
to stop: it closes the iterator, which stops the model between two tokens. ``on_finish`` runs
on the thread once the iterator is closed, so a generation slot is freed only when the model
has really stopped.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class ThreadedStream(Generic[T]):
    """``async for item in ThreadedStream(make_iter, on_finish)``; ``stop()`` ends it early."""

    def __init__(self, make_iter: Callable[[], Iterator[T]], on_finish: Callable[[], None]) -> None:
        self._make_iter = make_iter
        self._on_finish = on_finish
        self._stop = threading.Event()
        self.cancelled = False

    def stop(self) -> None:
        self._stop.set()

    @property
    def stop_event(self) -> threading.Event:
        """Set once the consumer has gone (or ``stop()``): work on the thread may give up."""
        return self._stop

    async def __aiter__(self) -> AsyncIterator[T]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone (server shutting down)
                self._stop.set()

        def work() -> None:
            iterator: Iterator[T] | None = None
            try:
                iterator = self._make_iter()
                for item in iterator:
                    if self._stop.is_set():
                        break
                    put(item)
            except BaseException as exc:
                put(_Raised(exc))
            finally:
                try:
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                finally:
                    self._on_finish()
                    put(_DONE)

        threading.Thread(target=work, name="chat-stream", daemon=True).start()
        finished = False
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    finished = True
                    return
                if isinstance(item, _Raised):
                    raise item.exc
                yield item
        finally:
            if not finished:
                self.cancelled = True
            self._stop.set()


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event (data is JSON on one line)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()
