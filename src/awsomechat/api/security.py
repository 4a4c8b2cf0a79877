"""Who is calling: ``Authorization: Bearer <key>`` (an API key, or the identity provider's JWT
access token when single sign-on is configured), a web UI session cookie, or local single-user
mode on loopback.

The principal (user id, groups, admin) comes only from here; request bodies never name a user
or groups. Every authenticated request counts against its key's (or its user's, for tokens and
sessions) limit over any 60 seconds, shared by all replicas through the database. A request
authenticated by the session cookie that changes anything must carry the session's CSRF token in
``X-CSRF-Token``: a cookie is sent by the browser whoever made the page, the header is not.
"""

from __future__ import annotations

import math
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from awsomechat.api.context import ApiContext, get_context
from awsomechat.api.problems import ApiProblem, store_unavailable
from awsomechat.auth.keys_pg import Authenticated
from awsomechat.errors import AuthenticationError, PermissionDeniedError
from awsomechat.settings import is_loopback_host
from awsomechat.types import Principal

_KEY_HINT = "send 'Authorization: Bearer awc_...' with a key from `awsomechat keys create`"
SESSION_COOKIE = "awc_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _is_jwt(credential: str) -> bool:
    """An API key never contains dots; a JWS in compact form has exactly two."""
    return not credential.startswith("awc_") and credential.count(".") == 2


def _token_principal(ctx: ApiContext, token: str, limit: int) -> Authenticated:
    from awsomechat.auth.oidc_tokens import IdentityProviderError

    try:
        return ctx.container.oidc.authenticate_token(token, rate_limit=limit)
    except IdentityProviderError as exc:
        raise ApiProblem(
            503, f"{exc.message}; try again shortly", retry_after=ctx.settings.api.retry_after_s,
            code="identity-provider-unavailable",
        ) from None  # fmt: skip


def _session_principal(request: Request, ctx: ApiContext, token: str) -> Authenticated | None:
    """The web UI session of the cookie (None: not a live session); CSRF-checked for changes."""
    auth = ctx.container.sessions.authenticate(token, rate_limit=ctx.settings.api.rate_limit_per_minute)
    if auth is None:
        return None
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not secrets.compare_digest(sent.encode(), auth.csrf_token.encode()):
            raise ApiProblem(
                403,
                f"this request needs the session's CSRF token in the {CSRF_HEADER} header",
                code="csrf-token-missing" if not sent else "csrf-token-invalid",
            )
    return auth


def _local_principal(request: Request, ctx: ApiContext) -> Principal | None:
    api = ctx.settings.api
    client = request.client.host if request.client else ""
    if api.local_mode and is_loopback_host(client):
        return Principal(user_id=api.local_user, admin=True)
    return None


# Declares the scheme in OpenAPI ("Authorize" in /docs); the header is checked below, with clearer errors.
_bearer = HTTPBearer(
    auto_error=False,
    description="an API key from `awsomechat keys create`, or the identity provider's access token (SSO)",
)


def current_principal(
    request: Request,
    ctx: Annotated[ApiContext, Depends(get_context)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Principal:
    """The authenticated caller (401 without a valid key, 429 past the per-key rate)."""
    if ctx.database_recently_failed():
        raise store_unavailable(ctx.settings.api.retry_after_s)
    header = request.headers.get("authorization", "")
    limit = ctx.settings.api.rate_limit_per_minute
    auth: Authenticated | None = None
    if not header:
        session = request.cookies.get(SESSION_COOKIE)
        auth = _session_principal(request, ctx, session) if session else None
        if auth is None:
            local = _local_principal(request, ctx)
            if local is not None:
                request.state.principal = local
                return local
            if session:
                raise AuthenticationError("your session has ended", hint="sign in again")
            raise AuthenticationError("this endpoint needs an API key", hint=_KEY_HINT)
    else:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer <key>'", hint=_KEY_HINT)
        if ctx.settings.auth.oidc.enabled and _is_jwt(key.strip()):
            auth = _token_principal(ctx, key.strip(), limit)
        else:
            auth = ctx.container.keys.authenticate(key.strip(), rate_limit=limit)
    request.state.principal = auth.principal
    if not auth.admitted:
        ctx.metrics.rejected.labels("rate_limit").inc()
        raise ApiProblem(
            429,
            f"rate limit of {limit} requests per minute for this key reached",
            retry_after=max(1, math.ceil(auth.retry_after_s)),
            code="rate-limited",
        )
    return auth.principal


def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """The caller, who must be an administrator."""
    if not principal.admin:
        raise PermissionDeniedError("this action needs an administrator's key")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
Context = Annotated[ApiContext, Depends(get_context)]
