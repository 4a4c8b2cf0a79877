"""Loaders and the registry, on files the tests generate (plus a few real sample docs)."""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

import docx
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from awsomechat.errors import LoaderError
from awsomechat.ingest.loaders import LoaderRegistry, detect_format, extract_links, supported_extensions
from awsomechat.types import LoadedDocument, SourceItem

MB = 1024 * 1024


def _item(
    name: str, data: bytes | str, content_type: str | None = None, uri: str | None = None
) -> SourceItem:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return SourceItem(
        uri=uri or f"file:///docs/{name}", source="/docs", name=name, data=raw, content_type=content_type
    )


def _load(name: str, data: bytes | str, **kw: str) -> LoadedDocument:
    return LoaderRegistry().load(_item(name, data, **kw), max_bytes=10 * MB)


def _error(item: SourceItem, max_bytes: int = 10 * MB) -> LoaderError:
    with pytest.raises(LoaderError) as info:
        LoaderRegistry().load(item, max_bytes=max_bytes)
    assert item.name in info.value.message  # every failure names the file
    return info.value


def _sample_docs() -> Path | None:
    for base in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        path = base / "data" / "awsdocs" / "docs"
        if path.is_dir():
            return path
    return None


# ------------------------------------------------------------------------------------- PDF ---

PAGES = [
    "Apples grow on trees in orchards.",
    "Bananas ripen after they are picked.",
    "Cherries are small red stone fruits.",
]


def _pdf(pages: list[str], title: str | None = None, encrypt: str | None = None) -> bytes:
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, encrypt=encrypt)
    if title:
        pdf.setTitle(title)
    for text in pages:
        if text:
            pdf.drawString(72, 750, text)
        else:
            pdf.rect(72, 600, 200, 100, fill=1)  # a "scan": drawing, no text
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def test_pdf_one_section_per_page_with_page_numbers() -> None:
    doc = _load("fruit.pdf", _pdf(PAGES, title="Fruit Facts"))
    assert doc.format == "pdf"
    assert doc.title == "Fruit Facts"
    assert [s.page for s in doc.sections] == [1, 2, 3]
    for section, text in zip(doc.sections, PAGES, strict=True):
        assert section.text == text
    assert doc.metadata["pages"] == 3


def test_pdf_title_falls_back_to_first_line() -> None:
    doc = _load("fruit.pdf", _pdf(PAGES))
    assert doc.title == PAGES[0]


def test_corrupt_pdf_is_a_clear_error() -> None:
    noise = random.Random(7).randbytes(4096)
    err = _error(_item("broken.pdf", b"%PDF-1.4\n" + noise))
    assert "not a readable PDF" in err.message


def test_random_bytes_named_pdf_is_an_error() -> None:
    err = _error(_item("random.pdf", random.Random(3).randbytes(2048)))
    assert "PDF" in err.message


def test_scanned_pdf_without_text_says_so() -> None:
    err = _error(_item("scan.pdf", _pdf(["", ""])))
    assert "no extractable text (scanned PDF?)" in err.message
    assert err.hint and "OCR" in err.hint


def test_password_protected_pdf_is_refused() -> None:
    err = _error(_item("secret.pdf", _pdf(PAGES, encrypt="hunter2")))
    assert "password" in err.message or "encrypt" in str(err).lower()


# ------------------------------------------------------------------------------------ DOCX ---


