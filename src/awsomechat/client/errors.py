"""Errors the client raises. An error answer of the API becomes an :class:`ApiError` that carries
the RFC 9457 problem document the server sent (``type``, ``title``, ``status``, ``detail``,
``request_id``, ``errors``, ``retry_after``)."""

from __future__ import annotations

from typing import Any


class AwsomeChatClientError(Exception):
    """Base class of everything this client raises."""


class TransportError(AwsomeChatClientError):
    """The server could not be reached, or did not answer in time (after any retries)."""


class ApiError(AwsomeChatClientError):
    """The API answered with an error status; ``problem`` is its problem document."""

    def __init__(self, status: int, problem: dict[str, Any], *, method: str = "", url: str = "") -> None:
        self.status = status
        self.problem = problem
        self.method = method
        self.url = url
        detail = self.detail or self.title or f"HTTP {status}"
        where = f" ({method} {url})" if method else ""
        super().__init__(f"{status} {detail}{where}")

    @property
    def type(self) -> str:
        return str(self.problem.get("type", "about:blank"))

    @property
    def title(self) -> str:
        return str(self.problem.get("title", ""))

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail", ""))

    @property
    def request_id(self) -> str:
        """The server's request id: quote it when reporting a problem (it is in the server log)."""
        return str(self.problem.get("request_id", ""))

    @property
    def errors(self) -> list[dict[str, str]]:
        """The invalid fields of a 422: ``[{"field": ..., "message": ...}]``."""
        return list(self.problem.get("errors") or [])

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (429, 503), if it said."""
        value = self.problem.get("retry_after")
        return float(value) if isinstance(value, int | float) else None


class AuthenticationError(ApiError):
    """401: no API key, or one that is unknown, revoked or malformed."""


class PermissionDeniedError(ApiError):
    """403: the key is valid but may not do this (most often: an administrator's action)."""


class NotFoundError(ApiError):
    """404: no such document, session, message or job, or one the caller may not read."""


class InvalidRequestError(ApiError):
    """422 (and other 4xx): the request was refused as invalid; see ``errors``."""


class RateLimitedError(ApiError):
    """429: the key's rate limit was reached (raised once the retries are spent)."""


class ServiceUnavailableError(ApiError):
    """503: the store or model is unavailable or the answer queue is full (after retries)."""


class JobFailedError(AwsomeChatClientError):
    """An ingestion job did not finish within the wait."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def api_error(status: int, problem: dict[str, Any], *, method: str = "", url: str = "") -> ApiError:
    """The :class:`ApiError` subclass for ``status``."""
    cls = _BY_STATUS.get(status) or (InvalidRequestError if 400 <= status < 500 else ApiError)
    return cls(status, problem, method=method, url=url)
