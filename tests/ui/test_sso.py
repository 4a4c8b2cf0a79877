"""Single sign-on in the browser: the provider's sign-in page, an answer from a document only the
user's group may read, sign-out, and a failed sign-in explained on the sign-in page.

The provider is the real ``oidc-provider`` on loopback (tests/oidc/provider.py); Chromium follows
the whole authorization code flow (AWSomeChat -> provider form -> callback -> web UI)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from awsomechat.seams import Embedder
from tests.oidc.sso_server import PAYROLL_Q, SsoServer, sso_server
from tests.ui.conftest import ARTIFACTS, UI_ENV, ask, shot, source_titles

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def sso(data_dir: Path, embedder: Embedder) -> Iterator[SsoServer]:
    with sso_server(data_dir, embedder, ARTIFACTS / "logs", env=UI_ENV) as s:
        yield s


def sso_sign_in(page: Page, sso: SsoServer, username: str, *, provider_form: bool = True) -> None:
    """Click the SSO link; sign in at the provider unless it still knows this browser."""
    page.goto(sso.url)
    page.get_by_role("link", name="Sign in with Test IdP").click()
    if provider_form:
        expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
        page.get_by_label("Username").fill(username)
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    expect(page.locator("#who")).to_have_text(username)


def test_sso_sign_in_answers_from_the_groups_documents_and_signs_out(sso: SsoServer, page: Page) -> None:
    username = f"fiona{uuid.uuid4().hex[:6]}"
    sso.provider.set_user(username, ["finance"])
    page.goto(sso.url)
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()
    shot(page, "sso-signin-page")
    sso_sign_in(page, sso, username)
    expect(page.locator("#who")).to_have_text(username)
    assert page.evaluate("sessionStorage.getItem('awsomechat.apiKey')") is None  # a cookie, no key
    assert "awc_session" not in page.evaluate("document.cookie")  # HttpOnly: scripts cannot read it

    answer = ask(page, PAYROLL_Q)
    assert "Payroll calendar" in source_titles(answer)  # only the finance group may read it
    shot(page, "sso-answer")

    # A reload keeps the session (it is in the cookie and the database, not in the page).
    page.reload()
    expect(page.locator("#who")).to_have_text(username)

    with page.expect_response(lambda r: r.url.endswith("/auth/logout")) as logout:
        page.get_by_role("button", name="Sign out").click()
    assert logout.value.status == 204
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()
    expect(page.locator("#signin-message")).to_have_text("You are signed out.")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in with Test IdP")).to_be_visible()


def test_without_the_group_the_same_question_finds_nothing_private(sso: SsoServer, page: Page) -> None:
    username = f"gus{uuid.uuid4().hex[:6]}"
    sso.provider.set_user(username, ["finance"])
    sso_sign_in(page, sso, username)
    sso.provider.set_user(username, [])  # removed from finance in the directory
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()
    # Signed out of AWSomeChat, still signed in at the provider: single sign-on, no form this time.
    # The new ID token carries the directory's groups as they are now.
    sso_sign_in(page, sso, username, provider_form=False)
    answer = ask(page, PAYROLL_Q)
    assert "Payroll calendar" not in source_titles(answer)
    assert "25th" not in answer.inner_text()
    shot(page, "sso-no-group")


def test_a_failed_sign_in_is_explained(sso: SsoServer, page: Page) -> None:
    page.goto(f"{sso.url}/auth/oidc/callback?error=access_denied&state=x")
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()
    expect(page.locator("#signin-message")).to_have_text(
        "The identity provider did not sign you in (access_denied)."
    )
    assert "sso_error" not in page.url  # shown once, not kept in the address
    shot(page, "sso-failed")
