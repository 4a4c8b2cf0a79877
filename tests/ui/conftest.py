"""Web UI tests: a real server (``awsomechat serve`` on the embedded PostgreSQL with the small
packaged model) and Debian's Chromium driven by Playwright.

One server is shared by all UI modules (``ui_server``); modules that need other settings start
their own. Every journey leaves a screenshot in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect, sync_playwright

from awsomechat.container import Container
from awsomechat.seams import Embedder
from tests.helpers import ingest_texts
from tests.live import LiveServer, live_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SHOTS = ARTIFACTS / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANSWER_TIMEOUT_MS = 120_000

# Greedy decoding: the small model then writes the same answer every run.
UI_ENV = {"AWSOMECHAT_LLM__TEMPERATURE": "0", "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "32"}

LAMBDA_Q = "What is the maximum deployment package size for AWS Lambda?"
VPN_Q = "How much bandwidth does a site-to-site VPN tunnel support?"
PAYROLL_Q = "On which day are salaries at Octank paid?"
OFF_TOPIC_Q = "Who won the 1998 football world cup final?"
MARS_Q = "How far is Mars from the Sun?"

PUBLIC_WEB_DOCS = {
    "lambda.md": "# Lambda quotas\n\n## Deployment packages\n\nThe maximum deployment package size for AWS"
    " Lambda is 50 MB zipped and 250 MB unzipped. Container images can be up to 10 GB.\n\n"
    "## Concurrency\n\nThe default concurrency quota is 1,000 executions per Region.\n",
}
PUBLIC_DOCS = {
    "vpn.md": "# Site-to-site VPN\n\nEach site-to-site VPN tunnel supports up to 1.25 Gbps of bandwidth. A"
    " virtual private gateway can have up to 10 VPN connections.\n",
}
FINANCE_DOCS = {
    "payroll.md": "# Payroll calendar\n\nSalaries at Octank are paid on the 25th day of every month by bank"
    " transfer. The payroll team closes the books on the 20th.\n",
}


def seed(c: Container) -> None:
    """Public documents (one with an https location) and one only the ``finance`` group may read."""
    ingest_texts(c, PUBLIC_WEB_DOCS, attributes={"service": "lambda"}, source="https://docs.example.com/kb")
    ingest_texts(c, PUBLIC_DOCS, attributes={"service": "vpn"})
    ingest_texts(
        c, FINANCE_DOCS, groups=("finance",), attributes={"team": "finance"}, source="test://finance"
    )


@pytest.fixture(scope="session")
def ui_server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=UI_ENV, setup=seed) as s:
        yield s


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the web UI tests need Debian's Chromium: apt-get install chromium")
    b = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Open browser contexts (one per person); each page fails the test on an uncaught script error."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(**kw: object) -> BrowserContext:
        options: dict[str, object] = {"viewport": {"width": 1280, "height": 860}, "locale": "en-GB"}
        options.update(kw)
        ctx = browser.new_context(**options)  # type: ignore[arg-type]
        ctx.set_default_timeout(15_000)
        ctx.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    return new_context().new_page()


# ---------------------------------------------------------------------------------------- helpers


def shot(page: Page, name: str) -> Path:
    """Save a screenshot of the journey (look at them: test-artifacts/ui/)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def sign_in(page: Page, server: LiveServer, key: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto(server.url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    # The sidebar has loaded the conversations (or said there are none).
    expect(page.locator("#session-list li, #sessions-empty:not([hidden])").first).to_be_attached()


def ask(page: Page, question: str) -> Locator:
    """Type a question, press Enter and wait for the answer to finish; returns the answer message."""
    box = page.get_by_role("textbox", name="Message")
    box.fill(question)
    box.press("Enter")
    answer = page.locator(".turn").last.locator(".msg.assistant")
    expect(answer).not_to_have_attribute("data-state", "streaming", timeout=ANSWER_TIMEOUT_MS)
    return answer


def source_titles(answer: Locator) -> list[str]:
    return [t.strip() for t in answer.locator(".source-chip .chip-title").all_inner_texts()]


def session_id_from_url(page: Page) -> str:
    m = re.search(r"#/chat/([0-9a-f-]{36})", page.url)
    assert m, f"no conversation id in {page.url}"
    return m.group(1)


def new_user(server: LiveServer, name: str, groups: tuple[str, ...] = (), admin: bool = False) -> str:
    """A fresh user (unique id, the server is shared) with one key; returns the key."""
    return server.create_user(f"{name}-{uuid.uuid4().hex[:6]}", groups=groups, admin=admin)
