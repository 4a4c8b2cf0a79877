"""Single sign-on against a real OpenID provider (oidc-provider on loopback): the provider's access
tokens as API credentials, groups from the directory, the web sign-in flow with its session cookie,
CSRF protection, sign-out, and refusals (tampered, expired, wrong audience, foreign key, rotation)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.oidc.provider import API_AUDIENCE, OTHER_AUDIENCE
from tests.oidc.sso_server import ADMIN_GROUP, PAYROLL_Q, SsoServer, browser_login

pytestmark = pytest.mark.security


def bearer(sso: SsoServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=sso.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def finds_payroll(client: httpx.Client, headers: dict[str, str] | None = None) -> bool:
    r = client.post("/v1/query", json={"query": PAYROLL_Q, "page_size": 50}, headers=headers or {})
    assert r.status_code == 200, r.text
    return any(h["title"] == "Payroll calendar" for h in r.json()["results"])


def person(sso: SsoServer, groups: list[str], *, name: str = "user") -> str:
    username = f"{name}{uuid.uuid4().hex[:6]}"
    sso.provider.set_user(username, groups)
    return username


# ------------------------------------------------------------------ API access tokens


def test_an_access_token_is_an_api_credential_and_groups_follow_the_directory(sso: SsoServer) -> None:
    alice = person(sso, ["finance"], name="alice")
    with bearer(sso, sso.provider.access_token(alice)) as c:
        me = c.get("/v1/me").json()
        assert me == {"user_id": alice, "groups": ["finance"], "admin": False, "local_mode": False}
        assert finds_payroll(c)
    # Created on first sight, linked to the provider's subject.
    assert sso.server.keys.get_user(alice).groups == ("finance",)

    sso.provider.set_user(alice, ["engineering"])  # removed from finance in the directory
    with bearer(sso, sso.provider.access_token(alice)) as c:
        assert c.get("/v1/me").json()["groups"] == ["engineering"]
        assert not finds_payroll(c)


def test_the_admin_group_makes_an_administrator_and_leaving_it_ends_that(sso: SsoServer) -> None:
    dana = person(sso, [ADMIN_GROUP], name="dana")
    with bearer(sso, sso.provider.access_token(dana)) as c:
        assert c.get("/v1/me").json()["admin"] is True
        assert c.delete("/v1/documents/999999").status_code == 404  # admin-only: past the check
    sso.provider.set_user(dana, [])
    with bearer(sso, sso.provider.access_token(dana)) as c:
        assert c.get("/v1/me").json()["admin"] is False
        assert c.delete("/v1/documents/999999").status_code == 403


def test_api_keys_keep_working_beside_tokens(sso: SsoServer) -> None:
    with sso.server.client(sso.server.admin_key) as c:
        assert c.get("/v1/me").json()["user_id"] == "admin"
    r = httpx.get(f"{sso.url}/v1/me", headers={"Authorization": "Bearer awc_aaaaaaaa_" + "x" * 32})
    assert r.status_code == 401


def test_a_local_user_is_never_taken_over_by_a_provider_name(sso: SsoServer) -> None:
    name = f"carol{uuid.uuid4().hex[:6]}"
    key = sso.server.create_user(name, groups=("finance",))
    sso.provider.set_user(name, [])  # the provider has a "carol" too: another person
    with bearer(sso, sso.provider.access_token(name)) as c:
        me = c.get("/v1/me").json()
    # Another name (the access token has no e-mail: the subject), never the local user's.
    assert me["user_id"] == sso.provider.sub(name)
    with sso.server.client(key) as c:
        assert c.get("/v1/me").json() == {
            "user_id": name, "groups": ["finance"], "admin": False, "local_mode": False
        }  # fmt: skip


def test_tampered_foreign_and_wrong_audience_tokens_are_refused(sso: SsoServer) -> None:
    bob = person(sso, ["finance"], name="bob")
    good = sso.provider.access_token(bob)
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, RSAKey.import_key(sso.provider.keys[0])).claims

    # One claim changed (groups widened), signature kept.
    forged_claims = jwt.encode(
        {"alg": "RS256"}, {**claims, "groups": ["finance", "hr"]}, RSAKey.generate_key()
    )
    tampered = f"{header}.{forged_claims.split('.')[1]}.{signature}"
    # Signed by a key of our own under the provider's key id.
    foreign_key = RSAKey.generate_key(2048, parameters={"kid": sso.provider.signing_kid})
    foreign = jwt.encode(
        {"alg": "RS256", "kid": sso.provider.signing_kid, "typ": "at+jwt"}, claims, foreign_key
    )
    # The provider's own token, for another API.
    other = sso.provider.access_token(bob, audience=OTHER_AUDIENCE)
    # No algorithm at all.
    unsigned = f"{header}.{payload}."

    for token, why in (
        (tampered, "not valid"),
        (foreign, "not valid"),
        (other, "another audience"),
        (unsigned, ""),
        (good[:-4], "not valid"),
    ):
        r = httpx.get(f"{sso.url}/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (why, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert why in r.json()["detail"], r.json()
    with bearer(sso, good) as c:
        assert c.get("/v1/me").status_code == 200
    assert API_AUDIENCE in sso.server.env["AWSOMECHAT_AUTH__OIDC__AUDIENCES"]


def test_an_id_token_is_not_an_api_credential(sso: SsoServer) -> None:
    ian = person(sso, ["finance"], name="ian")
    id_token = sso.provider.tokens(ian)["id_token"]
    r = httpx.get(f"{sso.url}/v1/me", headers={"Authorization": f"Bearer {id_token}"})
    assert r.status_code == 401
    assert "ID token" in r.json()["detail"]


def test_an_expired_token_is_refused(sso: SsoServer) -> None:
    erin = person(sso, ["finance"], name="erin")
    sso.provider.set_access_token_ttl(2)
    try:
        token = sso.provider.access_token(erin)
    finally:
        sso.provider.set_access_token_ttl(3600)
    with bearer(sso, token) as c:
        assert c.get("/v1/me").status_code == 200
        time.sleep(4.5)  # 2 s of life + 1 s of allowed clock skew, and a margin
        r = c.get("/v1/me")
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


# ------------------------------------------------------------------ the web sign-in


def test_browser_sign_in_session_csrf_and_sign_out(sso: SsoServer) -> None:
    frank = person(sso, ["finance"], name="frank")
    client, landed = browser_login(sso, frank)
    assert landed == f"{sso.url}/#/chat"
    cookie = next(c for c in client.cookies.jar if c.name == "awc_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert not cookie.secure  # plain http on loopback; Secure over https
    session = client.get("/auth/session").json()
    assert session["user_id"] == frank
    assert session["groups"] == ["finance"]
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    assert client.get("/v1/me").json()["user_id"] == frank

    # A change without the session's CSRF token (what a forged cross-site form would send) is refused.
    r = client.post("/v1/query", json={"query": PAYROLL_Q})
    assert r.status_code == 403 and r.json()["type"].endswith("csrf-token-missing")
    r = client.post("/v1/query", json={"query": PAYROLL_Q}, headers={"X-CSRF-Token": "x" * 43})
    assert r.status_code == 403 and r.json()["type"].endswith("csrf-token-invalid")
    assert finds_payroll(client, csrf)

    assert client.post("/auth/logout").status_code == 403  # sign-out is a change too
    assert client.post("/auth/logout", headers=csrf).status_code == 204
    assert client.get("/v1/me").status_code == 401
    # The old cookie, replayed, is dead everywhere (the session is gone from the database).
    r = httpx.get(f"{sso.url}/v1/me", cookies={"awc_session": cookie.value or ""})
    assert r.status_code == 401
    assert "session has ended" in r.json()["detail"]


def test_a_group_removed_in_the_directory_is_gone_at_the_next_sign_in(sso: SsoServer) -> None:
    gina = person(sso, ["finance"], name="gina")
    first, _ = browser_login(sso, gina)
    csrf = {"X-CSRF-Token": first.get("/auth/session").json()["csrf_token"]}
    assert finds_payroll(first, csrf)
    sso.provider.set_user(gina, [])
    second, _ = browser_login(sso, gina)
    csrf2 = {"X-CSRF-Token": second.get("/auth/session").json()["csrf_token"]}
    assert second.get("/v1/me").json()["groups"] == []
    assert not finds_payroll(second, csrf2)
    # The user's groups changed for every session of theirs, not only the new one.
    assert not finds_payroll(first, csrf)


def test_a_callback_not_started_by_this_browser_is_refused(sso: SsoServer) -> None:
    hal = person(sso, [], name="hal")
    with httpx.Client(base_url=sso.url, timeout=60) as attacker:
        r = attacker.get("/auth/oidc/login")
        state = httpx.URL(r.headers["location"]).params["state"]
    # The victim's browser gets the callback without the login cookie of the browser that started it.
    with httpx.Client(base_url=sso.url, timeout=60) as victim:
        r = victim.get("/auth/oidc/callback", params={"code": "whatever", "state": state})
        assert r.status_code == 303
        assert r.headers["location"].startswith("/?sso_error=")
        assert "awc_session" not in victim.cookies
    # Nor is a made-up state accepted, nor an error answer from the provider.
    client, _ = browser_login(sso, hal)
    r = client.get("/auth/oidc/callback", params={"code": "x", "state": "made-up"})
    assert r.headers["location"].startswith("/?sso_error=")
    r = client.get("/auth/oidc/callback", params={"error": "access_denied"})
    assert "access_denied" in httpx.URL(r.headers["location"]).params["sso_error"]


def test_return_to_never_leaves_the_site(sso: SsoServer) -> None:
    with httpx.Client(base_url=sso.url, timeout=60) as c:
        for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
            c.get("/auth/oidc/login", params={"return_to": evil})
        with sso.server.container.database.pool.connection() as conn:
            rows = conn.execute("SELECT DISTINCT return_to FROM oidc_logins").fetchall()
    assert {r[0] for r in rows} <= {"/", "/#/chat"}


def test_auth_config_tells_the_ui_how_to_sign_in(sso: SsoServer) -> None:
    assert httpx.get(f"{sso.url}/auth/config").json() == {
        "oidc": True, "provider_name": "Test IdP", "login_url": "/auth/oidc/login"
    }  # fmt: skip


# ------------------------------------------- key rotation (last: it restarts the provider)


def test_rotated_signing_keys_are_followed(sso: SsoServer) -> None:
    ivy = person(sso, ["finance"], name="ivy")
    before = sso.provider.access_token(ivy)
    with bearer(sso, before) as c:
        assert c.get("/v1/me").status_code == 200  # the server now holds the first key set
    old_kid = sso.provider.signing_kid

    sso.provider.rotate_keys(keep_old=False)  # a new signing key; the old one withdrawn
    assert sso.provider.signing_kid != old_kid
    after = sso.provider.access_token(ivy)
    with bearer(sso, after) as c:
        assert c.get("/v1/me").json()["user_id"] == ivy  # unknown key id -> keys fetched again
    with bearer(sso, before) as c:
        assert c.get("/v1/me").status_code == 401  # signed by a key the provider no longer publishes
    client, landed = browser_login(sso, ivy)  # ID tokens under the new key too
    assert landed.endswith("/#/chat")
    assert client.get("/v1/me").json()["user_id"] == ivy
