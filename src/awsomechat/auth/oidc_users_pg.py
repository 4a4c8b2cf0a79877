"""Provider identities as users: created on first sign-in, groups and admin taken from every token.

A provider subject ``(iss, sub)`` is linked to one ``api_users`` row the first time it is seen
(``oidc_identities``); from then on only that link finds the user, so a name claim can never take
over a user created with ``awsomechat users add``. The groups claim replaces the user's groups on
every sign-in and every access token (a user removed from a group loses its documents at once);
with ``admin_group`` or ``admin_claim`` set, the provider also decides who is an administrator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

from awsomechat.auth.names import GROUP_RE, USER_RE
from awsomechat.errors import AuthenticationError
from awsomechat.settings import OidcSettings
from awsomechat.store.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderIdentity:
    """What the tokens say about a person, already mapped through the settings."""

    subject: str
    names: tuple[str, ...]  # user ids to try for a new user, in order
    display_name: str
    groups: tuple[str, ...]
    admin: bool | None  # None: the provider does not decide (no admin_group / admin_claim)


@dataclass(frozen=True)
class ProviderUser:
    user_id: str
    groups: tuple[str, ...]
    admin: bool


def claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (Keycloak's ``realm_access.roles``)."""
    if name in claims:
        return claims[name]
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _strings(value: Any) -> list[str]:
    """A list claim, or a string of names separated by spaces or commas."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True or value == 1


def identity_from_claims(claims: dict[str, Any], settings: OidcSettings) -> ProviderIdentity:
    """Map verified claims to a ``ProviderIdentity``; group names that are not valid here are dropped."""
    subject = str(claims["sub"])
    groups_raw = _strings(claim(claims, settings.groups_claim))
    groups = tuple(sorted({g for g in groups_raw if GROUP_RE.match(g)}))
    if len(groups) != len(set(groups_raw)):
        log.warning("groups claim %s: ignored names that are not valid group names", settings.groups_claim)
    admin: bool | None = None
    if settings.admin_group or settings.admin_claim:
        admin = bool(settings.admin_group and settings.admin_group in groups_raw) or bool(
            settings.admin_claim and _truthy(claim(claims, settings.admin_claim))
        )
    names = []
    for name_claim in [*settings.username_claims, "sub"]:
        value = subject if name_claim == "sub" else claim(claims, name_claim)
        if isinstance(value, str) and USER_RE.match(value) and value not in names:
            names.append(value)
    display = next(
        (v for v in (claims.get("name"), claims.get("email"), *names) if isinstance(v, str) and v), subject
    )
    return ProviderIdentity(subject, tuple(names), display[:200], groups, admin)


# The linked user with its groups and admin brought up to date: written only when they changed.
_SYNC_SQL = """
WITH i AS (SELECT user_id FROM oidc_identities WHERE issuer = %(iss)s AND subject = %(sub)s),
changed AS (
    UPDATE api_users u SET groups = %(groups)s::text[], admin = coalesce(%(admin)s, u.admin)
    FROM i WHERE u.id = i.user_id
      AND (u.groups IS DISTINCT FROM %(groups)s::text[]
           OR u.admin IS DISTINCT FROM coalesce(%(admin)s, u.admin))
    RETURNING u.id, u.groups, u.admin, u.disabled
)
SELECT * FROM changed
UNION ALL
SELECT u.id, u.groups, u.admin, u.disabled FROM api_users u JOIN i ON u.id = i.user_id
WHERE NOT EXISTS (SELECT 1 FROM changed)
"""


class PgOidcUsers:
    """Users behind provider identities, in the same tables as API-key users."""

    def __init__(self, db: Database, issuer: str) -> None:
        self._db = db
        self._issuer = issuer

    def sync(self, ident: ProviderIdentity, *, sign_in: bool = False) -> ProviderUser:
        """The user of ``ident`` (created on first sight) with the provider's groups and admin."""
        params = {
            "iss": self._issuer,
            "sub": ident.subject,
            "groups": list(ident.groups),
            "admin": ident.admin,
        }
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_SYNC_SQL, params)
            row = cur.fetchone()
            if row is None:
                row = self._create(cur, ident)
            elif sign_in:
                cur.execute(
                    "UPDATE oidc_identities SET seen_at = now() WHERE issuer = %(iss)s AND subject = %(sub)s",
                    params,
                )
        if row["disabled"]:
            raise AuthenticationError(
                f"user {row['id']!r} is disabled",
                hint="ask an administrator: awsomechat users update --enable",
            )
        return ProviderUser(row["id"], tuple(row["groups"]), bool(row["admin"]))

    def _create(self, cur: Any, ident: ProviderIdentity) -> dict[str, Any]:
        """A new user under the first free name, linked to the identity, in one transaction."""
        conn = cur.connection
        with conn.transaction():
            for name in ident.names:
                cur.execute(
                    "INSERT INTO api_users (id, display_name, groups, admin) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING RETURNING id, groups, admin, disabled",
                    (name, ident.display_name, list(ident.groups), bool(ident.admin)),
                )
                row = cur.fetchone()
                if row is None:
                    continue  # the name belongs to someone else: never reuse it
                cur.execute(
                    "INSERT INTO oidc_identities (issuer, subject, user_id) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING RETURNING user_id",
                    (self._issuer, ident.subject, name),
                )
                if cur.fetchone() is None:  # another request linked this identity a moment ago
                    raise _Raced()
                log.info("new user %s for %s subject %s", name, self._issuer, ident.subject)
                return dict(row)
        raise AuthenticationError(
            "no free user name for this identity (every candidate is taken by another user)",
            hint="an administrator can free one with `awsomechat users remove`",
        )

    def take_rate(self, subject: str, limit: int) -> tuple[bool, int, float]:
        """One request from ``subject``'s limit per 60 s (``api_rate_take``, as for API keys)."""
        with self._db.pool.connection() as conn:
            row = conn.execute(
                "SELECT admitted, in_window, retry_after_s FROM api_rate_take(%s, %s)", (subject, limit)
            ).fetchone()
        assert row is not None
        return bool(row[0]), int(row[1]), float(row[2])

    def sync_retrying(self, ident: ProviderIdentity, *, sign_in: bool = False) -> ProviderUser:
        try:
            return self.sync(ident, sign_in=sign_in)
        except _Raced:
            return self.sync(ident, sign_in=sign_in)


class _Raced(Exception):
    """Two first requests of one identity at once: the loser reads what the winner wrote."""
