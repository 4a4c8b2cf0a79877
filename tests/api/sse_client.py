"""A minimal Server-Sent Events reader for tests (what a browser's fetch reader does)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    name: str
    data: Any
    at: float  # monotonic arrival time


def events(response: httpx.Response) -> Iterator[Event]:
    name, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield Event(name, json.loads("\n".join(data)), time.monotonic())
            name, data = "message", []


def chat(client: httpx.Client, **body: Any) -> list[Event]:
    """POST /v1/chat (streaming) and collect every event."""
    with client.stream("POST", "/v1/chat", json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(events(response))
