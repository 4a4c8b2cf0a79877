"""From verified claims to a user (groups, admin, names) and the validation of ``auth.oidc``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import Request

from awsomechat.api.routes.auth import _redirect_url, _safe_return_to, _secure
from awsomechat.auth.oidc_users_pg import identity_from_claims
from awsomechat.errors import ConfigError
from awsomechat.settings import OidcSettings, load_settings

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI"


def oidc(**kw: object) -> OidcSettings:
    return OidcSettings(issuer=ISSUER, client_id="app", **kw)  # type: ignore[arg-type]


def test_cognito_groups_become_access_groups_and_the_admin_group_an_admin() -> None:
    s = oidc(groups_claim="cognito:groups", admin_group="awsomechat-admins")
    claims = {"sub": "4f1c", "cognito:username": "alice", "cognito:groups": ["finance", "awsomechat-admins"]}
    ident = identity_from_claims(claims, s)
    assert ident.groups == ("awsomechat-admins", "finance")
    assert ident.admin is True
    assert ident.names == ("alice", "4f1c")
    # No claim at all (Cognito leaves it out for a user in no group): no groups, not admin.
    bare = identity_from_claims({"sub": "4f1c", "username": "alice"}, s)
    assert (bare.groups, bare.admin, bare.names) == ((), False, ("alice", "4f1c"))


def test_without_admin_settings_the_provider_does_not_decide_admin() -> None:
    assert identity_from_claims({"sub": "x", "groups": ["admins"]}, oidc()).admin is None


def test_nested_string_and_invalid_group_claims() -> None:
    nested = {"sub": "k1", "realm_access": {"roles": ["finance", "offline access", "hr"]}}
    assert identity_from_claims(nested, oidc(groups_claim="realm_access.roles")).groups == ("finance", "hr")
    spaced = {"sub": "k1", "groups": "finance, hr  legal"}
    assert identity_from_claims(spaced, oidc()).groups == ("finance", "hr", "legal")
    assert identity_from_claims({"sub": "k1", "groups": 42}, oidc()).groups == ()


def test_an_admin_claim_counts_only_when_true() -> None:
    s = oidc(admin_claim="custom:admin")
    assert identity_from_claims({"sub": "a", "custom:admin": "true"}, s).admin is True
    assert identity_from_claims({"sub": "a", "custom:admin": "false"}, s).admin is False
    assert identity_from_claims({"sub": "a"}, s).admin is False


def test_names_that_are_not_valid_user_names_are_skipped() -> None:
    ident = identity_from_claims(
        {"sub": "00u1", "preferred_username": "Ann Smith", "email": "ann@example.com", "name": "Ann Smith"},
        oidc(),
    )
    assert ident.names == ("ann@example.com", "00u1")
    assert ident.display_name == "Ann Smith"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"issuer": "http://idp.example.com", "client_id": "a"}, "must use https"),
        ({"issuer": ISSUER}, "client_id is required"),
        ({"issuer": ISSUER, "client_id": "a", "scopes": ["email"]}, "scopes must include openid"),
        ({"issuer": ISSUER, "client_id": "a", "algorithms": ["HS256"]}, "asymmetric"),
        ({"issuer": ISSUER, "client_id": "a", "redirect_urls": ["http://chat.example.com/cb"]}, "https"),
    ],
)
def test_bad_oidc_settings_fail_at_start_naming_the_setting(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(auth={"oidc": values})
    assert "AWSOMECHAT_AUTH__OIDC" in str(err.value)
    assert message in str(err.value)


def test_sso_is_off_by_default_and_secrets_are_masked() -> None:
    s = load_settings(auth={"oidc": {"issuer": ISSUER + "/", "client_id": "a", "client_secret": "s3cret"}})
    assert s.auth.oidc.issuer == ISSUER  # trailing slash dropped: compared with the tokens' iss
    assert "s3cret" not in str(s.model_dump(mode="json"))
    assert not load_settings().auth.oidc.enabled


def _request(scheme: str, host: str) -> Request:
    return Request({"type": "http", "scheme": scheme, "server": (host, 80), "path": "/", "headers": []})


def _ctx(**oidc_kw: object) -> Any:
    settings = load_settings(auth={"oidc": {"issuer": ISSUER, "client_id": "a", **oidc_kw}})
    return SimpleNamespace(settings=settings)


def test_cookies_are_secure_behind_a_tls_proxy_and_the_callback_follows_the_host() -> None:
    ctx = _ctx(redirect_urls=["https://chat.example.com/auth/oidc/callback", "https://b.example.com/cb"])
    behind_proxy = _request("http", "chat.example.com")  # TLS ended at the load balancer
    url = _redirect_url(behind_proxy, ctx)
    assert url == "https://chat.example.com/auth/oidc/callback"
    assert _secure(behind_proxy, ctx, url) is True
    assert _redirect_url(_request("http", "b.example.com"), ctx) == "https://b.example.com/cb"
    local = _ctx()
    assert _redirect_url(_request("http", "127.0.0.1"), local) == "http://127.0.0.1/auth/oidc/callback"
    assert _secure(_request("http", "127.0.0.1"), local, "http://127.0.0.1/auth/oidc/callback") is False


@pytest.mark.parametrize(
    ("value", "kept"),
    [("/#/chat/1", "/#/chat/1"), ("//evil.example", "/"), ("/\\evil.example", "/"), ("https://e.x/", "/"),
     ("/a\nb", "/"), (None, "/")],
)  # fmt: skip
def test_return_to_is_a_path_on_this_site(value: str | None, kept: str) -> None:
    assert _safe_return_to(value) == kept
