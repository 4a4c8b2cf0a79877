"""Users and API keys in PostgreSQL, shared by every worker and replica.

A key is ``awc_<prefix>_<secret>``; only its SHA-256 is stored (keys are 190 random bits, so a
fast hash is the right tool: nothing to brute-force). The prefix names a key in listings and
``keys revoke``. Authentication and the per-key rate limit (requests admitted over any 60 seconds,
``api_rate_take`` in migration 0006) are one statement, so a request costs one round trip however
many replicas share the limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from awsomechat.auth.names import USER_RE, check_groups
from awsomechat.errors import AuthenticationError, AwsomeChatError, NotFoundError
from awsomechat.store.database import Database
from awsomechat.types import Principal

KEY_RE = re.compile(r"^awc_([a-z0-9]{8})_([A-Za-z0-9_-]{32})$")


@dataclass(frozen=True)
class UserRecord:
    id: str
    display_name: str
    groups: tuple[str, ...]
    admin: bool
    disabled: bool
    created_at: dt.datetime
    active_keys: int = 0


@dataclass(frozen=True)
class KeyRecord:
    id: uuid.UUID
    user_id: str
    name: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class Authenticated:
    """A principal plus whether this request is within its key's limit over the last 60 seconds."""

    principal: Principal
    admitted: bool = True
    requests_in_window: int = 0
    retry_after_s: float = 0.0  # when refused: until the window has room for one more request


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


_KEY_SQL = """
SELECT k.id, k.user_id, u.groups, u.admin FROM api_keys k JOIN api_users u ON u.id = k.user_id
WHERE k.secret_hash = %(hash)s AND k.revoked_at IS NULL AND NOT u.disabled
"""
# The key and, for a valid one only, one request taken from its limit.
_AUTH_RATED_SQL = f"""
WITH k AS ({_KEY_SQL})
SELECT k.id, k.user_id, k.groups, k.admin, t.admitted, t.in_window, t.retry_after_s
FROM k, LATERAL api_rate_take(k.id::text, %(limit)s) t
"""


