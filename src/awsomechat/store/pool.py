"""A connection pool whose failures are the project's own errors.

Everything above the store (the API, the chat service) sees ``StoreUnavailableError`` for a
database it cannot reach and ``StoreValueError`` for a value PostgreSQL refuses to hold, never a
``psycopg`` exception: the API maps them to 503 and 422 without knowing which database is behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from awsomechat.errors import StoreUnavailableError, StoreValueError


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class TranslatingPool(ConnectionPool[psycopg.Connection[Any]]):
    """``ConnectionPool`` whose ``connection()`` raises project errors for outages and bad values."""

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        try:
            with super().connection(timeout) as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailableError(
                f"no database connection became free in time ({_first_line(exc)})",
                hint="the database is slow or down; try again shortly",
            ) from exc
        except psycopg.DataError as exc:  # e.g. a NUL character that slipped past validation
            raise StoreValueError(f"a value cannot be stored: {_first_line(exc)}") from exc
        except psycopg.OperationalError as exc:  # connection lost, server shut down, statement timeout
            raise StoreUnavailableError(f"the database is unavailable: {_first_line(exc)}") from exc
