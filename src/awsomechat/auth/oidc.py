"""Single sign-on with OpenID Connect: the login (authorization code flow with PKCE) and the
provider's access tokens as API credentials.

Authlib's OAuth 2.0 client builds the authorization request (``state``, ``nonce``, the S256 code
challenge) and performs the code exchange with client authentication; ``OidcProvider`` verifies
what comes back. Both kinds of sign-in end in ``PgOidcUsers.sync``: the user is created on first
sight and takes the provider's groups (and admin, when configured) every time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from awsomechat.auth.keys_pg import Authenticated
from awsomechat.auth.oidc_tokens import IdentityProviderError, OidcProvider
from awsomechat.auth.oidc_users_pg import PgOidcUsers, ProviderUser, identity_from_claims
from awsomechat.auth.sessions_pg import PendingLogin
from awsomechat.errors import AuthenticationError
from awsomechat.settings import OidcSettings
from awsomechat.types import Principal


@dataclass(frozen=True)
class LoginRequest:
    """Where to send the browser, and what to remember until the callback."""

    url: str
    state: str
    pending: PendingLogin


class OidcService:
    """The configured provider as a sign-in method for the web UI and the API."""

    def __init__(self, settings: OidcSettings, provider: OidcProvider, users: PgOidcUsers) -> None:
        self.settings = settings
        self.provider = provider
        self.users = users

    def _client(self, redirect_url: str) -> OAuth2Client:
        s = self.settings
        secret = s.client_secret.get_secret_value() if s.client_secret else None
        return OAuth2Client(
            client_id=s.client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=" ".join(s.scopes),
            redirect_uri=redirect_url,
            code_challenge_method="S256",
            timeout=s.http_timeout_s,
        )

    # ------------------------------------------------------------------ browser login
    def begin_login(self, redirect_url: str, return_to: str) -> LoginRequest:
        """The authorization request: a fresh state, nonce and PKCE verifier."""
        endpoint = str(self.provider.metadata()["authorization_endpoint"])
        state, nonce, verifier = (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(48),
        )
        with self._client(redirect_url) as client:
            url, _ = client.create_authorization_url(
                endpoint, state=state, nonce=nonce, code_verifier=verifier
            )
        return LoginRequest(url, state, PendingLogin(nonce, verifier, redirect_url, return_to))

    def finish_login(self, code: str, pending: PendingLogin) -> ProviderUser:
        """Exchange the code (with the PKCE verifier), verify the ID token against the login's nonce,
        and bring the user up to date."""
        endpoint = str(self.provider.metadata()["token_endpoint"])
        try:
            with self._client(pending.redirect_url) as client:
                token: dict[str, Any] = client.fetch_token(
                    endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                )
        except OAuthError as exc:
            raise AuthenticationError(
                f"the identity provider refused the sign-in: {exc.error}"
                + (f" ({exc.description})" if exc.description else ""),
                hint="sign in again",
            ) from None
        except Exception as exc:  # httpx transport errors, a non-JSON answer
            raise IdentityProviderError(
                f"the code exchange with the identity provider failed ({type(exc).__name__}: {exc})"
            ) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise AuthenticationError(
                "the identity provider sent no ID token", hint="is 'openid' in auth.oidc.scopes?"
            )
        claims = self.provider.verify_id_token(
            id_token, nonce=pending.nonce, access_token=token.get("access_token")
        )
        return self.users.sync_retrying(identity_from_claims(claims, self.settings), sign_in=True)

    # ------------------------------------------------------------------ API access tokens
    def authenticate_token(self, token: str, *, rate_limit: int = 0) -> Authenticated:
        """The principal of a provider access token (verified, user synced), with the user's rate limit."""
        claims = self.provider.verify_access_token(token)
        user = self.users.sync_retrying(identity_from_claims(claims, self.settings))
        jti = claims.get("jti")
        principal = Principal(
            user_id=user.user_id,
            groups=frozenset(user.groups),
            admin=user.admin,
            key_id=f"oidc:{jti}" if isinstance(jti, str) else "oidc",
        )
        if rate_limit <= 0:
            return Authenticated(principal)
        admitted, in_window, retry_after_s = self.users.take_rate(f"user:{user.user_id}", rate_limit)
        return Authenticated(principal, admitted, in_window, retry_after_s)

    def close(self) -> None:
        self.provider.close()
