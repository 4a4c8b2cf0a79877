"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``), encoding side.

Each message: total length, headers length, CRC32 of those 8 bytes, headers, payload, CRC32 of
everything before it; string headers are name-length, name, type 7, value-length, value. botocore
decodes exactly this (``botocore.eventstream``).
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any


def _headers(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        out += struct.pack("!B", len(n)) + n + b"\x07" + struct.pack("!H", len(v)) + v
    return out


def message(headers: dict[str, str], payload: bytes) -> bytes:
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event(event_type: str, payload: bytes | dict[str, Any], content_type: str = "application/json") -> bytes:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return message({":event-type": event_type, ":content-type": content_type, ":message-type": "event"}, data)


def exception(kind: str, text: str, key: str = "message") -> bytes:
    """An exception event; ``key`` is the error shape's message member (``Message`` in SageMaker's)."""
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return message(headers, json.dumps({key: text}).encode())
