"""Users and API keys in PostgreSQL, shared by every worker and replica.

A key is ``awc_<prefix>_<secret>``; only its SHA-256 is stored (keys are 190 random bits, so a
fast hash is the right tool: nothing to brute-force). The prefix names a key in listings and
``keys revoke``. Authentication and the per-key rate limit (requests admitted over any 60 seconds,
``api_rate_take`` in migration 0006) are one statement, so a request costs one round trip however
many replicas share the limit.

For AWS SigV4 (``/kendra``), whose HMAC needs the key itself, each key also keeps a copy sealed
under the installation's key-encryption key (``auth.key_secrets``, migration 0010). Keys created
before that get their copy at their next successful bearer authentication.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row

from awsomechat.auth.names import USER_RE, check_groups
from awsomechat.errors import AuthenticationError, AwsomeChatError, NotFoundError
from awsomechat.store.database import Database
from awsomechat.types import Principal

if TYPE_CHECKING:
    from awsomechat.auth.key_secrets import KeyBox

log = logging.getLogger(__name__)
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
SELECT k.id, k.user_id, u.groups, u.admin, k.secret_enc FROM api_keys k JOIN api_users u ON u.id = k.user_id
WHERE k.secret_hash = %(hash)s AND k.revoked_at IS NULL AND NOT u.disabled
"""
# The key and, for a valid one only, one request taken from its limit.
_AUTH_RATED_SQL = f"""
WITH k AS ({_KEY_SQL})
SELECT k.id, k.user_id, k.groups, k.admin, k.secret_enc, t.admitted, t.in_window, t.retry_after_s
FROM k, LATERAL api_rate_take(k.id::text, %(limit)s) t
"""
# The active keys of an access key id (its prefix; one, but prefixes are not declared unique).
_SIGNING_SQL = """
SELECT k.id, k.user_id, u.groups, u.admin, k.secret_enc FROM api_keys k JOIN api_users u ON u.id = k.user_id
WHERE k.prefix = %s AND k.revoked_at IS NULL AND NOT u.disabled
"""
ACCESS_KEY_ID_RE = re.compile(r"^awc_([a-z0-9]{8})$")


class PgKeyStore:
    """Users, keys and authentication. With ``box``, keys keep a sealed copy for SigV4."""

    def __init__(self, db: Database, box: KeyBox | None = None) -> None:
        self._db = db
        self._box = box

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
        key_id = uuid.uuid4()
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(
                    "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, secret_enc)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                    " RETURNING id, user_id, name, prefix, created_at, revoked_at",
                    (key_id, user_id, name[:200], prefix, hash_key(key), self._seal(key, key_id)),
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
        self._refresh_copy(row["id"], row["secret_enc"], key)
        principal = Principal(
            user_id=row["user_id"], groups=frozenset(row["groups"]), admin=row["admin"], key_id=str(row["id"])
        )
        if rate_limit <= 0:
            return Authenticated(principal)
        return Authenticated(
            principal, bool(row["admitted"]), int(row["in_window"]), float(row["retry_after_s"])
        )

    def authenticate_signed(
        self, access_key_id: str, verify: Callable[[str], bool], *, rate_limit: int = 0
    ) -> Authenticated:
        """The principal of the key whose id is ``access_key_id`` (``awc_<prefix>``) when
        ``verify(whole key)`` accepts the request's signature; only then does the request count
        against the key's limit (a known prefix alone cannot use up someone's requests)."""
        m = ACCESS_KEY_ID_RE.match(access_key_id)
        if not m:
            raise AuthenticationError(
                f"the access key id {access_key_id!r} is not an AWSomeChat key id",
                hint="use the key's first part, awc_<prefix>, as the access key id and the whole key as"
                " the secret access key",
            )
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_SIGNING_SQL, (m.group(1),))
            rows = cur.fetchall()
        if not rows:
            raise AuthenticationError(
                "the access key id is not valid (unknown, revoked, or its user is disabled)",
                hint="ask an administrator for a new one: awsomechat keys create USER",
            )
        sealed_any = False
        for row in rows:
            key = self._box.open(row["secret_enc"], row["id"]) if self._box is not None else None
            sealed_any = sealed_any or key is not None
            if key is None or not KEY_RE.match(key) or not verify(key):
                continue
            principal = Principal(
                user_id=row["user_id"], groups=frozenset(row["groups"]), admin=row["admin"],
                key_id=str(row["id"]),
            )  # fmt: skip
            if rate_limit <= 0:
                return Authenticated(principal)
            with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                cur.execute("SELECT * FROM api_rate_take(%s::text, %s)", (str(row["id"]), rate_limit))
                t = cur.fetchone()
            assert t is not None
            return Authenticated(
                principal, bool(t["admitted"]), int(t["in_window"]), float(t["retry_after_s"])
            )
        if not sealed_any:
            raise AuthenticationError(
                "this key cannot sign requests yet: it was created before SigV4 support, or under"
                " another key-encryption key",
                hint="use it once with 'Authorization: Bearer <key>' (e.g. GET /v1/me), or create a new key",
            )
        raise AuthenticationError(
            "the request signature does not match",
            hint="sign with the whole API key as the secret access key",
        )

    def _seal(self, key: str, key_id: uuid.UUID) -> bytes | None:
        """The sealed copy of a new key, or None (logged) when the KEK is unavailable: the key
        then works everywhere but SigV4 until a bearer authentication seals it."""
        if self._box is None:
            return None
        try:
            return self._box.seal(key, key_id)
        except AwsomeChatError as exc:
            log.warning("API key %s stored without its SigV4 copy: %s", key_id, exc)
            return None

    def _refresh_copy(self, key_id: uuid.UUID, blob: bytes | None, key: str) -> None:
        """Seal ``key`` for SigV4 after a bearer authentication proved it, when its row has no
        copy under the current KEK (keys from before migration 0010, or a changed KEK)."""
        if self._box is None:
            return
        try:
            if self._box.is_current(blob):
                return
            sealed = self._box.seal(key, key_id)
        except AwsomeChatError as exc:
            log.warning("cannot seal API key %s for SigV4: %s", key_id, exc)
            return
        with self._db.pool.connection() as conn:
            conn.execute("UPDATE api_keys SET secret_enc = %s WHERE id = %s", (sealed, key_id))


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
