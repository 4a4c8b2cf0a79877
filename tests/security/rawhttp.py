"""Raw HTTP/1.1 over a socket, for what ordinary clients cannot do: send a body while watching for
an early response, stall half-way through headers, and watch what the server holds meanwhile."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

BOUNDARY = "awsomechatSecurityBoundary"


def connect(url: str, timeout: float = 10) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout)
    # A small send buffer, so that "bytes sent" is close to "bytes the server accepted".
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return sock


def request_head(
    url: str, method: str, path: str, headers: dict[str, str] | None = None, *, chunked: bool = False
) -> bytes:
    host = urlsplit(url).netloc
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def multipart_file_head(name: str, content_type: str = "text/markdown", field: str = "files") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


def multipart_headers(token: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def filler(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes of Markdown-looking text, in pieces."""
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
    block = (line * (piece // len(line) + 1))[:piece]
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        yield block[:n]
        sent += n


def chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Transfer-Encoding: chunked framing (without the final zero-length chunk)."""
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"


def open_temp_bytes(pid: int, tmpdir: Path) -> int:
    """Bytes in regular files under ``tmpdir`` that process ``pid`` holds open (deleted ones too:
    a spooled upload is unlinked as soon as it is created)."""
    total = 0
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(fd)
            if target.startswith(str(tmpdir)):
                total += os.stat(fd).st_size
        except OSError:
            continue
    return total


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Exchange:
    """What happened while a body was being sent."""

    status: int | None = None
    head: bytes = b""
    body: bytes = b""
    sent: int = 0  # body bytes accepted by the socket before the response arrived
    seconds: float = 0.0  # until the response's status line arrived (or the give-up time)
    peak_temp_bytes: int = 0
    peak_rss_growth: int = 0
    send_error: str = ""
    notes: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return ""


def send_watching(
    sock: socket.socket,
    head: bytes,
    body: Iterator[bytes],
    *,
    give_up_s: float = 90,
    pid: int | None = None,
    tmpdir: Path | None = None,
) -> Exchange:
    """Send ``head`` then ``body`` as fast as the server takes it, stopping as soon as a response
    arrives; measure the server's open temp files and RSS meanwhile."""
    ex = Exchange()
    rss0 = rss_bytes(pid) if pid else 0
    t0 = time.monotonic()
    sock.sendall(head)
    sock.setblocking(False)
    pending = b""
    received = b""
    body_done = False
    last_probe = 0.0
    try:
        while time.monotonic() - t0 < give_up_s:
            if not pending and not body_done and not ex.send_error:
                pending = next(body, b"")
                body_done = not pending
            want_write = [sock] if pending and not ex.send_error and ex.status is None else []
            readable, writable, _ = select.select([sock], want_write, [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except (ConnectionResetError, BlockingIOError) as exc:
                    ex.notes.append(f"recv: {exc!r}")
                    data = b""
                if not data:
                    break
                received += data
                if ex.status is None and b"\r\n" in received:
                    ex.status = int(received.split(b" ", 2)[1])
                    ex.seconds = time.monotonic() - t0
                if b"\r\n\r\n" in received:
                    ex.head, _, rest = received.partition(b"\r\n\r\n")
                    length = ex.header("content-length")
                    if length.isdigit() and len(rest) >= int(length):
                        ex.body = rest[: int(length)]
                        break
            if writable:
                try:
                    n = sock.send(pending)
                    ex.sent += n
                    pending = pending[n:]
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError) as exc:
                    ex.send_error = repr(exc)
            now = time.monotonic()
            if pid and now - last_probe > 0.2:
                last_probe = now
                if tmpdir is not None:
                    ex.peak_temp_bytes = max(ex.peak_temp_bytes, open_temp_bytes(pid, tmpdir))
                ex.peak_rss_growth = max(ex.peak_rss_growth, rss_bytes(pid) - rss0)
    finally:
        sock.setblocking(True)
    if ex.status is None:
        ex.seconds = time.monotonic() - t0
    if ex.head and not ex.body:
        ex.body = received.partition(b"\r\n\r\n")[2]
    return ex
