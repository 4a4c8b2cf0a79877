"""Chat journeys: streamed answers, citations, follow-ups, regenerate, copy, conversations in the
sidebar, feedback, abstention, filters, reply drafting, phone layout and theme."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.live import LiveServer
from tests.ui.conftest import (
    ANSWER_TIMEOUT_MS,
    LAMBDA_Q,
    MARS_Q,
    OFF_TOPIC_Q,
    ask,
    new_user,
    session_id_from_url,
    shot,
    sign_in,
    source_titles,
)

pytestmark = pytest.mark.ui

# Records the answer's visible text every time the conversation changes, with the answer's state.
WATCH_GROWTH = """() => {
  window.__growth = [];
  const list = document.getElementById("messages");
  new MutationObserver(() => {
    const all = list.querySelectorAll(".msg.assistant");
    const last = all[all.length - 1];
    if (last) window.__growth.push([last.dataset.state, last.querySelector(".answer").textContent.length]);
  }).observe(list, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def test_answer_streams_in_and_its_citations_open_the_passage(
    ui_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(permissions=["clipboard-read", "clipboard-write"]).new_page()
    sign_in(page, ui_server, new_user(ui_server, "ana"))
    page.evaluate(WATCH_GROWTH)
    answer = ask(page, LAMBDA_Q)

    growth = page.evaluate("window.__growth")
    streaming_lengths = {n for state, n in growth if state == "streaming" and n > 0}
    assert len(streaming_lengths) >= 3, f"the answer should grow on screen before it is final: {growth}"
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".answer")).not_to_be_empty()
    expect(answer.locator(".abstain-notice")).to_be_hidden()
    assert "Lambda quotas" in source_titles(answer)

    # An inline [n] marker opens the cited passage, with a link to its https source.
    cite = answer.locator(".answer button.cite").first
    expect(cite).to_be_visible()
    cite.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_contain_text("Lambda quotas")
    expect(dialog.locator(".excerpt")).to_contain_text("50 MB zipped")
    expect(dialog.locator(".crumbs")).to_contain_text("Deployment packages")
    expect(dialog.get_by_role("link", name=re.compile("Open source"))).to_have_attribute(
        "href", "https://docs.example.com/kb/lambda.md"
    )
    shot(page, "chat-citation")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(cite).to_be_focused()

    # A source without a public page links to its passage in this UI (never to where it was read
    # from), and "View document" shows the whole document.
    answer.locator(".source-chip", has_text="Site-to-site VPN").click()
    passage_link = dialog.get_by_role("link", name=re.compile("Link to this passage"))
    expect(passage_link).to_have_attribute("href", re.compile(r"^http://[^/]+/#/doc/[^/]+/[^/]+$"))
    href = passage_link.get_attribute("href")
    expect(dialog.locator("code.uri")).to_have_count(0)
    dialog.get_by_role("button", name="View document").click()
    doc = page.get_by_role("dialog")
    expect(doc.get_by_role("heading", name="Site-to-site VPN")).to_be_visible()
    expect(doc.locator(".passage.cited")).to_contain_text("1.25 Gbps")
    shot(page, "chat-document")
    doc.get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    sid = session_id_from_url(page)

    # That link, opened (a new tab, a link sent to a colleague): the document at the passage.
    assert href
    page.goto(href)
    linked = page.get_by_role("dialog")
    expect(linked.get_by_role("heading", name="Site-to-site VPN")).to_be_visible()
    expect(linked.locator(".passage.cited")).to_contain_text("1.25 Gbps")
    linked.get_by_role("button", name="Close").click()
    page.goto(f"{ui_server.url}/#/chat/{sid}")
    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)

    # Copy puts the answer and its sources on the clipboard.
    answer.get_by_role("button", name="Copy").click()
    expect(page.locator("#toast")).to_have_text("Answer copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "Sources:\n[" in copied and "Lambda quotas — https://docs.example.com/kb/lambda.md" in copied
    assert copied.split("\n\nSources:")[0].strip(), copied


def test_follow_up_stays_in_one_conversation_and_comes_back(ui_server: LiveServer, page: Page) -> None:
    key = new_user(ui_server, "ben")
    sign_in(page, ui_server, key)
    ask(page, OFF_TOPIC_Q)
    sid = session_id_from_url(page)
    expect(page.locator("#sidebar .session-link[aria-current=page]")).to_contain_text("Who won the 1998")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Who won the 1998 football")

    # Shift+Enter makes a new line; Enter sends.
    box = page.get_by_role("textbox", name="Message")
    box.fill("And who won")
    box.press("Shift+Enter")
    box.press_sequentially("in 2002?")
    assert box.input_value() == "And who won\nin 2002?"
    box.press("Enter")
    second = page.locator(".turn").nth(1)
    expect(second.locator(".msg.assistant")).to_have_attribute(
        "data-state", "done", timeout=ANSWER_TIMEOUT_MS
    )
    assert second.locator(".msg.user .bubble").inner_text() == "And who won\nin 2002?"
    assert session_id_from_url(page) == sid
    expect(page.locator("#sidebar .session-link")).to_have_count(1)

    with ui_server.client(key) as c:
        stored = c.get(f"/v1/sessions/{sid}/messages").json()["messages"]
    assert [m["question"] for m in stored] == [OFF_TOPIC_Q, "And who won\nin 2002?"]

    # Coming back later (a reload) shows the same conversation from the server.
    shown = page.locator(".turn .answer").all_inner_texts()
    page.reload()
    expect(page.locator(".turn")).to_have_count(2)
    expect(page.locator(".turn").first.locator(".msg.user .bubble")).to_have_text(OFF_TOPIC_Q)
    expect(page.locator(".turn .answer")).to_have_text(shown)
    # ... and so does switching away and back.
    page.get_by_role("button", name="New chat").click()
    expect(page.locator(".turn")).to_have_count(0)
    page.locator("#sidebar .session-link").first.click()
    expect(page.locator(".turn")).to_have_count(2)
    shot(page, "chat-follow-up")


def test_conversations_switch_rename_and_delete(ui_server: LiveServer, page: Page) -> None:
    key = new_user(ui_server, "sam")
    # Questions the documents do not cover: stored conversations without waiting for the model.
    with ui_server.client(key) as c:
        cup = c.post("/v1/chat", json={"message": OFF_TOPIC_Q, "stream": False}).json()["session_id"]
        mars = c.post("/v1/chat", json={"message": MARS_Q, "stream": False}).json()["session_id"]
    sign_in(page, ui_server, key)
    links = page.locator("#sidebar .session-link")
    expect(links).to_have_count(2)
    expect(links.first).to_contain_text("How far is Mars")  # newest first

    links.nth(1).click()
    expect(page.locator(".turn .msg.user .bubble")).to_have_text([OFF_TOPIC_Q])
    assert session_id_from_url(page) == cup
    links.first.click()
    expect(page.locator(".turn .msg.user .bubble")).to_have_text([MARS_Q])
    assert session_id_from_url(page) == mars
    expect(page.locator(".turn .answer")).not_to_be_empty()

    item = page.locator("#sidebar .session-item").first
    item.hover()
    item.get_by_role("button", name=re.compile("^Rename")).click()
    dialog = page.get_by_role("dialog", name="Rename conversation")
    dialog.get_by_label("Title").fill("Mars notes")
    dialog.get_by_role("button", name="Save").click()
    expect(links.first).to_contain_text("Mars notes")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mars notes")

    cup_item = page.locator("#sidebar .session-item", has_text="Who won")
    cup_item.hover()
    cup_item.get_by_role("button", name=re.compile("^Delete")).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(links).to_have_count(1)
    shot(page, "chat-sessions")
    with ui_server.client(key) as c:
        titles = [s["title"] for s in c.get("/v1/sessions").json()["sessions"]]
        gone = c.get(f"/v1/sessions/{cup}/messages").status_code
    assert titles == ["Mars notes"] and gone == 404

    # Deleting the open conversation leaves an empty new one.
    item.hover()
    item.get_by_role("button", name=re.compile("^Delete")).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(links).to_have_count(0)
    expect(page.get_by_text("Ask your documents")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("New conversation")


def test_feedback_is_saved_and_shown_again(ui_server: LiveServer, page: Page) -> None:
    key = new_user(ui_server, "fay")
    sign_in(page, ui_server, key)
    answer = ask(page, MARS_Q)
    sid = session_id_from_url(page)

    bad = answer.get_by_role("button", name="Bad answer")
    bad.click()
    expect(bad).to_have_attribute("aria-pressed", "true")
    answer.get_by_label("Add a comment (optional)").fill("The astronomy handbook covers this.")
    answer.get_by_role("button", name="Save comment").click()
    expect(answer.locator(".feedback-state")).to_contain_text("Marked not helpful")
    expect(answer.get_by_label("Add a comment (optional)")).to_be_hidden()
    shot(page, "chat-feedback")

    with ui_server.client(key) as c:
        msg = c.get(f"/v1/sessions/{sid}/messages").json()["messages"][0]
    assert msg["rating"] == -1 and msg["feedback_comment"] == "The astronomy handbook covers this."

    page.reload()
    answer = page.locator(".msg.assistant").first
    expect(answer.get_by_role("button", name="Bad answer")).to_have_attribute("aria-pressed", "true")
    expect(answer.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "false")
    expect(answer.locator(".feedback-state")).to_contain_text("The astronomy handbook covers this.")

    answer.get_by_role("button", name="Good answer").click()
    expect(answer.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "true")
    with ui_server.client(key) as c:
        msg = c.get(f"/v1/sessions/{sid}/messages").json()["messages"][0]
    assert msg["rating"] == 1


def test_question_outside_the_documents_is_marked_not_found(ui_server: LiveServer, page: Page) -> None:
    key = new_user(ui_server, "olga")
    sign_in(page, ui_server, key)
    answer = ask(page, OFF_TOPIC_Q)
    expect(answer).to_have_class(re.compile(r"\babstained\b"))
    expect(answer.get_by_text("Not found in your documents")).to_be_visible()
    expect(answer.locator(".sources-title")).to_have_text("Closest sources")
    expect(answer.locator(".source-chip")).not_to_have_count(0)
    expect(answer.locator(".answer")).to_contain_text("do not cover")
    shot(page, "chat-abstained")

    # Regenerate asks the last question again, in the same conversation.
    sid = session_id_from_url(page)
    answer.get_by_role("button", name="Regenerate").click()
    again = page.locator(".turn").nth(1)
    expect(again.locator(".msg.assistant")).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(again.locator(".msg.user .bubble")).to_have_text(OFF_TOPIC_Q)
    expect(page.locator(".turn").first.get_by_role("button", name="Regenerate")).to_have_count(0)
    with ui_server.client(key) as c:
        stored = c.get(f"/v1/sessions/{sid}/messages").json()["messages"]
    assert [m["question"] for m in stored] == [OFF_TOPIC_Q, OFF_TOPIC_Q]


def test_filters_restrict_the_sources_of_an_answer(ui_server: LiveServer, page: Page) -> None:
    sign_in(page, ui_server, new_user(ui_server, "fil"))
    page.get_by_role("button", name="Filters").click()
    dialog = page.get_by_role("dialog", name="Filter sources")
    sources = dialog.get_by_role("group", name="Sources")
    expect(sources.get_by_role("checkbox")).to_have_count(2)
    expect(sources).to_contain_text("https://docs.example.com/kb")
    expect(dialog).not_to_contain_text("test://finance")  # not readable by this user, so not offered
    dialog.get_by_role("group", name="service").get_by_label("vpn").check()
    shot(page, "chat-filters")
    dialog.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("list", name="Active filters")).to_contain_text("service: vpn")
    expect(page.get_by_role("button", name="Filters (1 active)")).to_be_visible()

    # Even the closest passages of an unanswerable question come only from the filtered sources.
    answer = ask(page, OFF_TOPIC_Q)
    titles = source_titles(answer)
    assert titles and set(titles) == {"Site-to-site VPN"}, titles

    page.get_by_role("button", name="Remove filter service: vpn").click()
    expect(page.get_by_role("list", name="Active filters")).to_be_hidden()
    answer = ask(page, OFF_TOPIC_Q)
    assert "Lambda quotas" in source_titles(answer)


def test_reply_drafting_gives_a_grounded_draft_to_copy(
    ui_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(permissions=["clipboard-read", "clipboard-write"]).new_page()
    sign_in(page, ui_server, new_user(ui_server, "rita"))
    page.get_by_role("link", name="Reply", exact=True).click()
    expect(page.get_by_role("heading", name="Draft a reply")).to_be_visible()
    page.get_by_label("Customer e-mail").fill(
        "Hello support,\n\nwhat is the maximum deployment package size for AWS Lambda, zipped and"
        " unzipped?\n\nThanks, Maria"
    )
    page.get_by_role("button", name="Draft reply").click()
    draft = page.locator("#reply-output .msg.assistant")
    expect(draft).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(draft).not_to_have_class(re.compile(r"\babstained\b"))
    assert "Lambda quotas" in source_titles(draft)
    draft.get_by_role("button", name="Copy draft").click()
    expect(page.locator("#toast")).to_have_text("Draft copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() and not re.search(r"\[\d+\]", copied), copied
    expect(page.locator("#sidebar .session-link").first).to_contain_text("Hello support")
    shot(page, "reply-draft")


def test_phone_layout_and_theme_toggle(
    ui_server: LiveServer, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(
        viewport={"width": 390, "height": 844}, color_scheme="light", has_touch=True
    ).new_page()
    sign_in(page, ui_server, new_user(ui_server, "phil"))
    sidebar = page.get_by_role("navigation", name="Conversations")
    menu = page.get_by_role("button", name="Conversations")
    expect(sidebar).to_be_hidden()
    ask(page, MARS_Q)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"
    shot(page, "phone-chat")

    menu.click()
    expect(sidebar).to_be_visible()
    expect(sidebar).to_have_css("transform", "none")  # slid in
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="New chat")).to_be_focused()
    expect(sidebar.locator(".session-link")).to_have_count(1)
    shot(page, "phone-sidebar")
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(menu).to_be_focused()

    background = "getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)
    theme = page.get_by_role("button", name="Dark theme")
    expect(theme).to_have_attribute("aria-pressed", "false")
    theme.click()
    expect(theme).to_have_attribute("aria-pressed", "true")
    assert page.evaluate(background) != light
    page.reload()  # the choice is remembered
    expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".turn")).to_have_count(1)
    shot(page, "phone-dark")
