"""An OpenID provider as this application sees it: discovery, signing keys, token verification.

Protocol work is done by kept libraries: joserfc verifies JWS signatures and the registered claims
(``exp``, ``nbf``, ``iat``, ``iss``), Authlib's ``CodeIDToken`` the ID token's own rules (audience,
``azp``, ``nonce``, ``at_hash``). This module only chooses what to trust: the issuer from
settings (the discovery document must name the same one), asymmetric algorithms only, and the
provider's key set, fetched again when a token names a key id it does not hold (key rotation) but
at most once per ``jwks_refresh_min_s`` so that made-up key ids cannot make it hammer the provider.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from awsomechat.errors import AuthenticationError, AwsomeChatError
from awsomechat.settings import OidcSettings

log = logging.getLogger(__name__)

_TOKEN_HINT = "sign in again at the identity provider for a new token"


class IdentityProviderError(AwsomeChatError):
    """The identity provider could not be reached or answered nonsense (a 503 at the edge)."""


class OidcProvider:
    """Discovery metadata and keys of the configured issuer, cached per process, thread-safe."""

    def __init__(self, settings: OidcSettings, http: httpx.Client | None = None) -> None:
        if not settings.issuer:
            raise AwsomeChatError("single sign-on is not configured", hint="set auth.oidc.issuer")
        self.settings = settings
        self.issuer: str = settings.issuer
        self._http = http or httpx.Client(timeout=settings.http_timeout_s, follow_redirects=False)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = -1e9

    # ------------------------------------------------------------------ provider documents
    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            r = self._http.get(url, headers={"Accept": "application/json"})
            r.raise_for_status()
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise IdentityProviderError(
                f"the identity provider's {what} could not be read ({type(exc).__name__}: {exc})",
                hint=f"check auth.oidc.issuer ({self.issuer}) and that the provider is reachable",
            ) from None
        if not isinstance(body, dict):
            raise IdentityProviderError(f"the identity provider's {what} is not a JSON object")
        return body

    def metadata(self) -> dict[str, Any]:
        """The discovery document (``<issuer>/.well-known/openid-configuration``)."""
        with self._lock:
            fresh = time.monotonic() - self._metadata_at < self.settings.metadata_cache_s
            if self._metadata is not None and fresh:
                return self._metadata
        doc = self._get_json(f"{self.issuer}/.well-known/openid-configuration", "discovery document")
        if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
            # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
            raise IdentityProviderError(
                f"the discovery document names issuer {doc.get('issuer')!r}, not {self.issuer!r}",
                hint="set auth.oidc.issuer to the provider's exact issuer URL",
            )
        for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(needed), str):
                raise IdentityProviderError(f"the discovery document has no {needed}")
        with self._lock:
            self._metadata, self._metadata_at = doc, time.monotonic()
        return doc

    def key_set(self, *, unknown_kid: str | None = None) -> KeySet:
        """The provider's public keys; fetched again when stale, or for a key id not in the set
        (a rotation), at most once per ``jwks_refresh_min_s``."""
        now = time.monotonic()
        with self._lock:
            keys, age = self._keys, now - self._keys_at
        stale = keys is None or age >= self.settings.metadata_cache_s
        rotated = unknown_kid is not None and age >= self.settings.jwks_refresh_min_s
        if not (stale or rotated):
            assert keys is not None
            return keys
        body = self._get_json(str(self.metadata()["jwks_uri"]), "key set (jwks_uri)")
        try:
            fetched = KeySet.import_key_set(body)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise IdentityProviderError(f"the identity provider's key set is not valid: {exc}") from None
        with self._lock:
            self._keys, self._keys_at = fetched, time.monotonic()
        if unknown_kid is not None:
            log.info("identity provider keys fetched again for key id %s", unknown_kid)
        return fetched

    # ------------------------------------------------------------------ verification
    def _algorithms(self, advertised_key: str) -> list[str]:
        advertised = self.metadata().get(advertised_key)
        allowed = self.settings.algorithms
        if isinstance(advertised, list):
            return [a for a in allowed if a in advertised] or allowed
        return allowed

    def _decode(self, token: str, algorithms: list[str], what: str) -> jwt.Token:
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        try:
            try:
                return jwt.decode(token, self.key_set(), algorithms=algorithms, registry=registry)
            except InvalidKeyIdError:
                kid = _unverified_kid(token)
                return jwt.decode(
                    token, self.key_set(unknown_kid=kid), algorithms=algorithms, registry=registry
                )
        except JoseError as exc:
            raise AuthenticationError(f"the {what} is not valid: {_reason(exc)}", hint=_TOKEN_HINT) from None
        except (ValueError, TypeError) as exc:  # not a JWS at all
            raise AuthenticationError(f"the {what} is malformed ({exc})", hint=_TOKEN_HINT) from None

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a JWT access token of this provider for this application, or
        AuthenticationError: bad signature, another issuer, expired, not yet valid, another audience,
        or not an access token (an ID token is not a credential for the API)."""
        s = self.settings
        decoded = self._decode(token, s.algorithms, "access token")
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=s.leeway_s, iss={"essential": True, "value": self.issuer}, exp={"essential": True}
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise AuthenticationError(
                f"the access token is not valid: {_reason(exc)}", hint=_TOKEN_HINT
            ) from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise AuthenticationError("the access token names no subject (sub)", hint=_TOKEN_HINT)
        if claims.get("token_use") not in (None, "access") or "nonce" in claims:
            raise AuthenticationError(
                "that is an ID token; the API takes the provider's access token", hint=_TOKEN_HINT
            )
        aud = claims.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if s.audiences and audiences & set(s.audiences):
            return claims
        if not audiences and claims.get("client_id") in {s.client_id, *s.audiences}:
            return claims  # Amazon Cognito: no aud in access tokens, the app client in client_id
        wanted = ", ".join(s.audiences) or f"client_id {s.client_id}"
        got = ", ".join(sorted(audiences)) or "none"
        raise AuthenticationError(
            f"the access token is for another audience ({got}), not {wanted}",
            hint="request a token for this API (auth.oidc.audiences)",
        )

    def verify_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """The claims of the ID token from a code exchange: signature, issuer, audience (this client),
        expiry, and the nonce of the login that asked for it."""
        algorithms = self._algorithms("id_token_signing_alg_values_supported")
        decoded = self._decode(id_token, algorithms, "ID token")
        params: dict[str, Any] = {"nonce": nonce, "client_id": self.settings.client_id}
        if access_token:
            params["access_token"] = access_token
        options = {"iss": {"essential": True, "values": [self.issuer]}}
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(leeway=self.settings.leeway_s)
        except Exception as exc:  # authlib.jose.errors.JoseError and kin: every one means "refused"
            raise AuthenticationError(
                f"the ID token is not valid: {getattr(exc, 'description', None) or exc}",
                hint="sign in again",
            ) from None
        return dict(claims)

    def close(self) -> None:
        self._http.close()


def _unverified_kid(token: str) -> str:
    from joserfc.jws import extract_compact

    try:
        return str(extract_compact(token.encode()).headers().get("kid", ""))
    except (JoseError, ValueError):
        return ""


def _reason(exc: JoseError) -> str:
    """joserfc's error in words (``ExpiredTokenError`` -> 'expired_token: ...')."""
    description = getattr(exc, "description", "") or str(exc)
    return f"{exc.error}: {description}" if getattr(exc, "error", "") else description
