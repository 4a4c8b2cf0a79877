"""Liveness, readiness, metrics, server info and the caller's identity."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from awsomechat.api.schemas import MeOut, ProfileOut, ServerInfo
from awsomechat.api.security import Context, CurrentPrincipal

router = APIRouter(tags=["system"])


def package_version() -> str:
    try:
        return version("awsomechat")
    except PackageNotFoundError:
        return "0+unknown"


@router.get("/healthz", include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is not ready"}})
async def readyz(ctx: Context) -> JSONResponse:
    """Ready to serve: the database answers and the chat model can generate.

    With a model runner, ``model_runner`` gives its state (starting, ready, restarting, failed),
    ``pid``, ``restarts`` and ``last_error``; the runner is ready only after its self-test (a short
    real generation) passed. While it is not, chat routes answer 503 and everything else works.
    """
    checks: dict[str, str] = {}

    try:
        await run_in_threadpool(ctx.container.database.ping, 2.0)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    # While the start-up warm-up loads the embedder, a query would pay for it: not ready yet.
    checks["embedder"] = (
        "loading" if ctx.warming else "loaded" if ctx.container.embedder_loaded else "on demand"
    )
    model = ctx.container.model_status()
    checks["model"] = str(model.get("state", "unknown"))
    ready = checks["database"] == "ok" and not ctx.warming and bool(model.get("ready"))
    body: dict[str, Any] = {
        "status": "ready" if ready else "not ready", "checks": checks, "queue": ctx.gate.waiting,
    }  # fmt: skip
    if "restarts" in model:  # a supervised model runner: pid, restarts, last error
        body["model_runner"] = {k: v for k, v in model.items() if k != "ready"}
    retry = int(model["retry_at"] - time.time()) if model.get("retry_at") else ctx.settings.api.retry_after_s
    return JSONResponse(
        body, status_code=200 if ready else 503, headers={} if ready else {"Retry-After": str(max(1, retry))}
    )


@router.get("/metrics", response_class=Response)
async def metrics(ctx: Context) -> Response:
    """Prometheus metrics: requests, latencies, tokens, retrieval and generation timings, queue."""
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/v1/info", response_model=ServerInfo)
def info(ctx: Context) -> ServerInfo:
    """What a client needs before signing in: local mode, profiles and upload limits."""
    s = ctx.settings
    return ServerInfo(
        version=package_version(),
        local_mode=s.api.local_mode,
        profiles=[
            ProfileOut(name=p.name, description=p.description, input_kind=p.input_kind)
            for p in ctx.container.chat.profiles()
        ],
        max_message_chars=s.chat.max_message_chars,
        max_upload_mb=s.ingest.max_file_mb,
        max_upload_files=s.api.max_upload_files,
        upload_extensions=ctx.container.ingestion.supported_extensions(),
    )


@router.get("/v1/me", response_model=MeOut)
def me(principal: CurrentPrincipal, ctx: Context) -> MeOut:
    """The caller: user id, groups and whether it is an administrator."""
    return MeOut(
        user_id=principal.user_id,
        groups=sorted(principal.groups),
        admin=principal.admin,
        local_mode=principal.key_id is None,
    )
