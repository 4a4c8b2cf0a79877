"""uvicorn's h11 protocol with read deadlines and a connection cap, against slow or stalled clients.

uvicorn arms its keep-alive timer only after a response, and h11 has no header timeout, so a
client that opens a connection and sends half a request line (or one header byte a second) keeps
it forever; a few hundred such clients exhaust the process. This protocol adds what a reverse
proxy would (nginx ``client_header_timeout``, ``client_body_timeout``, ``limit_conn``):

- **header deadline** (``api.header_timeout_s``): from the moment the connection waits for a
  request (opened, or the previous response sent) its whole head must arrive in time, however it
  trickles in; otherwise 408 (when part of a request came) and the connection is closed;
- **body pause** (``api.body_timeout_s``): while a request body is being received, a pause longer
  than this closes the connection, except while the application itself is not reading (uvicorn
  then stops reading: the client is not at fault);
- **unread bodies**: a response sent before its request body was read (a 401 before an upload)
  lets the client go on sending for at most ``LINGER_BYTES`` (so it can still read the answer),
  then the connection is closed instead of the rest being read and thrown away;
- **connection cap** (``api.max_connections``): connections past it are closed at once (uvicorn's
  ``limit_concurrency``, set to the same number, answers 503 to requests near the cap).

``awsomechat serve`` selects it with uvicorn's ``http`` option. It reads the same settings as the
app (environment and config file), once per process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from awsomechat.settings import load_settings

log = logging.getLogger(__name__)

LINGER_BYTES = 1024 * 1024
_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_WARN_EVERY_S = 10.0


@dataclass(frozen=True)
class ClientLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int


@functools.lru_cache(maxsize=1)
def client_limits() -> ClientLimits:
    api = load_settings().api
    return ClientLimits(api.header_timeout_s, api.body_timeout_s, api.max_connections)


class GuardedH11Protocol(H11Protocol):
    """``H11Protocol`` plus the header deadline, body pause limit and connection cap above."""

    _last_cap_warning = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = client_limits()
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._last_body_data = 0.0
        self._discarded = 0

    # ------------------------------------------------------------------ protocol events
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            now = time.monotonic()
            if now - GuardedH11Protocol._last_cap_warning > _WARN_EVERY_S:
                GuardedH11Protocol._last_cap_warning = now
                log.warning(
                    "connection refused: %d open, over api.max_connections", len(self.connections) - 1
                )
            transport.close()
            return
        self._watch()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.SEND_BODY:
            self._last_body_data = time.monotonic()
            if self.cycle is not None and self.cycle.response_complete:
                # Answered already (before reading the body): the rest would only be thrown away.
                self._discarded += len(data)
                if self._discarded > LINGER_BYTES:
                    self._close("an unread request body went on after its response")
                    return
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    # ------------------------------------------------------------------------ timers
    def _watch(self) -> None:
        """Arm or cancel the timers for what the connection waits for now."""
        if self.transport is None or self.transport.is_closing():
            self._cancel_header_timer()
            self._cancel_body_timer()
            return
        state = self.conn.their_state
        if state is h11.IDLE:  # waiting for (the rest of) a request head
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self._limits.header_timeout_s, self._header_late)
        else:
            self._cancel_header_timer()
        if state is h11.SEND_BODY:
            if self._body_timer is None:
                self._last_body_data = time.monotonic()
                self._discarded = 0
                self._body_timer = self.loop.call_later(self._limits.body_timeout_s, self._body_check)
        else:
            self._cancel_body_timer()

    def _header_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        pending, _ = self.conn.trailing_data
        if pending:  # part of a request arrived: say why it is dropped
            self.transport.write(_TIMEOUT_408)
        self._close("request head not complete within api.header_timeout_s" if pending else "")

    def _body_check(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        timeout = self._limits.body_timeout_s
        if self.flow.read_paused:  # the application is not reading: waiting is not the client's fault
            self._last_body_data = time.monotonic()
        idle = time.monotonic() - self._last_body_data
        if idle >= timeout:
            self._close("request body paused longer than api.body_timeout_s")
            return
        self._body_timer = self.loop.call_later(timeout - idle, self._body_check)

    def _close(self, why: str) -> None:
        if why:
            prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
            log.info("%sclosing the connection: %s", prefix, why)
        self._cancel_header_timer()
        self._cancel_body_timer()
        if not self.transport.is_closing():
            self.transport.close()

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
