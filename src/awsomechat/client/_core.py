"""What the sync and async clients share: request specs, retries, error mapping, SSE parsing.

Each API call is described once as a :class:`Call` (method, path, body, and how to read the
answer); the two clients only differ in how they send it.
"""

from __future__ import annotations

import email.utils
import json
import mimetypes
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from awsomechat.client.errors import ApiError, api_error
from awsomechat.client.models import (
    Answer,
    ChatEvent,
    Document,
    Feedback,
    Filters,
    Job,
    Me,
    Message,
    Passages,
    Session,
    chat_event,
    filters_json,
)

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, read=300.0)
"""Connect, write and pool: 30 s. Read: 300 s, since an answer on a CPU can take minutes in a queue."""

Upload = str | Path | tuple[str, bytes] | tuple[str, bytes, str]
"""A file to upload: a path, or ``(name, data)`` / ``(name, data, content_type)``."""


@dataclass(frozen=True)
class Retry:
    """Retries of requests the server refused before doing anything (429, 503) and of connections
    that never reached it. ``Retry-After`` is honoured; otherwise the wait doubles from
    ``backoff_s`` with jitter. A wait longer than ``max_wait_s`` is not waited for: the error is
    raised at once."""

    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_wait_s: float = 60.0
    statuses: frozenset[int] = frozenset({429, 503})

    def wait_for(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if response is not None:
            after = retry_after(response)
            if after is not None:
                return after
        base: float = min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)


NO_RETRY = Retry(attempts=1)


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = email.utils.parsedate_to_datetime(value) if value else None
    if when is None:
        return None
    return max(0.0, float(when.timestamp() - time.time()))


