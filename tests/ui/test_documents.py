"""Documents (administrators): upload with drag and drop and per-file status, answers citing the
upload, access groups that hide it from other users, and the list with search and delete."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.helpers import ingest_texts
from tests.live import LiveServer
from tests.ui.conftest import ask, new_user, shot, sign_in, source_titles

pytestmark = pytest.mark.ui

BONUS_MD = (
    "# Octank bonus pool\n\nThe Octank bonus pool is paid out every March to the finance staff, after the"
    " yearly audit.\n"
)
BONUS_Q = "When is the Octank bonus pool paid out?"

DROP_FILE = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, {type: "text/markdown"}));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
  }
}"""


def test_restricted_upload_is_cited_for_admin_and_invisible_to_others(
    ui_server: LiveServer, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    sign_in(page, ui_server, ui_server.admin_key)
    page.get_by_role("link", name="Documents", exact=True).click()

    page.evaluate(DROP_FILE, ["octank-bonus.md", BONUS_MD])
    page.locator("#file-input").set_input_files(
        [
            {
                "name": "broken.pdf",
                "mimeType": "application/pdf",
                "buffer": b"%PDF-1.7 this is not really a pdf",
            },
            {"name": "setup.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90\x00"},
        ]
    )
    files = page.get_by_role("list", name="Files to upload").get_by_role("listitem")
    expect(files).to_have_count(3)
    expect(files.filter(has_text="setup.exe")).to_contain_text("Not accepted")
    page.get_by_label("Attributes").fill("team=finance\nyear=2025")
    page.get_by_label("Groups").fill("finance")
    page.get_by_role("button", name="Upload 2 files").click()

    expect(page.locator("#upload-progress")).to_contain_text(
        "Done with problems: 1 of 2 files failed", timeout=60_000
    )
    expect(files.filter(has_text="octank-bonus.md")).to_contain_text("Added")
    broken = files.filter(has_text="broken.pdf")
    expect(broken).to_contain_text("Failed")
    expect(broken.locator(".file-detail")).not_to_be_empty()
    row = page.locator("#doc-rows tr", has_text="Octank bonus pool")
    expect(row).to_contain_text("finance")
    expect(row).to_contain_text("team=finance, year=2025")
    shot(page, "documents-upload")

    # The administrator's answer now cites the uploaded document.
    page.get_by_role("link", name="Chat", exact=True).click()
    answer = ask(page, BONUS_Q)
    assert "Octank bonus pool" in source_titles(answer)
    answer.locator(".source-chip", has_text="Octank bonus pool").click()
    expect(page.get_by_role("dialog").locator(".excerpt")).to_contain_text("paid out every March")
    page.keyboard.press("Escape")

    # A user outside the finance group never sees it: not as a source, not in the answer.
    other = new_context().new_page()
    sign_in(other, ui_server, new_user(ui_server, "bob", groups=("staff",)))
    answer = ask(other, BONUS_Q)
    assert "Octank bonus pool" not in source_titles(answer)
    expect(other.locator("#messages")).not_to_contain_text("every March")
    other.get_by_role("button", name="Filters").click()
    expect(other.get_by_role("dialog").get_by_role("group", name="Sources")).to_be_visible()
    expect(other.get_by_role("dialog")).not_to_contain_text("year")  # attribute only on the finance upload
    shot(other, "documents-restricted-other-user")


def test_document_list_search_and_delete(ui_server: LiveServer, page: Page) -> None:
    zephyr = {"zephyr.md": "# Zephyr runbook\n\nRestart the zephyr queue nightly.\n"}
    ingest_texts(ui_server.container, zephyr, source="test://ops")
    sign_in(page, ui_server, ui_server.admin_key)
    page.get_by_role("link", name="Documents", exact=True).click()
    rows = page.locator("#doc-rows tr")
    expect(rows).not_to_have_count(0)
    page.get_by_label("Search documents").fill("zephyr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Zephyr runbook")

    rows.first.get_by_role("button", name="Delete Zephyr runbook").click()
    dialog = page.get_by_role("dialog", name="Delete document?")
    expect(dialog).to_contain_text("Zephyr runbook")
    dialog.get_by_role("button", name="Delete").click()
    expect(rows).to_have_count(0)
    shot(page, "documents-deleted")
    with ui_server.client(ui_server.admin_key) as c:
        assert c.get("/v1/documents", params={"q": "zephyr"}).json()["documents"] == []
