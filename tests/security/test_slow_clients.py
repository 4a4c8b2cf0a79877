"""Slow or stalled clients (issue 11) against a real server: connections that send partial headers
(or drip them a byte at a time, or stall half-way through a body) are closed within the bound,
connections past the cap are refused, and the server goes on answering everyone else."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS
from tests.live import LiveServer, live_server
from tests.security.rawhttp import connect

pytestmark = pytest.mark.security

HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 3
MAX_CONNECTIONS = 60
SLACK_S = 3  # timer granularity and a busy 2-core machine

ENV = {
    "AWSOMECHAT_API__HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "AWSOMECHAT_API__BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    "AWSOMECHAT_API__MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "AWSOMECHAT_API__KEEP_ALIVE_S": "2",
}


@pytest.fixture(scope="module")
def guarded(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=ENV) as s:
        yield s


def _closed_within(socks: list[socket.socket], seconds: float, drip: bool = False) -> tuple[int, bytes]:
    """Wait up to ``seconds`` for the server to close each socket (EOF or reset); with ``drip``,
    send one more header byte to each open socket every half second meanwhile. Returns how many
    were closed and the first bytes any of them received."""
    open_ = {s.fileno(): s for s in socks}
    seen = b""
    deadline = time.monotonic() + seconds
    next_drip = time.monotonic() + 0.5
    while open_ and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_.values()), [], [], 0.2)
        for s in readable:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                seen = seen or data
                continue  # a response (408); EOF follows
            open_.pop(s.fileno(), None)
        if drip and time.monotonic() >= next_drip:
            next_drip += 0.5
            for fd, s in list(open_.items()):
                try:
                    s.send(b"a")
                except OSError:
                    open_.pop(fd, None)
    return len(socks) - len(open_), seen


def test_partial_headers_are_closed_within_the_header_timeout(guarded: LiveServer) -> None:
    socks = [connect(guarded.url) for _ in range(40)]
    try:
        for s in socks:
            s.sendall(b"GET /v1/info HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        t0 = time.monotonic()
        closed, seen = _closed_within(socks, HEADER_TIMEOUT_S + SLACK_S)
        elapsed = time.monotonic() - t0
    finally:
        for s in socks:
            s.close()
    assert closed == len(socks), f"{len(socks) - closed} of {len(socks)} still open after {elapsed:.1f} s"
    assert seen.startswith(b"HTTP/1.1 408"), seen[:200]


def test_headers_dripped_a_byte_at_a_time_are_closed_too(guarded: LiveServer) -> None:
    socks = [connect(guarded.url) for _ in range(10)]
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ")
        closed, _ = _closed_within(socks, HEADER_TIMEOUT_S + SLACK_S, drip=True)
    finally:
        for s in socks:
            s.close()
    assert closed == len(socks), "a client that keeps sending header bytes kept its connection"


def test_an_idle_connection_that_never_sends_is_closed(guarded: LiveServer) -> None:
    socks = [connect(guarded.url) for _ in range(10)]
    try:
        closed, _ = _closed_within(socks, HEADER_TIMEOUT_S + SLACK_S)
    finally:
        for s in socks:
            s.close()
    assert closed == len(socks)


def test_a_stalled_body_is_closed_within_the_body_timeout(guarded: LiveServer) -> None:
    s = connect(guarded.url)
    try:
        s.sendall(
            b"POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"query": "'
        )
        closed, _ = _closed_within([s], BODY_TIMEOUT_S + SLACK_S)
    finally:
        s.close()
    assert closed == 1, "a request whose body stopped arriving kept its connection"


def test_connections_past_the_cap_are_refused_and_others_are_served_after(guarded: LiveServer) -> None:
    socks: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS + 20):
            socks.append(connect(guarded.url))
        time.sleep(0.5)
        # Those past the cap are closed at once, well before the header timeout.
        closed, _ = _closed_within(socks, HEADER_TIMEOUT_S / 2)
        assert closed >= 20, f"only {closed} connections past the cap of {MAX_CONNECTIONS} were closed"
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + HEADER_TIMEOUT_S + SLACK_S
    while True:  # the slots free up once the stalled connections are gone
        try:
            r = httpx.get(f"{guarded.url}/healthz", timeout=5)
            if r.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not recover after the flood"
        time.sleep(0.2)


def test_keep_alive_requests_still_work(guarded: LiveServer) -> None:
    with httpx.Client(base_url=guarded.url, timeout=10) as c:
        for _ in range(3):
            assert c.get("/healthz").status_code == 200
            time.sleep(0.5)
