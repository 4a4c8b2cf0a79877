"""Security headers (issue 11): the UI and the API are served with a Content-Security-Policy that
forbids framing and anything not from the server itself, nosniff and a no-referrer policy; the
UI still works under that policy in a real browser (no violation reported)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect, sync_playwright

from awsomechat.seams import Embedder
from tests.live import LiveServer, live_server
from tests.ui.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LAMBDA_Q, UI_ENV, ask, seed, shot, sign_in

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def site(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=UI_ENV, setup=seed) as s:
        yield s


def _csp(response: httpx.Response) -> dict[str, str]:
    policy = response.headers.get("content-security-policy", "")
    directives = (d.strip().split(None, 1) for d in policy.split(";") if d.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


@pytest.mark.parametrize("path", ["/", "/index.html", "/app.js", "/styles.css", "/v1/info", "/nowhere"])
def test_responses_carry_the_security_headers(site: LiveServer, path: str) -> None:
    r = httpx.get(site.url + path)
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("referrer-policy") == "no-referrer"
    assert r.headers.get("x-frame-options") == "DENY"
    csp = _csp(r)
    assert csp.get("frame-ancestors") == "'none'", r.headers
    assert csp.get("default-src") == "'self'" and csp.get("script-src") == "'self'", csp
    assert csp.get("object-src") == "'none'" and csp.get("base-uri") == "'none'", csp
    assert "'unsafe-inline'" not in csp.get("style-src", "'self'"), csp


def test_the_api_docs_page_may_load_its_scripts_but_not_be_framed(site: LiveServer) -> None:
    r = httpx.get(site.url + "/docs")
    assert r.status_code == 200
    assert _csp(r).get("frame-ancestors") == "'none'"
    assert r.headers.get("x-content-type-options") == "nosniff"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("this test needs Debian's Chromium: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.ui
def test_the_ui_works_under_its_policy(site: LiveServer, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            violations.append(msg.text)

    page.on("console", on_console)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => {"
        " (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI); });"
    )
    try:
        sign_in(page, site, site.admin_key)
        answer = ask(page, LAMBDA_Q)
        expect(answer.locator(".source-chip").first).to_be_visible()
        answer.locator(".source-chip").first.click()  # the citation dialog
        expect(page.get_by_role("dialog")).to_be_visible()
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Dark theme").click()  # the theme switch (CSSOM, no inline style)
        page.get_by_role("link", name="Documents", exact=True).click()
        expect(page.locator("#doc-rows tr")).not_to_have_count(0)
        shot(page, "security-csp-documents")
        violations += page.evaluate("window.__csp || []")
    finally:
        context.close()
    assert not violations, violations
    assert not errors, errors
