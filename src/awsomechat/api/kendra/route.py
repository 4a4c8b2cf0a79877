"""``POST /kendra``: Amazon Kendra's ``Query`` and ``Retrieve`` over JSON 1.1, signed with SigV4.

The access key id is an API key's id part (``awc_<prefix>``), the secret access key the whole key.
A signature is always required, in local mode too: boto3 always signs, and an unsigned request
here is never a Kendra client's. Errors are Kendra's own (``protocol.KendraError``), never problem
documents, so boto3 raises ``ClientError`` with the code Kendra would send.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from awsomechat.api.context import ApiContext
from awsomechat.api.kendra import search, sigv4
from awsomechat.api.kendra.protocol import (
    CONTENT_TYPE,
    KendraError,
    encode,
    error_body,
    operation_of,
    parse_request,
    validation_error,
)
from awsomechat.api.links import request_links
from awsomechat.errors import (
    AuthenticationError,
    AwsomeChatError,
    FilterError,
    RemoteStoreError,
    StoreError,
    StoreValueError,
    ValidationFailedError,
)

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)  # JSON 1.1 with SigV4: not an OpenAPI operation
SERVICE = "kendra"


@router.post("/kendra")
@router.post("/kendra/")
async def kendra(request: Request) -> Response:
    """Amazon Kendra ``Query`` / ``Retrieve`` (see docs/kendra.md)."""
    ctx: ApiContext = request.app.state.ctx
    body = await request.body()
    request_id = str(getattr(request.state, "request_id", ""))
    try:
        result = await run_in_threadpool(_handle, ctx, request, body)
    except KendraError as exc:
        return _error(exc, request_id)
    return Response(encode(result), media_type=CONTENT_TYPE, headers={"x-amzn-RequestId": request_id})


def _handle(ctx: ApiContext, request: Request, body: bytes) -> dict[str, Any]:
    try:
        return _serve(ctx, request, body)
    except KendraError:
        raise
    except (FilterError, ValidationFailedError, StoreValueError) as exc:
        raise validation_error(str(exc)) from exc
    except StoreError as exc:
        if not isinstance(exc, RemoteStoreError):
            ctx.database_failed()
        log.warning("store unavailable on /kendra: %s", exc.message)
        raise _unavailable(ctx, str(exc)) from exc
    except AwsomeChatError as exc:
        raise validation_error(str(exc)) from exc
    except Exception as exc:
        log.exception("unhandled error on /kendra")
        raise KendraError(
            "InternalServerException", "internal error; the request id identifies it in the server log",
            status=500,
        ) from exc  # fmt: skip


def _serve(ctx: ApiContext, request: Request, body: bytes) -> dict[str, Any]:
    if ctx.database_recently_failed():
        raise _unavailable(ctx, "the database is unavailable; try again shortly")
    scope = request.scope
    # The path as it came on the wire, which is what the client signed (a proxy must not rewrite it).
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    try:
        signed = sigv4.parse(
            request.method, raw_path, scope.get("query_string", b"").decode("latin-1"), headers, body,
            service=SERVICE,
        )  # fmt: skip
        limit = ctx.settings.api.rate_limit_per_minute
        auth = ctx.container.keys.authenticate_signed(
            signed.access_key_id, lambda key: sigv4.signature_matches(signed, key), rate_limit=limit
        )
    except AuthenticationError as exc:
        raise KendraError("AccessDeniedException", str(exc)) from None
    request.state.principal = auth.principal
    if not auth.admitted:
        ctx.metrics.rejected.labels("rate_limit").inc()
        raise KendraError(
            "ThrottlingException",
            f"rate limit of {limit} requests per minute for this key reached",
            retry_after=max(1, math.ceil(auth.retry_after_s)),
        )
    operation = operation_of(request.headers.get("x-amz-target", ""))
    kendra_request = parse_request(operation, body)
    t0 = time.perf_counter()
    result = search.run(ctx.container, auth.principal, kendra_request, request_links(request, ctx))
    ctx.metrics.retrieval.labels("kendra").observe(time.perf_counter() - t0)
    return result


def _unavailable(ctx: ApiContext, message: str) -> KendraError:
    # InternalServerException is the model's one fault; 503 + Retry-After says "try again" to
    # proxies as well, and botocore retries any 5xx.
    return KendraError(
        "InternalServerException", message, status=503, retry_after=ctx.settings.api.retry_after_s
    )


def _error(exc: KendraError, request_id: str) -> Response:
    headers = {"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": request_id}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return Response(error_body(exc), status_code=exc.status, media_type=CONTENT_TYPE, headers=headers)
