"""RFC 9457 problem details: every error response is ``application/problem+json`` with a request id.

Services raise the project's own exceptions; this module alone turns them into HTTP statuses.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from awsomechat.errors import (
    AuthenticationError,
    AwsomeChatError,
    FilterError,
    ModelUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    RemoteStoreError,
    StoreError,
    StoreValueError,
    ValidationFailedError,
)

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """An HTTP error made at the edge (limits, queue, upload checks)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        self.code = code


def problem_response(request: Request, problem: ApiProblem) -> JSONResponse:
    """The problem document for ``problem`` (Retry-After and WWW-Authenticate headers included)."""
    status, detail, errors, retry_after = problem.status, problem.detail, problem.errors, problem.retry_after
    code = problem.code
    request_id = getattr(request.state, "request_id", "")
    body: dict[str, Any] = {
        "type": f"https://awsomechat.dev/problems/{code or status}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = errors
    if retry_after is not None:
        body["retry_after"] = retry_after
    out_headers = dict(problem.headers)  # X-Request-ID is added to every response by the middleware
    if retry_after is not None:
        out_headers["Retry-After"] = str(retry_after)
    if status == 401:
        out_headers.setdefault("WWW-Authenticate", 'Bearer realm="awsomechat"')
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=out_headers)


def status_for(exc: AwsomeChatError) -> int:
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, FilterError | ValidationFailedError | StoreValueError):
        return 422
    return 400


def _field_of(loc: tuple[Any, ...]) -> str:
    """``("body", "filters", 0, "field")`` → ``filters.0.field`` (the location kind dropped)."""
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts)


def install_handlers(app: FastAPI, retry_after_s: int) -> None:
    """Register the handlers that make every error a problem document."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(ModelUnavailableError)
    async def _model_unavailable(request: Request, exc: ModelUnavailableError) -> JSONResponse:
        detail = exc.message + (f" ({exc.hint})" if exc.hint else "")
        problem = ApiProblem(503, detail, retry_after=exc.retry_after_s, code="model-unavailable")
        return problem_response(request, problem)

    @app.exception_handler(AwsomeChatError)
    async def _project_error(request: Request, exc: AwsomeChatError) -> JSONResponse:
        status = status_for(exc)
        detail = exc.message + (f" ({exc.hint})" if exc.hint else "")
        if status == 503:
            if not isinstance(exc, RemoteStoreError):  # DynamoDB down says nothing of PostgreSQL
                request.app.state.ctx.database_failed()
            log.warning("store unavailable: %s", exc.message)
            return problem_response(request, store_unavailable(retry_after_s, detail))
        errors = (
            [{"field": exc.field, "message": exc.message}] if isinstance(exc, ValidationFailedError) else None
        )
        return problem_response(request, ApiProblem(status, detail, errors=errors))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_of(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(request, ApiProblem(422, detail or "invalid request", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = ApiProblem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
        return problem_response(request, problem)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, ApiProblem(500, "internal error; the request id identifies it in the server log")
        )


def store_unavailable(
    retry_after_s: int, detail: str = "the database is unavailable; try again shortly"
) -> ApiProblem:
    """The 503 every route answers while the database cannot be reached."""
    return ApiProblem(503, detail, retry_after=retry_after_s, code="store-unavailable")


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem responses (replacing FastAPI's default 422 body)."""
    from awsomechat.api.schemas import Problem

    described = {
        401: "no valid API key",
        403: "the caller may not do this",
        404: "not found (or not visible to the caller)",
        413: "the request body or a file is too large",
        415: "a file is of a type no loader reads (or its content contradicts its name)",
        422: "a field is invalid; `errors` names it",
        429: "rate limit reached; see Retry-After",
        503: "the answer queue is full or the database is unavailable; see Retry-After",
    }
    return {
        s: {"description": described.get(s, _TITLES.get(s, "error")), "model": Problem,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for s in statuses
    }  # fmt: skip
