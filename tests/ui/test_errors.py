"""What a person sees when things go wrong (rate limit, a busy server, no network, a missing
conversation), stopping an answer, and local mode. These run on a second server: local mode on,
a rate limit of a few requests per minute per key, no answer queue (one answer at a time, the
next is refused with 503) and longer answers, so there is time to press Stop."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from awsomechat.seams import Embedder
from tests.live import LiveServer, live_server
from tests.ui.conftest import (
    ANSWER_TIMEOUT_MS,
    ARTIFACTS,
    LAMBDA_Q,
    MARS_Q,
    OFF_TOPIC_Q,
    UI_ENV,
    new_user,
    seed,
    shot,
)

pytestmark = pytest.mark.ui

RATE_LIMIT = 6
ERRORS_ENV = {
    **UI_ENV,
    "AWSOMECHAT_API__LOCAL_MODE": "true",
    "AWSOMECHAT_API__RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
    "AWSOMECHAT_API__GENERATION_QUEUE_DEPTH": "0",
    "AWSOMECHAT_API__RETRY_AFTER_S": "7",
    "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "160",
}
LONG_Q = "Explain in detail the maximum deployment package size for AWS Lambda, zipped and unzipped."


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=ERRORS_ENV, setup=seed) as s:
        yield s


@pytest.fixture
def keyed_page(server: LiveServer, new_context: Callable[..., BrowserContext]) -> Callable[[str], Page]:
    """A page whose tab already holds an API key (in local mode the sign-in form is skipped)."""

    def make(key: str) -> Page:
        ctx = new_context()
        ctx.add_init_script(
            f"if (location.origin === {json.dumps(server.url)})"
            f" sessionStorage.setItem('awsomechat.apiKey', {json.dumps(key)})"
        )
        page = ctx.new_page()
        page.goto(server.url)
        expect(page.get_by_role("textbox", name="Message")).to_be_visible()
        return page

    return make


def send(page: Page, question: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(question)
    box.press("Enter")


def wait_seconds(text: str) -> int:
    """The wait in "Too many requests. Try again in 1 min 5 s." as seconds."""
    m = re.search(r"Try again in (?:(\d+) min)? ?(?:(\d+) s)?\.", text)
    assert m and (m.group(1) or m.group(2)), text
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def generating_now(server: LiveServer) -> float:
    """Answers being generated right now, from the server's metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    values = re.findall(r"^awsomechat_generation_in_flight(?:\{[^}]*\})? (\S+)$", text, re.M)
    assert values, "the metrics have no awsomechat_generation_in_flight"
    return sum(float(v) for v in values)


def wait_until_idle(server: LiveServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while generating_now(server) > 0:
        assert time.monotonic() < deadline, f"the server still generates after {timeout} s"
        time.sleep(0.2)


def last_answer(page: Page) -> Locator:
    return page.locator(".turn").last.locator(".msg.assistant")


def test_local_mode_goes_straight_in(server: LiveServer, page: Page) -> None:
    page.goto(server.url)
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    expect(page.locator("#who")).to_have_text("Local mode")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    # The local user administers.
    expect(page.get_by_role("link", name="Documents", exact=True)).to_be_visible()
    shot(page, "local-mode")


def test_rate_limit_says_when_to_try_again(server: LiveServer, keyed_page: Callable[[str], Page]) -> None:
    page = keyed_page(new_user(server, "rae"))
    banner = page.locator("#banner")
    for _ in range(RATE_LIMIT + 2):  # each question costs two requests: the answer, then the sidebar
        send(page, OFF_TOPIC_Q)
        expect(last_answer(page)).not_to_have_attribute("data-state", "streaming", timeout=ANSWER_TIMEOUT_MS)
        if last_answer(page).get_attribute("data-state") == "error":
            break
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-kind", "rate")
    expect(banner).to_contain_text("Too many requests.")
    wait = wait_seconds(banner.inner_text())
    assert 1 <= wait <= 61, banner.inner_text()  # the sliding window counts in whole seconds over 61
    expect(last_answer(page)).to_have_attribute("data-state", "error")
    expect(last_answer(page).locator(".msg-status")).to_contain_text("Too many requests")
    shot(page, "error-rate-limit")
    if wait > 2:  # the wait counts down
        page.wait_for_timeout(1_500)
        assert wait_seconds(banner.inner_text()) < wait
    page.get_by_role("button", name="Dismiss message").click()
    expect(banner).to_be_hidden()


def test_busy_server_says_when_to_try_again(server: LiveServer, keyed_page: Callable[[str], Page]) -> None:
    page = keyed_page(new_user(server, "bea"))
    wait_until_idle(server)
    generating, done = threading.Event(), threading.Event()

    def occupy() -> None:  # another user's long answer holds the only generation slot
        with (
            server.client(server.admin_key) as c,
            c.stream("POST", "/v1/chat", json={"message": LONG_Q}) as r,
        ):
            for line in r.iter_lines():
                if line.startswith("event: token"):
                    generating.set()
                if done.is_set():
                    break  # hang up: the server stops that answer

    worker = threading.Thread(target=occupy)
    worker.start()
    try:
        assert generating.wait(60), "the other answer did not start"
        send(page, LAMBDA_Q)
        banner = page.locator("#banner")
        expect(banner).to_be_visible()
        expect(banner).to_have_attribute("data-kind", "busy")
        expect(banner).to_contain_text("The server cannot answer right now: the answer queue is full")
        expect(banner).to_contain_text(re.compile(r"Try again in [1-7] s\."))
        expect(last_answer(page).locator(".msg-status")).to_contain_text("queue is full")
        shot(page, "error-busy")
    finally:
        done.set()
        worker.join(120)


def test_stop_keeps_the_partial_answer_and_frees_the_server(
    server: LiveServer, keyed_page: Callable[[str], Page]
) -> None:
    key = new_user(server, "stu")
    page = keyed_page(key)
    wait_until_idle(server)  # the only answer slot is free
    send(page, LONG_Q)
    answer = last_answer(page)
    expect(answer.locator(".answer")).not_to_be_empty(timeout=ANSWER_TIMEOUT_MS)
    page.get_by_role("button", name="Stop generating").click()
    expect(answer).to_have_attribute("data-state", "stopped")
    expect(answer.locator(".msg-status")).to_have_text("Stopped. This partial answer was not saved.")
    expect(page.get_by_role("button", name="Send message")).to_be_visible()
    shot(page, "chat-stopped")
    with server.client(key) as c:
        assert c.get("/v1/sessions").json()["sessions"] == [], "a stopped answer is not stored"

    # The server stopped generating, so the only answer slot is free for the next question.
    wait_until_idle(server, timeout=30)
    send(page, MARS_Q)
    expect(last_answer(page)).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)


def test_network_failure_is_explained_and_the_next_try_works(server: LiveServer, page: Page) -> None:
    page.goto(server.url)  # local mode
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    page.route("**/v1/chat", lambda route: route.abort("internetdisconnected"))
    send(page, MARS_Q)
    expect(last_answer(page)).to_have_attribute("data-state", "error")
    expect(last_answer(page).locator(".msg-status")).to_contain_text("Cannot reach the server")
    expect(page.locator("#banner")).to_contain_text("Cannot reach the server")
    shot(page, "error-network")

    page.unroute("**/v1/chat")
    send(page, MARS_Q)
    expect(last_answer(page)).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#banner")).to_be_hidden()


def test_missing_conversation_is_explained(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/#/chat/00000000-0000-4000-8000-000000000000")
    expect(
        page.get_by_role("alert").filter(has_text="This conversation does not exist any more.")
    ).to_be_visible()
