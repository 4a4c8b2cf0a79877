"""Pure ASGI middleware: request ids, body-size limits, access log and request metrics.

Written against ASGI directly (not BaseHTTPMiddleware) so streamed responses pass through
untouched and a client disconnect reaches the route at once.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from awsomechat.api.metrics import Metrics

log = logging.getLogger("awsomechat.access")
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _TooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body: int, max_upload_body: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.max_upload_body = max_upload_body

    def _limit(self, scope: Scope) -> int:
        if scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/documents":
            return self.max_upload_body
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _ID_RE.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        limit = self._limit(scope)
        t0 = time.perf_counter()
        status = 500
        started = False

        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await self._reject_too_large(scope, send, request_id, limit)
            self._record(scope, 413, t0)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except _TooLarge:
            if not started:
                await self._reject_too_large(scope, send, request_id, limit)
            status = 413
        finally:
            self._record(scope, status, t0)

    def _record(self, scope: Scope, status: int, t0: float) -> None:
        elapsed = time.perf_counter() - t0
        route = getattr(scope.get("route"), "path", None) or ("/" if scope["path"] == "/" else "other")
        self.metrics.requests.labels(scope["method"], route, str(status)).inc()
        self.metrics.latency.labels(scope["method"], route).observe(elapsed)
        principal = getattr(scope.get("state", {}).get("principal"), "user_id", "-")
        log.info(
            "%s %s %s %d %.1fms user=%s",
            scope.get("state", {}).get("request_id"), scope["method"], scope["path"], status,
            elapsed * 1000, principal,
        )  # fmt: skip

    async def _reject_too_large(self, scope: Scope, send: Send, request_id: str, limit: int) -> None:
        body: dict[str, Any] = {
            "type": "https://awsomechat.dev/problems/413",
            "title": "Content too large",
            "status": 413,
            "detail": f"the request body is over the {limit // 1024} KiB limit for {scope['path']}",
            "instance": scope["path"],
            "request_id": request_id,
        }
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(data)).encode()),
                    (b"x-request-id", request_id.encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