class PgKeyStore:
    """Users, keys and authentication."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ users
    def add_user(
        self, user_id: str, *, groups: tuple[str, ...] = (), admin: bool = False, display_name: str = ""
    ) -> UserRecord:
        if not USER_RE.match(user_id):
            raise AwsomeChatError(
                f"user name {user_id!r} is not valid", hint="use letters, digits and _ . @ - (up to 64)"
            )
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(
                    "INSERT INTO api_users (id, display_name, groups, admin) VALUES (%s, %s, %s, %s)"
                    " RETURNING *, 0 AS active_keys",
                    (user_id, display_name or user_id, list(check_groups(groups)), admin),
                )
            except psycopg.errors.UniqueViolation:
                raise AwsomeChatError(
                    f"user {user_id!r} already exists", hint="use `awsomechat users update` to change it"
                ) from None
            row = cur.fetchone()
        assert row is not None
        return _user(row)

    def update_user(
        self,
        user_id: str,
        *,
        groups: tuple[str, ...] | None = None,
        admin: bool | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        with self._db.pool.connection() as conn:
            cur = conn.execute(
                "UPDATE api_users SET groups = coalesce(%s, groups), admin = coalesce(%s, admin),"
                " disabled = coalesce(%s, disabled) WHERE id = %s",
                (list(check_groups(groups)) if groups is not None else None, admin, disabled, user_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no user {user_id!r}", hint="see `awsomechat users list`")
        return self.get_user(user_id)

    def get_user(self, user_id: str) -> UserRecord:
        users = self.list_users(user_id)
        if not users:
            raise NotFoundError(f"no user {user_id!r}", hint="see `awsomechat users list`")
        return users[0]

    def list_users(self, user_id: str | None = None) -> list[UserRecord]:
        """Every user (or just ``user_id``) with the number of active keys."""
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT u.*, count(k.id) FILTER (WHERE k.revoked_at IS NULL) AS active_keys"
                " FROM api_users u LEFT JOIN api_keys k ON k.user_id = u.id"
                " WHERE %(u)s::text IS NULL OR u.id = %(u)s GROUP BY u.id ORDER BY u.id",
                {"u": user_id},
            )
            return [_user(r) for r in cur.fetchall()]

    def remove_user(self, user_id: str) -> None:
        """Delete a user and their keys (their conversations stay, keyed by the user id)."""
        with self._db.pool.connection() as conn:
            if conn.execute("DELETE FROM api_users WHERE id = %s", (user_id,)).rowcount == 0:
                raise NotFoundError(f"no user {user_id!r}")

    # ------------------------------------------------------------------- keys
    def create_key(self, user_id: str, name: str = "") -> tuple[KeyRecord, str]:
        """A new key for ``user_id``; the returned secret is shown once and never stored."""
        prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        key = f"awc_{prefix}_{secrets.token_urlsafe(24)}"
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(
                    "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash)"
                    " VALUES (%s, %s, %s, %s, %s)"
                    " RETURNING id, user_id, name, prefix, created_at, revoked_at",
                    (uuid.uuid4(), user_id, name[:200], prefix, hash_key(key)),
                )
            except psycopg.errors.ForeignKeyViolation:
                raise NotFoundError(
                    f"no user {user_id!r}", hint=f"create it first: awsomechat users add {user_id}"
                ) from None
            row = cur.fetchone()
        assert row is not None
        return KeyRecord(**row), key

    def list_keys(self, user_id: str | None = None) -> list[KeyRecord]:
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, user_id, name, prefix, created_at, revoked_at FROM api_keys"
                " WHERE %(u)s::text IS NULL OR user_id = %(u)s ORDER BY created_at",
                {"u": user_id},
            )
            return [KeyRecord(**r) for r in cur.fetchall()]

    def revoke_key(self, prefix: str) -> KeyRecord:
        """Revoke by prefix (the 8 characters after ``awc_``) or by a whole key."""
        m = KEY_RE.match(prefix)
        if m:
            prefix = m.group(1)
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE prefix = %s"
                " RETURNING id, user_id, name, prefix, created_at, revoked_at",
                (prefix,),
            )
            rows = cur.fetchall()
        if not rows:
            raise NotFoundError(f"no key with prefix {prefix!r}", hint="see `awsomechat keys list`")
        return KeyRecord(**rows[0])

    # --------------------------------------------------------- authentication
    def authenticate(self, key: str, *, rate_limit: int = 0) -> Authenticated:
        """The principal of ``key``; with ``rate_limit`` > 0 the request also counts against that
        many per 60 seconds, and ``admitted`` says whether it is within them."""
        if not KEY_RE.match(key):
            raise AuthenticationError(
                "the API key is malformed",
                hint="send 'Authorization: Bearer awc_...' with a key from `awsomechat keys create`",
            )
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                _AUTH_RATED_SQL if rate_limit > 0 else _KEY_SQL, {"hash": hash_key(key), "limit": rate_limit}
            )
            row = cur.fetchone()
            if row is not None and rate_limit > 0 and secrets.randbelow(200) == 0:
                conn.execute(  # keys idle for a window have nothing left to count
                    "DELETE FROM api_rate_limits WHERE newest < extract(epoch FROM now()) - 61"
                )
        if row is None:
            raise AuthenticationError(
                "the API key is not valid (unknown, revoked, or its user is disabled)",
                hint="ask an administrator for a new one: awsomechat keys create USER",
            )
        principal = Principal(
            user_id=row["user_id"], groups=frozenset(row["groups"]), admin=row["admin"], key_id=str(row["id"])
        )
        if rate_limit <= 0:
            return Authenticated(principal)
        return Authenticated(
            principal, bool(row["admitted"]), int(row["in_window"]), float(row["retry_after_s"])
        )


def _user(row: dict[str, Any]) -> UserRecord:
    return UserRecord(
        id=row["id"],
        display_name=row["display_name"],
        groups=tuple(row["groups"]),
        admin=row["admin"],
        disabled=row["disabled"],
        created_at=row["created_at"],
        active_keys=int(row.get("active_keys") or 0),
    )
