"""Browser sessions and single sign-on logins in flight, in PostgreSQL (every replica knows them).

A session cookie carries 256 random bits; only their SHA-256 is stored (as for API keys). Each
session has its own CSRF token, which the web UI sends back in ``X-CSRF-Token``. A login in flight
(between the redirect to the provider and its callback) is keyed by the hashed ``state`` and bound
to the browser that started it by a second cookie, so that a callback URL handed to someone else
cannot sign them in as the person who started the login (login CSRF); it is used once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from psycopg.rows import dict_row

from awsomechat.auth.keys_pg import Authenticated
from awsomechat.store.database import Database
from awsomechat.types import Principal

LOGIN_TTL_S = 600


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SessionAuth(Authenticated):
    csrf_token: str = ""
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class PendingLogin:
    nonce: str
    code_verifier: str
    redirect_url: str
    return_to: str


_SESSION_SQL = """
SELECT s.user_id, s.csrf_token, s.expires_at, u.groups, u.admin
FROM auth_sessions s JOIN api_users u ON u.id = s.user_id
WHERE s.token_hash = %(hash)s AND s.expires_at > now() AND NOT u.disabled
"""
# The session and, for a valid one only, one request from its user's limit (shared with the user's tokens).
_SESSION_RATED_SQL = f"""
WITH s AS ({_SESSION_SQL})
SELECT s.*, t.admitted, t.in_window, t.retry_after_s
FROM s, LATERAL api_rate_take('user:' || s.user_id, %(limit)s) t
"""


class PgSessionStore:
    """Sessions (``auth_sessions``) and logins in flight (``oidc_logins``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ sessions
    def create(self, user_id: str, *, hours: float) -> tuple[str, str]:
        """A new session for ``user_id``: (cookie value, CSRF token)."""
        token, csrf = new_token(), new_token()
        with self._db.pool.connection() as conn:
            conn.execute(
                "INSERT INTO auth_sessions (token_hash, user_id, csrf_token, expires_at)"
                " VALUES (%s, %s, %s, now() + make_interval(secs => %s))",
                (_hash(token), user_id, csrf, hours * 3600),
            )
            if secrets.randbelow(50) == 0:  # expired sessions and abandoned logins have nothing left
                conn.execute("DELETE FROM auth_sessions WHERE expires_at < now()")
                conn.execute("DELETE FROM oidc_logins WHERE expires_at < now()")
        return token, csrf

    def authenticate(self, token: str, *, rate_limit: int = 0) -> SessionAuth | None:
        """The session's principal (None: unknown, expired, or its user disabled or removed)."""
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                _SESSION_RATED_SQL if rate_limit > 0 else _SESSION_SQL,
                {"hash": _hash(token), "limit": rate_limit},
            )
            row = cur.fetchone()
        if row is None:
            return None
        principal = Principal(
            user_id=row["user_id"],
            groups=frozenset(row["groups"]),
            admin=row["admin"],
            key_id=f"session:{_hash(token)[:6].hex()}",
        )
        if rate_limit <= 0:
            return SessionAuth(principal, csrf_token=row["csrf_token"], expires_at=row["expires_at"])
        return SessionAuth(
            principal,
            bool(row["admitted"]),
            int(row["in_window"]),
            float(row["retry_after_s"]),
            csrf_token=row["csrf_token"],
            expires_at=row["expires_at"],
        )

    def delete(self, token: str) -> bool:
        with self._db.pool.connection() as conn:
            return (
                conn.execute("DELETE FROM auth_sessions WHERE token_hash = %s", (_hash(token),)).rowcount > 0
            )

    def delete_user_sessions(self, user_id: str) -> int:
        with self._db.pool.connection() as conn:
            return conn.execute("DELETE FROM auth_sessions WHERE user_id = %s", (user_id,)).rowcount

    # ------------------------------------------------------------------ logins in flight
    def begin_login(self, state: str, browser: str, login: PendingLogin) -> None:
        with self._db.pool.connection() as conn:
            conn.execute(
                "INSERT INTO oidc_logins (state_hash, browser_hash, nonce, code_verifier, redirect_url,"
                " return_to, expires_at) VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))",
                (
                    _hash(state), _hash(browser), login.nonce, login.code_verifier, login.redirect_url,
                    login.return_to, LOGIN_TTL_S,
                ),
            )  # fmt: skip

    def finish_login(self, state: str, browser: str) -> PendingLogin | None:
        """The login ``state`` names, if this browser started it and it has not expired; used once."""
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "DELETE FROM oidc_logins WHERE state_hash = %s"
                " RETURNING browser_hash, nonce, code_verifier, redirect_url, return_to,"
                " expires_at > now() AS live",
                (_hash(state),),
            )
            row = cur.fetchone()
        if (
            row is None
            or not row["live"]
            or not secrets.compare_digest(bytes(row["browser_hash"]), _hash(browser))
        ):
            return None
        return PendingLogin(row["nonce"], row["code_verifier"], row["redirect_url"], row["return_to"])