def _docx(title: str | None = "Employee Handbook") -> bytes:
    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_paragraph("Welcome to the company.")
    document.add_heading("Leave", level=1)
    document.add_paragraph("You get 25 days of paid leave per year.")
    document.add_heading("Sick leave", level=2)
    document.add_paragraph("Report sickness before 9am.")
    document.add_paragraph("Keep your manager informed", style="List Bullet")
    document.add_paragraph("Bring a doctor's note after 3 days", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Days", "Rule"
    table.cell(1, 0).text, table.cell(1, 1).text = "1-3", "No note needed"
    document.add_heading("Expenses", level=1)
    document.add_paragraph("Submit receipts within 30 days.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def test_docx_headings_paragraphs_and_tables() -> None:
    doc = _load("handbook.docx", _docx())
    assert doc.format == "docx"
    assert doc.title == "Employee Handbook"
    by_path = {s.heading_path: s.text for s in doc.sections}
    assert by_path[()] == "Welcome to the company."
    assert by_path[("Leave",)] == "You get 25 days of paid leave per year."
    sick = by_path[("Leave", "Sick leave")]
    assert "Report sickness before 9am." in sick
    assert "- Keep your manager informed\n- Bring a doctor's note after 3 days" in sick
    assert "| Days | Rule |\n| --- | --- |\n| 1-3 | No note needed |" in sick
    assert by_path[("Expenses",)] == "Submit receipts within 30 days."


def test_docx_title_falls_back_to_first_heading() -> None:
    assert _load("handbook.docx", _docx(title=None)).title == "Leave"


def test_truncated_docx_is_a_clear_error() -> None:
    data = _docx()
    err = _error(_item("handbook.docx", data[: len(data) // 2]))
    assert "not a readable Word document" in err.message


# ------------------------------------------------------------------------------------ HTML ---

PAGE = """<!doctype html><html lang="en"><head><title>Widget Guide</title>
<style>.x{color:red}</style><script>var tracking = "SCRIPTNOISE";</script></head>
<body>
<header><a href="/">HEADERNOISE home</a></header>
<nav><ul><li><a href="/a">NAVNOISE link</a></li></ul></nav>
<div class="cookie-banner">COOKIENOISE we use cookies</div>
<div id="left-sidebar">SIDEBARNOISE related pages</div>
<main>
  <div class="breadcrumbs">CRUMBNOISE Home / Docs</div>
  <h1>Installing widgets</h1>
  <p>Widgets install in <b>two</b> steps.</p>
  <h2>Requirements</h2>
  <ul><li>A screwdriver</li><li>Two bolts<ul><li>M4 size</li></ul></li></ul>
  <h3>Sizes</h3>
  <table><tr><th>Model</th><th>Width</th></tr><tr><td>W-100</td><td>10 cm</td></tr></table>
  <h2>Configuration</h2>
  <pre>widget --set speed=3
    --verbose</pre>
  <form><input name="q"> FORMNOISE search</form>
</main>
<aside>ASIDENOISE ads</aside>
<footer>FOOTERNOISE copyright</footer>
</body></html>"""


def test_html_keeps_main_content_and_drops_chrome() -> None:
    doc = _load("guide.html", PAGE)
    assert doc.format == "html"
    assert doc.title == "Widget Guide"
    text = doc.text
    for noise in ("SCRIPT", "HEADER", "NAV", "COOKIE", "SIDEBAR", "CRUMB", "FORM", "ASIDE", "FOOTER"):
        assert noise + "NOISE" not in text
    by_path = {s.heading_path: s.text for s in doc.sections}
    assert by_path[("Installing widgets",)] == "Widgets install in two steps."
    assert by_path[("Installing widgets", "Requirements")] == "- A screwdriver\n- Two bolts\n  - M4 size"
    assert (
        by_path[("Installing widgets", "Requirements", "Sizes")]
        == "| Model | Width |\n| --- | --- |\n| W-100 | 10 cm |"
    )
    assert by_path[("Installing widgets", "Configuration")] == "widget --set speed=3\n    --verbose"
    assert doc.metadata["lang"] == "en"


def test_html_without_main_uses_body_and_h1_title() -> None:
    html = """<html><body><div class="navbar">NAVNOISE</div><h1>Release notes</h1>
    <p>Version 2 fixes the login bug.</p><div class="site-footer">FOOTERNOISE</div></body></html>"""
    doc = _load("notes.htm", html)
    assert doc.title == "Release notes"
    assert doc.text == "Version 2 fixes the login bug."


def test_html_with_no_text_is_an_error() -> None:
    html = "<html><head><title>Empty</title></head><body><nav>Home</nav><script>x()</script></body></html>"
    err = _error(_item("empty.html", html))
    assert "no text found" in err.message


def test_extract_links_absolute_http_without_fragments() -> None:
    html = """<a href="/docs/a.html#part">a</a><a href="b.html">b</a><a href="https://x.org/c">c</a>
    <a href="mailto:me@x.org">m</a><a href="javascript:void(0)">j</a><a href="#top">t</a>
    <a href="ftp://x.org/f">f</a><a href="/docs/a.html">dup</a>"""
    links = extract_links(html, "https://site.com/docs/index.html")
    assert links == [
        "https://site.com/docs/a.html",
        "https://site.com/docs/b.html",
        "https://x.org/c",
        "https://site.com/docs/index.html",
    ]


# -------------------------------------------------------------------------------- Markdown ---

MARKDOWN = """---
title: Deployment Guide
tags:
  - ops
  - k8s
draft: false
---
Intro paragraph before any heading\\.

# Deploying<a name="deploying"></a>

Run the deploy script \\(see below\\)\\.

```bash
# not a heading
echo "a\\.b"
```

Setext section
--------------

Under a setext heading with `code \\. span`.

### Rollback

Revert with `git revert`.
"""


def test_markdown_sections_front_matter_and_code_fences() -> None:
    doc = _load("deploy.md", MARKDOWN)
    assert doc.format == "markdown"
    assert doc.title == "Deployment Guide"  # front matter wins over the first H1
    assert doc.metadata == {"title": "Deployment Guide", "tags": "ops, k8s", "draft": False}
    by_path = {s.heading_path: s.text for s in doc.sections}
    assert by_path[()] == "Intro paragraph before any heading."
    deploying = by_path[("Deploying",)]
    assert deploying.startswith("Run the deploy script (see below).")
    assert '```bash\n# not a heading\necho "a\\.b"\n```' in deploying  # verbatim, not unescaped
    assert by_path[("Deploying", "Setext section")] == "Under a setext heading with `code \\. span`."
    assert by_path[("Deploying", "Setext section", "Rollback")] == "Revert with `git revert`."
    assert not any("not a heading" in "".join(s.heading_path) for s in doc.sections)


def test_markdown_title_is_first_h1_without_front_matter() -> None:
    doc = _load("x.md", "Some text.\n\n# Real Title<a name='t'></a>\n\nBody.\n")
    assert doc.title == "Real Title"
    assert doc.sections[1].heading_path == ("Real Title",)


def test_markdown_real_sample_is_clean() -> None:
    docs = _sample_docs()
    if docs is None:
        pytest.skip("sample corpus not available")
    path = docs / "amazon-kendra-developer-guide" / "what-is-kendra.md"
    doc = _load(path.name, path.read_bytes())
    assert doc.title == "What is Amazon Kendra?"
    assert doc.sections[0].heading_path == ("What is Amazon Kendra?",)
    assert ("What is Amazon Kendra?", "Benefits of Amazon Kendra") in {s.heading_path for s in doc.sections}
    assert "natural language. It returns specific answers" in doc.text
    for section in doc.sections:
        assert "<a name" not in section.text and "\\." not in section.text and "\\-" not in section.text
        assert "--------" not in section.text


# ------------------------------------------------------------------------------- Text, FAQ ---


def test_text_encodings_and_paragraphs() -> None:
    doc = _load("notes.txt", "\ufeffFirst para\nline two.\n\n\n  \nSecond para.\n".encode())
    assert doc.format == "text"
    assert doc.title == "notes"
    assert [s.text for s in doc.sections] == ["First para\nline two.", "Second para."]
    assert _load("u16.txt", "Grüße aus Köln".encode("utf-16")).text == "Grüße aus Köln"
    assert _load("latin.txt", "Café crème".encode("latin-1")).text == "Café crème"
    assert _load("readme.rst", "Title\n=====\n\nBody.").format == "text"


def test_binary_file_named_txt_is_refused() -> None:
    err = _error(_item("photo.txt", bytes(range(256)) * 8))
    assert "binary file, not text" in err.message


FAQ_CSV = (
    "Question,Answer,URL\n"
    '"How do I reset my password?","Use the ""Forgot password"" link, then check email.",https://x/reset\n'
    "What is the refund window?,,\n"
    "How long is shipping?,3-5 business days.,\n"
)


def test_faq_csv_pairs_are_atomic_sections() -> None:
    doc = _load("faq.csv", FAQ_CSV)
    assert doc.format == "faq"
    assert [s.text for s in doc.sections] == [
        'Q: How do I reset my password?\nA: Use the "Forgot password" link, then check email.',
        "Q: How long is shipping?\nA: 3-5 business days.",
    ]  # the row without an answer is skipped
    assert all(s.atomic for s in doc.sections)
    assert doc.sections[1].heading_path == ("How long is shipping?",)
    assert doc.metadata["faq_skipped"] == 1


def test_faq_csv_semicolon_and_short_headers() -> None:
    doc = _load("faq.csv", 'q;a\nWhy?;"Because, mostly; sometimes."\n')
    assert doc.text == "Q: Why?\nA: Because, mostly; sometimes."


def test_faq_json_list_and_kendra_format() -> None:
    plain = json.dumps([{"question": "Q1?", "answer": "A1."}, {"question": "Q2?", "answer": ""}])
    assert _load("faq.json", plain).text == "Q: Q1?\nA: A1."
    kendra = {
        "SchemaVersion": 1,
        "FaqDocuments": [
            {
                "Question": "What is Kendra?",
                "Answer": "A search service.",
                "Attributes": {"_source_uri": "u"},
            },
            {"Question": "Is it managed?", "Answer": "Yes."},
        ],
    }
    doc = _load("kendra.json", json.dumps(kendra))
    assert [s.heading_path for s in doc.sections] == [("What is Kendra?",), ("Is it managed?",)]
    assert doc.sections[0].text == "Q: What is Kendra?\nA: A search service."


def test_faq_without_question_answer_columns_names_them() -> None:
    err = _error(_item("data.csv", "name,value\nx,1\n"))
    assert "CSV has no 'question'/'answer' columns; found: name, value" in err.message


def test_faq_json_in_other_shapes_is_refused() -> None:
    assert "not in a recognised FAQ shape" in _error(_item("c.json", '{"name": "x"}')).message
    assert "no 'question'/'answer' keys" in _error(_item("d.json", '[{"id": 1}]')).message
    assert "invalid JSON" in _error(_item("e.json", '{"a": ')).message


# -------------------------------------------------------------------------------- registry ---


def test_oversize_file_reports_sizes_and_setting() -> None:
    err = _error(_item("big.txt", b"a" * int(12.3 * MB)), max_bytes=10 * MB)
    assert "file is 12.3 MB, over the 10.0 MB limit" in err.message
    assert err.hint and "AWSOMECHAT_INGEST__MAX_FILE_MB" in err.hint


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"])
def test_empty_file(data: bytes) -> None:
    assert err_message(_item("blank.md", data)).endswith("empty file")


def err_message(item: SourceItem) -> str:
    return _error(item).message


def test_unsupported_extension_lists_supported_ones() -> None:
    err = _error(_item("model.xyz", b"hello"))
    assert "unsupported file type '.xyz'" in err.message
    assert err.hint and ".pdf" in err.hint and ".md" in err.hint
    assert ".docx" in supported_extensions() and ".json" in supported_extensions()


def test_binary_content_with_text_extension() -> None:
    assert "binary file, not text" in err_message(_item("notes.md", os.urandom(64) + b"\x00" * 64))


def test_document_without_text_is_an_error() -> None:
    assert "no text found" in err_message(_item("headings.md", "# One\n\n## Two\n"))


def test_detection_by_content_type_and_magic_bytes() -> None:
    url = "https://example.com/docs/page"
    assert detect_format(_item("page", b"<p>x</p>", "text/html; charset=utf-8", uri=url)) == "html"
    assert detect_format(_item("page", b"# x", "text/markdown", uri=url)) == "markdown"
    assert detect_format(_item("download", _pdf(PAGES), "application/octet-stream", uri=url)) == "pdf"
    assert detect_format(_item("download", _docx(), uri=url)) == "docx"
    assert detect_format(_item("index", b"<!DOCTYPE html><html><p>x</p></html>", uri=url)) == "html"
    assert detect_format(_item("page.aspx", b"<p>x</p>", "text/html", uri=url + ".aspx")) == "html"
    assert detect_format(_item("README", b"Plain words.")) == "text"
    assert detect_format(_item("thing.xyz", b"Plain words.")) is None
    doc = _load("download", _pdf(PAGES), uri=url)
    assert doc.format == "pdf" and doc.sections[2].page == 3


def test_a_failing_loader_becomes_a_loader_error() -> None:
    class Exploding:
        format = "text"

        def load(self, item: SourceItem) -> LoadedDocument:
            raise ValueError("boom")

    registry = LoaderRegistry()
    registry.register(Exploding(), extensions=("txt",))
    with pytest.raises(LoaderError, match=r"notes\.txt: could not read text file \(boom\)"):
        registry.load(_item("notes.txt", "hello"), max_bytes=MB)


def test_markdown_stray_fence_and_fence_anchor_do_not_swallow_headings() -> None:
    text = (
        "# Guide\n\n```\ncode one\n```<a name='x'></a>\n\n## Second\n\nAfter the anchored fence.\n\n"
        "````  \n**Since:** 1\\.01\n\n## Third\n\nStill found.\n"
    )
    doc = _load("odd.md", text)
    by_path = {s.heading_path: s.text for s in doc.sections}
    assert by_path[("Guide",)] == "```\ncode one\n```"
    assert by_path[("Guide", "Second")] == "After the anchored fence.\n\n**Since:** 1.01"
    assert by_path[("Guide", "Third")] == "Still found."


def test_html_wrapper_named_like_chrome_is_not_dropped() -> None:
    html = """<html><body><div class="layout has-sidebar">
    <div class="sidebar-left">SIDEBARNOISE links</div>
    <div class="content"><h1>Pricing</h1><p>The basic plan costs 10 euros a month.</p></div>
    </div></body></html>"""
    doc = _load("pricing.html", html)
    assert doc.text == "The basic plan costs 10 euros a month."
    assert doc.sections[0].heading_path == ("Pricing",)
