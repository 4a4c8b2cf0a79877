"""Web UI sign-in with the organisation's identity provider (OpenID Connect), the session, sign-out.

``/auth/oidc/login`` sends the browser to the provider (authorization code flow with PKCE);
``/auth/oidc/callback`` checks what comes back, creates or updates the user and sets the session
cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over https). The session lives in PostgreSQL,
so any replica serves it. API clients do not need these routes: they send the provider's access
token (or an API key) as ``Authorization: Bearer``.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import urllib.parse

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from awsomechat.api.problems import ApiProblem
from awsomechat.api.security import CSRF_HEADER, SESSION_COOKIE, Context, CurrentPrincipal
from awsomechat.auth.oidc_tokens import IdentityProviderError
from awsomechat.auth.sessions_pg import LOGIN_TTL_S
from awsomechat.errors import AuthenticationError

log = logging.getLogger(__name__)
router = APIRouter(tags=["auth"])

LOGIN_COOKIE = "awc_login"
_CALLBACK_PATH = "/auth/oidc/callback"


class AuthConfigOut(BaseModel):
    """How a person can sign in here."""

    oidc: bool
    provider_name: str = ""
    login_url: str = ""


class SessionOut(BaseModel):
    """The signed-in person of this browser session, and the token for changes (``X-CSRF-Token``)."""

    user_id: str
    groups: list[str]
    admin: bool
    csrf_token: str
    csrf_header: str = CSRF_HEADER
    expires_at: dt.datetime | None


def _secure(request: Request, ctx: Context, redirect_url: str = "") -> bool:
    """Secure cookies over https: the request's scheme, or the registered callback's (behind a
    proxy that terminates TLS the request itself arrives over http)."""
    forced = ctx.settings.auth.cookie_secure
    if forced is not None:
        return forced
    return request.url.scheme == "https" or redirect_url.startswith("https://")


def _safe_return_to(value: str | None) -> str:
    """Only a path on this site (never ``//host`` or ``/\\host``): no open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or len(value) > 2000:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


def _redirect_url(request: Request, ctx: Context) -> str:
    """The registered callback on this request's host (else the first registered one)."""
    urls = ctx.settings.auth.oidc.redirect_urls
    for url in urls:
        if urllib.parse.urlsplit(url).netloc == request.url.netloc:
            return url
    return urls[0] if urls else f"{request.url.scheme}://{request.url.netloc}{_CALLBACK_PATH}"


def _back_to_signin(message: str) -> RedirectResponse:
    """The web UI's sign-in page, which shows ``message``."""
    response = RedirectResponse("/?" + urllib.parse.urlencode({"sso_error": message}), status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/auth/oidc")
    return response


def _require_oidc(ctx: Context) -> None:
    if not ctx.settings.auth.oidc.enabled:
        raise ApiProblem(404, "single sign-on is not configured here (auth.oidc.issuer)", code="sso-off")


@router.get("/auth/config", response_model=AuthConfigOut)
def auth_config(ctx: Context) -> AuthConfigOut:
    """Whether the web UI offers single sign-on, and under which name."""
    oidc = ctx.settings.auth.oidc
    if not oidc.enabled:
        return AuthConfigOut(oidc=False)
    return AuthConfigOut(oidc=True, provider_name=oidc.provider_name, login_url="/auth/oidc/login")


@router.get("/auth/oidc/login", status_code=302, responses={302: {"description": "to the identity provider"}})
def oidc_login(request: Request, ctx: Context, return_to: str | None = None) -> Response:
    """Start a sign-in: redirect to the identity provider (state, nonce, PKCE S256 challenge)."""
    _require_oidc(ctx)
    try:
        login = ctx.container.oidc.begin_login(_redirect_url(request, ctx), _safe_return_to(return_to))
    except IdentityProviderError as exc:
        log.warning("sign-in could not start: %s", exc)
        return _back_to_signin("The identity provider cannot be reached. Try again in a moment.")
    browser = secrets.token_urlsafe(32)
    ctx.container.sessions.begin_login(login.state, browser, login.pending)
    response = RedirectResponse(login.url, status_code=302)
    response.set_cookie(
        LOGIN_COOKIE, browser, max_age=LOGIN_TTL_S, path="/auth/oidc",
        secure=_secure(request, ctx, login.pending.redirect_url),
        httponly=True, samesite="lax",  # lax: sent on the provider's redirect back (a top-level GET)
    )  # fmt: skip
    return response


@router.get(_CALLBACK_PATH, status_code=303, responses={303: {"description": "into the web UI"}})
def oidc_callback(
    request: Request,
    ctx: Context,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    iss: str | None = None,
) -> Response:
    """The provider's answer: check state (and that this browser started the login), exchange the
    code, verify the ID token, sync the user's groups and start a session."""
    _require_oidc(ctx)
    browser = request.cookies.get(LOGIN_COOKIE, "")
    pending = ctx.container.sessions.finish_login(state, browser) if state and browser else None
    if error:
        log.info("sign-in refused by the provider: %s %s", error, error_description or "")
        return _back_to_signin(f"The identity provider did not sign you in ({error}).")
    if pending is None or not code:
        return _back_to_signin("That sign-in link has expired or was started elsewhere. Sign in again.")
    if iss is not None and iss.rstrip("/") != ctx.settings.auth.oidc.issuer:  # RFC 9207: mix-up defence
        return _back_to_signin("The answer came from another identity provider. Sign in again.")
    try:
        user = ctx.container.oidc.finish_login(code, pending)
    except AuthenticationError as exc:
        log.warning("sign-in failed: %s", exc)
        return _back_to_signin(f"Sign-in failed: {exc.message}.")
    except IdentityProviderError as exc:
        log.warning("sign-in failed: %s", exc)
        return _back_to_signin("The identity provider cannot be reached. Try again in a moment.")
    hours = ctx.settings.auth.session_hours
    token, _csrf = ctx.container.sessions.create(user.user_id, hours=hours)
    log.info("signed in %s with groups %s", user.user_id, ",".join(user.groups) or "-")
    response = RedirectResponse(pending.return_to, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(hours * 3600), path="/",
        secure=_secure(request, ctx, pending.redirect_url),
        httponly=True, samesite="strict",
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/auth/oidc")
    return response


@router.get("/auth/session", response_model=SessionOut, responses={401: {"description": "no session"}})
def session_info(request: Request, ctx: Context) -> SessionOut:
    """The session of this browser's cookie, with its CSRF token (``X-CSRF-Token`` on changes)."""
    token = request.cookies.get(SESSION_COOKIE)
    auth = ctx.container.sessions.authenticate(token) if token else None
    if auth is None:
        raise AuthenticationError("not signed in", hint="sign in with single sign-on")
    p = auth.principal
    return SessionOut(
        user_id=p.user_id, groups=sorted(p.groups), admin=p.admin, csrf_token=auth.csrf_token,
        expires_at=auth.expires_at,
    )  # fmt: skip


@router.post("/auth/logout", status_code=204, responses={403: {"description": "no CSRF token"}})
def logout(request: Request, ctx: Context, _principal: CurrentPrincipal) -> Response:
    """End this browser's session (the cookie is cleared and the session deleted everywhere)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        ctx.container.sessions.delete(token)
    response = Response(status_code=204)
    secure = _secure(request, ctx, _redirect_url(request, ctx))
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    return response
