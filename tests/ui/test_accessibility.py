"""axe-core (vendored, run in the page) finds no serious or critical accessibility problem on the
sign-in page, the chat with an answer and its sources, an open citation, and the documents view,
in the light and the dark theme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.ui.conftest import LAMBDA_Q, OFF_TOPIC_Q, ask, shot, sign_in

pytestmark = pytest.mark.ui

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
}"""


def serious_violations(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the page's CSP (script-src 'self') refuses an
        # inline <script>, as it should.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def test_no_serious_accessibility_violations(ui_server: LiveServer, page: Page) -> None:
    page.emulate_media(color_scheme="light")
    page.goto(ui_server.url)
    expect(page.get_by_label("API key")).to_be_visible()
    assert serious_violations(page) == [], "sign-in page"

    sign_in(page, ui_server, ui_server.admin_key)
    ask(page, LAMBDA_Q)
    ask(page, OFF_TOPIC_Q)
    page.locator(".msg.assistant").first.get_by_role("button", name="Good answer").click()
    for theme in ("light", "dark"):
        if theme == "dark":
            page.get_by_role("button", name="Dark theme").click()
            expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert serious_violations(page) == [], f"chat with answers, sources and feedback ({theme})"
        shot(page, f"a11y-chat-{theme}")

        page.locator(".source-chip").first.click()
        expect(page.get_by_role("dialog")).to_be_visible()
        assert serious_violations(page) == [], f"citation dialog ({theme})"
        page.keyboard.press("Escape")

    page.get_by_role("link", name="Documents", exact=True).click()
    expect(page.locator("#doc-rows tr")).not_to_have_count(0)
    assert serious_violations(page) == [], "documents view (dark)"

    page.get_by_role("link", name="Reply", exact=True).click()
    assert serious_violations(page) == [], "reply view (dark)"
