"""The app factory. Nothing is built at import time: ``create_app()`` reads settings (or takes
them) and the lifespan opens the store and warms the models.

``uvicorn --factory awsomechat.api.app:create_app`` (what ``awsomechat serve`` runs) builds one
app per worker process; all state lives in PostgreSQL, so workers and replicas are interchangeable.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from awsomechat.api.context import ApiContext
from awsomechat.api.gate import GenerationGate
from awsomechat.api.headers import SecurityHeadersMiddleware
from awsomechat.api.kendra import route as kendra_route
from awsomechat.api.metrics import Metrics
from awsomechat.api.middleware import RequestContextMiddleware
from awsomechat.api.problems import documented_errors, install_handlers
from awsomechat.api.routes import auth, chat, documents, openai_compat, query, sessions, system
from awsomechat.container import Container
from awsomechat.mcp import mcp_endpoint
from awsomechat.settings import Settings, load_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Answers from your organisation's documents, with citations.

Authenticate with `Authorization: Bearer <key>` (keys from `awsomechat keys create`). Errors are
RFC 9457 problem documents (`application/problem+json`) carrying a `request_id`.
"""


def web_root() -> Path | None:
    """The packaged web UI, if present."""
    root = Path(str(resources.files("awsomechat").joinpath("web", "static")))
    return root if (root / "index.html").is_file() else None


def _warm(ctx: ApiContext) -> None:
    """Open the store and load both models so the first request does not pay for it."""
    c = ctx.container
    try:
        c.database  # noqa: B018 - opens the pool and applies migrations
        c.get_embedder()
        if c.warm_model_on_start:
            c.get_chat_model()
        log.info("warm-up done")
    except Exception as exc:
        log.warning("warm-up failed: %s", exc)
    finally:
        ctx.warming = False


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """Build the API (and web UI) app. Tests pass their own settings or container."""
    settings = settings or (container.settings if container else load_settings())
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    metrics = Metrics()
    api = settings.api
    gate = GenerationGate(
        api.generation_concurrency, api.generation_queue_depth, api.generation_queue_timeout_s,
        api.retry_after_s, metrics,
    )  # fmt: skip
    own_container = container is None
    ctx = ApiContext(settings, container or Container(settings), metrics, gate)
    mcp = mcp_endpoint(ctx, system.package_version())  # None without the `mcp` extra

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.warming = True
        threading.Thread(target=_warm, args=(ctx,), name="warm-up", daemon=True).start()
        async with mcp.running() if mcp is not None else contextlib.nullcontext():
            yield
        if own_container:  # bounded: a running ingestion job gets api.shutdown_grace_s, then is interrupted
            ctx.container.close(job_grace_s=ctx.settings.api.shutdown_grace_s)

    app = FastAPI(
        title="AWSomeChat",
        version=system.package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    install_handlers(app, api.retry_after_s)
    app.include_router(system.router)
    app.include_router(auth.router)  # web UI sign-in with single sign-on, session, sign-out
    errors = documented_errors(401, 403, 404, 422, 429, 503)
    for module in (chat, openai_compat, query, documents, sessions):
        app.include_router(module.router, responses=errors)
    app.include_router(kendra_route.router)  # Amazon Kendra's JSON 1.1 protocol, SigV4 (docs/kendra.md)
    if mcp is not None:
        mcp.install(app)  # MCP over Streamable HTTP at /mcp, the same bearer keys (docs/integrations.md)
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    # A declared Content-Length over the upload limit (plus room for the multipart framing) is refused
    # before anything is read; the upload route enforces the exact limits while it streams.
    upload_limit = int(api.max_upload_mb * 1024 * 1024) + 1024 * 1024
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body=api.max_body_kb * 1024,
        max_upload_body=upload_limit,
    )
    # Outermost, so that every response gets them (the 413s the middleware above sends too).
    app.add_middleware(SecurityHeadersMiddleware, csp=api.content_security_policy)
    root = web_root() if api.ui else None
    if root is not None:
        app.mount("/", StaticFiles(directory=root, html=True), name="web")
    else:

        @app.get("/", include_in_schema=False)
        def index() -> RedirectResponse:
            return RedirectResponse("/docs")

    return app
