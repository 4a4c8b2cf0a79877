"""Signing in with an API key, signing out, and being sent back to sign-in when the key stops working."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.ui.conftest import OFF_TOPIC_Q, new_user, shot, sign_in

pytestmark = pytest.mark.ui


def test_wrong_key_is_refused_and_right_key_gets_in(ui_server: LiveServer, page: Page) -> None:
    name = f"carla-{uuid.uuid4().hex[:6]}"
    key = ui_server.create_user(name)
    page.goto(ui_server.url)
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()
    page.get_by_label("API key").fill("awc_wrongkey_thisisnotavalidkeyatall000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That API key was not accepted. Check it and try again.")
    expect(page.get_by_role("textbox", name="Message")).to_be_hidden()
    shot(page, "signin-refused")

    page.get_by_label("API key").fill(key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    expect(page.locator("#who")).to_have_text(name)
    expect(page.get_by_role("link", name="Documents", exact=True)).to_be_hidden()  # not an administrator
    assert page.evaluate("sessionStorage.getItem('awsomechat.apiKey')") == key
    shot(page, "signin-in")

    # The key lives in this tab's session: a reload stays signed in.
    page.reload()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()
    expect(page.locator("#signin-message")).to_have_text("You are signed out.")
    assert page.evaluate("sessionStorage.getItem('awsomechat.apiKey')") is None
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()


def test_admin_sees_the_documents_view(ui_server: LiveServer, page: Page) -> None:
    sign_in(page, ui_server, ui_server.admin_key)
    page.get_by_role("link", name="Documents", exact=True).click()
    expect(page.get_by_role("heading", name="Documents", level=1)).to_be_visible()
    expect(page.locator("#doc-rows tr")).not_to_have_count(0)


def test_revoked_key_sends_the_user_back_to_sign_in(ui_server: LiveServer, page: Page) -> None:
    key = new_user(ui_server, "rex")
    sign_in(page, ui_server, key)
    ui_server.keys.revoke_key(key)
    box = page.get_by_role("textbox", name="Message")
    box.fill(OFF_TOPIC_Q)
    box.press("Enter")
    expect(page.get_by_role("heading", name="Sign in to AWSomeChat")).to_be_visible()
    expect(page.locator("#signin-message")).to_contain_text("Sign in again")
    assert page.evaluate("sessionStorage.getItem('awsomechat.apiKey')") is None
    shot(page, "signin-revoked")
