"""``/mcp`` on the service: MCP over Streamable HTTP, authenticated by the same bearer API keys.

Stateless (no MCP session is kept between requests) with JSON responses, so any replica can
serve any request, as for the REST API. A request without a valid key is refused with 401 (a
problem document and ``WWW-Authenticate: Bearer``) before the MCP layer sees it. A tool call
then runs through the same app's REST routes in-process, with the caller's Authorization header
and address: access groups, filters, rate limits and the answer queue apply exactly as on the
REST API, because it *is* the REST API.

No DNS-rebinding host check: it guards servers that trust a browser's requests by origin, and
this endpoint trusts nothing but the bearer key, which a rebinding page cannot send.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from awsomechat.api import security
from awsomechat.api.context import ApiContext
from awsomechat.api.problems import ApiProblem, problem_response, store_unavailable
from awsomechat.client import NO_RETRY, AsyncAwsomeChatClient
from awsomechat.errors import AuthenticationError
from awsomechat.mcp.tools import build_mcp_server

log = logging.getLogger(__name__)
_HINT = "send 'Authorization: Bearer awc_...' with a key from `awsomechat keys create`"
_INNER_BASE = "http://awsomechat.internal"


class McpEndpoint:
    """The ASGI app behind ``/mcp`` (``running()`` must wrap the service's lifespan)."""

    def __init__(self, ctx: ApiContext, version: str = "") -> None:
        self._ctx = ctx
        self.server = build_mcp_server(self._client_for, version=version)
        # Builds the SDK's session manager; the Starlette app it returns is not used: this
        # endpoint is routed by the service's own app, behind its middleware.
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._app: ASGIApp | None = None

    def install(self, app: Starlette) -> None:
        """Route ``/mcp`` of ``app`` here (before any catch-all mount such as the web UI)."""
        app.router.routes.append(
            Route("/mcp", self, methods=["GET", "POST", "DELETE"], include_in_schema=False)
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.server.session_manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - routes only carry http here
            return
        self._app = self._app or scope["app"]
        request = Request(scope, receive)
        problem = await self._refusal(request)
        if problem is not None:
            await problem_response(request, problem)(scope, receive, send)
            return
        await self.server.session_manager.handle_request(scope, receive, send)

    async def _refusal(self, request: Request) -> ApiProblem | None:
        """None when the bearer key is valid; else the 401 (or 503) to send."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not key.strip():
            return ApiProblem(401, "the MCP endpoint needs an API key: " + _HINT)
        if self._ctx.database_recently_failed():
            return store_unavailable(self._ctx.settings.api.retry_after_s)
        try:
            # Validity only (rate_limit 0): the rate limit counts the tool calls themselves, the REST
            # requests they make. The same credentials as the REST API: API keys, and the identity
            # provider's access tokens when single sign-on is on (security.current_principal).
            await run_in_threadpool(self._authenticate, key.strip())
        except AuthenticationError as exc:
            return ApiProblem(401, exc.message)
        except ApiProblem as problem:  # the identity provider is unreachable (503)
            return problem
        return None

    def _authenticate(self, credential: str) -> None:
        if self._ctx.settings.auth.oidc.enabled and security._is_jwt(credential):
            security._token_principal(self._ctx, credential, 0)
        else:
            self._ctx.container.keys.authenticate(credential)

    @contextlib.asynccontextmanager
    async def _client_for(self, ctx: Context) -> AsyncIterator[AsyncAwsomeChatClient]:
        """A client of this same app for the caller of ``ctx``'s HTTP request."""
        request = ctx.request_context.request
        if not isinstance(request, Request) or self._app is None:
            raise RuntimeError("an MCP tool call without its HTTP request")
        peer = request.client
        transport = httpx.ASGITransport(
            app=self._app, client=(peer.host, peer.port) if peer else ("0.0.0.0", 0)
        )
        headers = {"Authorization": request.headers.get("authorization", "")}
        forwarded = request.headers.get("x-request-id")
        if forwarded:
            headers["X-Request-ID"] = forwarded
        async with httpx.AsyncClient(
            transport=transport, base_url=_INNER_BASE, headers=headers, timeout=None
        ) as http:
            # 429 and 503 go back to the agent as they are: waiting is its decision.
            yield AsyncAwsomeChatClient(_INNER_BASE, http_client=http, retry=NO_RETRY)
