"""Security headers on every response: a Content-Security-Policy, nosniff, no referrer, no framing.

The web UI loads only its own files (no inline script or style, no third-party host), so its
policy can be strict: everything from the server itself, nothing framed, no plugins, no
``<base>``. API responses get the same headers (they are never meant to be rendered). The
Swagger page at ``/docs`` loads FastAPI's scripts from a CDN with an inline bootstrap, so it gets
only the framing and sniffing protections.

The policy is ``api.content_security_policy`` (default ``settings.UI_CSP``, which
tests/security/test_headers.py drives in Chromium). The UI deployed on its own (docs/web-ui.md)
is served by another web server, which must send these headers itself, with the API's origin
in ``connect-src`` (docs/production.md).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from awsomechat.settings import UI_CSP

_DOCS_CSP = "frame-ancestors 'none'"
_DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")


class SecurityHeadersMiddleware:
    """Adds the headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, csp: str = UI_CSP) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        self._default = [*common, (b"content-security-policy", csp.encode("latin-1"))]
        self._docs = [*common, (b"content-security-policy", _DOCS_CSP.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._docs if scope["path"].rstrip("/") in _DOCS_PATHS else self._default

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