@dataclass
class Call(Generic[T]):
    """One API call: what to send and how to read a successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def request_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"headers": self.headers}
        if self.json is not None:
            kw["json"] = self.json
        if self.params:
            kw["params"] = {k: v for k, v in self.params.items() if v is not None}
        if self.files is not None:
            kw["files"] = self.files
            kw["data"] = self.data or {}
        return kw


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The problem document of an error response (a minimal one if the body is not JSON)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        problem: dict[str, Any] = body
    else:
        problem = {
            "title": response.reason_phrase,
            "status": response.status_code,
            "detail": response.text[:500],
        }
    if "retry_after" not in problem:
        after = retry_after(response)
        if after is not None:
            problem["retry_after"] = after
    return problem


def raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise error_of(response)


def error_of(response: httpx.Response) -> ApiError:
    request = response.request
    return api_error(response.status_code, problem_of(response), method=request.method, url=str(request.url))


def should_retry(policy: Retry, attempt: int, response: httpx.Response | None) -> float | None:
    """Seconds to wait before retrying, or None to stop."""
    if attempt >= policy.attempts:
        return None
    if response is not None and response.status_code not in policy.statuses:
        return None
    wait = policy.wait_for(attempt, response)
    return wait if wait <= policy.max_wait_s else None


# --------------------------------------------------------------- SSE parsing


class SseParser:
    """Server-Sent Events from lines (``event:``/``data:`` fields, blank line = dispatch)."""

    def __init__(self) -> None:
        self._name = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> ChatEvent | None:
        if line.startswith(":"):
            return None
        if line == "":
            if not self._data:
                self._name = "message"
                return None
            name, data = self._name, "\n".join(self._data)
            self._name, self._data = "message", []
            return chat_event(name, json.loads(data))
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "event":
            self._name = value
        elif key == "data":
            self._data.append(value)
        return None


def sse_events(lines: Iterable[str]) -> Iterator[ChatEvent]:
    parser = SseParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


# ------------------------------------------------------------ request builders


def _json(parse: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    return lambda r: parse(r.json())


def _none(_: httpx.Response) -> None:
    return None


def query_call(text: str, k: int, filters: Filters, mode: str, offset: int) -> Call[Passages]:
    body = {"query": text, "page_size": k, "offset": offset, "filters": filters_json(filters), "mode": mode}
    return Call("POST", "/v1/query", _json(Passages.from_json), json=body)


def chat_body(
    message: str, session_id: str | None, filters: Filters, profile: str, stream: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": message,
        "filters": filters_json(filters),
        "profile": profile,
        "stream": stream,
    }
    if session_id is not None:
        body["session_id"] = str(session_id)
    return body


def chat_call(message: str, session_id: str | None, filters: Filters, profile: str) -> Call[Answer]:
    body = chat_body(message, session_id, filters, profile, False)
    return Call("POST", "/v1/chat", _json(Answer.from_json), json=body)


def stream_call(message: str, session_id: str | None, filters: Filters, profile: str) -> Call[None]:
    body = chat_body(message, session_id, filters, profile, True)
    return Call("POST", "/v1/chat", _none, json=body, headers={"Accept": "text/event-stream"})


def upload_call(
    files: Iterable[Upload],
    attributes: Mapping[str, Any] | None,
    groups: Iterable[str] | None,
    collection: str | None,
) -> Call[Job]:
    parts: list[tuple[str, tuple[str, bytes, str]]] = []
    for f in files:
        if isinstance(f, str | Path):
            path = Path(f)
            name, content = path.name, path.read_bytes()
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        else:
            name, content = f[0], bytes(f[1])
            ctype = f[2] if len(f) > 2 else (mimetypes.guess_type(name)[0] or "application/octet-stream")
        parts.append(("files", (name, content, ctype)))
    if not parts:
        raise ValueError("nothing to upload")
    data: dict[str, str] = {}
    if attributes:
        data["attributes"] = json.dumps(dict(attributes))
    if groups:
        data["groups"] = ",".join(groups)
    if collection:
        data["collection"] = collection
    return Call("POST", "/v1/documents", _json(Job.from_json), files=parts, data=data)


def upload_items(files: Iterable[Upload] | Upload) -> list[Upload]:
    """One upload or several, as a list."""
    if isinstance(files, str | Path):
        return [files]
    if isinstance(files, tuple) and len(files) in (2, 3) and isinstance(files[1], bytes | bytearray):
        return [files]
    return list(files)  # type: ignore[arg-type]


def job_call(job_id: str) -> Call[Job]:
    return Call("GET", f"/v1/jobs/{job_id}", _json(Job.from_json))


def list_documents_call(
    q: str | None, source: str | None, limit: int, offset: int
) -> Call[tuple[list[Document], int | None]]:
    def parse(d: Any) -> tuple[list[Document], int | None]:
        return [Document.from_json(x) for x in d.get("documents") or ()], d.get("next_offset")

    params = {"q": q, "source": source, "limit": limit, "offset": offset}
    return Call("GET", "/v1/documents", _json(parse), params=params)


def get_document_call(document_id: str, passages: bool) -> Call[Document]:
    params = {"passages": "true"} if passages else None
    return Call("GET", f"/v1/documents/{document_id}", _json(Document.from_json), params=params)


def delete_document_call(document_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/documents/{document_id}", _none)


def list_sessions_call(limit: int, offset: int) -> Call[tuple[list[Session], int | None]]:
    def parse(d: Any) -> tuple[list[Session], int | None]:
        return [Session.from_json(x) for x in d.get("sessions") or ()], d.get("next_offset")

    return Call("GET", "/v1/sessions", _json(parse), params={"limit": limit, "offset": offset})


def get_session_call(session_id: str) -> Call[Session]:
    return Call("GET", f"/v1/sessions/{session_id}", _json(Session.from_json))


def messages_call(session_id: str) -> Call[list[Message]]:
    return Call(
        "GET", f"/v1/sessions/{session_id}/messages",
        _json(lambda d: [Message.from_json(m) for m in d.get("messages") or ()]),
    )  # fmt: skip


def rename_session_call(session_id: str, title: str) -> Call[Session]:
    return Call("PATCH", f"/v1/sessions/{session_id}", _json(Session.from_json), json={"title": title})


def delete_session_call(session_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/sessions/{session_id}", _none)


def feedback_call(message_id: str, rating: int, comment: str) -> Call[Feedback]:
    return Call(
        "POST", f"/v1/messages/{message_id}/feedback", _json(Feedback.from_json),
        json={"rating": rating, "comment": comment},
    )  # fmt: skip


def me_call() -> Call[Me]:
    return Call("GET", "/v1/me", _json(Me.from_json))


def info_call() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/info", _json(dict))


def headers_for(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": "awsomechat-client"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
