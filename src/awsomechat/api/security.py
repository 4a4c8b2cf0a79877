"""Who is calling: ``Authorization: Bearer <key>``, or local single-user mode on loopback.

The principal (user id, groups, admin) comes only from here; request bodies never name a user
or groups. Every authenticated request counts against its key's limit over any 60 seconds,
shared by all replicas through the database.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from awsomechat.api.context import ApiContext, get_context
from awsomechat.api.problems import ApiProblem, store_unavailable
from awsomechat.errors import AuthenticationError, PermissionDeniedError
from awsomechat.settings import is_loopback_host
from awsomechat.types import Principal

_KEY_HINT = "send 'Authorization: Bearer awc_...' with a key from `awsomechat keys create`"


def _local_principal(request: Request, ctx: ApiContext) -> Principal | None:
    api = ctx.settings.api
    client = request.client.host if request.client else ""
    if api.local_mode and is_loopback_host(client):
        return Principal(user_id=api.local_user, admin=True)
    return None


# Declares the scheme in OpenAPI ("Authorize" in /docs); the header is checked below, with clearer errors.
_bearer = HTTPBearer(auto_error=False, description="an API key from `awsomechat keys create`")


def current_principal(
    request: Request,
    ctx: Annotated[ApiContext, Depends(get_context)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Principal:
    """The authenticated caller (401 without a valid key, 429 past the per-key rate)."""
    if ctx.database_recently_failed():
        raise store_unavailable(ctx.settings.api.retry_after_s)
    header = request.headers.get("authorization", "")
    if not header:
        local = _local_principal(request, ctx)
        if local is not None:
            request.state.principal = local
            return local
        raise AuthenticationError("this endpoint needs an API key", hint=_KEY_HINT)
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <key>'", hint=_KEY_HINT)
    limit = ctx.settings.api.rate_limit_per_minute
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
