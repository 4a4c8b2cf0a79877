"""Source links a reader can open (issue 13, item 5): never a server path, in every API shape."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from awsomechat.api.app import create_app
from awsomechat.api.kendra.search import openable
from awsomechat.api.links import Links
from awsomechat.client.models import Citation as ClientCitation
from awsomechat.client.models import Passage
from awsomechat.container import Container
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.links import AWS_DOCS_GUIDES, aws_docs_url, public_url
from awsomechat.seams import Embedder
from awsomechat.settings import Settings
from awsomechat.types import Scores, SearchHit
from tests.conftest import SHARED_DATA

SAMPLE_KB = Path(__file__).resolve().parents[1] / "src" / "awsomechat" / "sample_kb"
LAMBDA_PAGE = "gettingstarted-limits.md"
HANDBOOK = "---\ntitle: Travel handbook\nurl: https://intranet.example.com/handbook/travel\n---\n\n" \
    "# Travel handbook\n\nTrain tickets for business travel are booked through the travel desk at" \
    " least five days ahead. Taxi receipts are reimbursed within thirty days.\n"  # fmt: skip
NOTES = "# Parking notes\n\nThe staff car park under building C opens at six in the morning and" \
    " closes at ten in the evening. Visitor badges are issued at reception.\n"  # fmt: skip


# ------------------------------------------------------------------ the rules


def test_public_url_prefers_the_documents_own_address() -> None:
    page = "file:///srv/kb/aws-lambda-developer-guide/gettingstarted-limits.md"
    assert public_url(page, {}) == "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
    assert public_url(page, {"url": "https://example.com/limits"}) == "https://example.com/limits"
    assert public_url(page, {"source_url": "https://example.com/src"}) == "https://example.com/src"
    assert public_url(page, {"url": "file:///etc/passwd"}).startswith("https://docs.aws.amazon.com/")
    assert public_url("https://example.com/page.html", {}) == "https://example.com/page.html"
    for no_link in ("file:///srv/notes/parking.md", "s3://bucket/key.pdf", "test://kb/a.md",
                    "file:///srv/aws-lambda-developer-guide/sub/x.md",
                    "file:///srv/aws-lambda-developer-guide/image.png"):  # fmt: skip
        assert public_url(no_link, {}) == "", no_link


def _check_prefixes(root: Path, *, min_pages: int) -> int:
    """Each guide folder of ``root`` with at least ``min_pages`` pages maps to the prefix its own
    pages use to link to sibling pages, and names linked there are page files of the folder (the
    page stem is the HTML name). Returns the number of folders checked."""
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert folders and set(folders) <= set(AWS_DOCS_GUIDES), set(folders) - set(AWS_DOCS_GUIDES)
    link = re.compile(r"https://docs\.aws\.amazon\.com/[\w.-]+/latest/[\w.-]+/[\w.-]+\.html")
    found = {u for f in root.rglob("*.md") for u in link.findall(f.read_text(errors="replace"))}
    checked = 0
    for folder in folders:
        prefix = AWS_DOCS_GUIDES[folder]
        stems = {p.stem for p in (root / folder).glob("*.md")}
        if len(stems) < min_pages:
            continue
        linked = {u[len(prefix) : -len(".html")] for u in found if u.startswith(prefix)}
        hits = linked & stems
        assert len(hits) >= min(3, len(linked)) > 0, f"{folder}: {prefix} links {sorted(linked)[:5]}"
        checked += 1
    return checked


def test_the_guide_prefixes_are_the_guides_own() -> None:
    assert _check_prefixes(SAMPLE_KB, min_pages=30) >= 4  # Kendra, Lambda, GuardDuty, Transit Gateway, ALB
    lambda_page = (SAMPLE_KB / "aws-lambda-developer-guide" / LAMBDA_PAGE).as_uri()
    assert (
        aws_docs_url(lambda_page) == "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
    )


@pytest.mark.skipif(
    not (SHARED_DATA / "awsdocs" / "docs").is_dir(), reason="the full AWS docs corpus is not here"
)
def test_the_prefixes_hold_on_the_full_corpus() -> None:
    assert _check_prefixes(SHARED_DATA / "awsdocs" / "docs", min_pages=1) == 14


def _hit(uri: str, attributes: dict[str, Any] | None = None) -> SearchHit:
    return SearchHit(
        chunk_id="7", document_id="3", title="t", uri=uri, source="s", attributes=attributes or {},
        text="x", heading_path=(), page=None, position=0, excerpt="x", highlights=(), scores=Scores(1.0),
    )  # fmt: skip


def test_kendra_document_uri_is_openable() -> None:
    links = Links("https://chat.example.com")
    assert openable(_hit("file:///srv/notes/parking.md"), links).uri == "https://chat.example.com/#/doc/3/7"
    assert openable(_hit("file:///srv/aws-rds-x/a.md", {"url": "https://w.example/a"}), links).uri == (
        "https://w.example/a"
    )
    assert openable(_hit("s3://bucket/a.pdf"), links).uri == "s3://bucket/a.pdf"  # kept: not a server path
    assert (
        Links("https://c.example", ui=False).document("3", "7")
        == "https://c.example/v1/documents/3?passages=true"
    )


def test_client_types_carry_the_url() -> None:
    body = {"n": 1, "chunk_id": "2", "document_id": "3", "title": "T", "uri": "file:///x.md", "excerpt": "",
            "url": "https://example.com/x"}  # fmt: skip
    assert ClientCitation.from_json(body).url == "https://example.com/x"
    assert Passage.from_json({**body, "rank": 1, "text": "t", "scores": {"fused": 1.0}}).url == body["url"]


# ------------------------------------------------------------------ through the API


@pytest.fixture
def api(container: Container, settings: Settings, tmp_path: Path, embedder: Embedder) -> Iterator[TestClient]:
    guide = tmp_path / "kb" / "aws-lambda-developer-guide"
    guide.mkdir(parents=True)
    shutil.copy(SAMPLE_KB / "aws-lambda-developer-guide" / LAMBDA_PAGE, guide / LAMBDA_PAGE)
    (tmp_path / "kb" / "handbook.md").write_text(HANDBOOK, encoding="utf-8")
    (tmp_path / "kb" / "parking.md").write_text(NOTES, encoding="utf-8")
    report = container.ingestion.ingest([str(tmp_path / "kb")], IngestOptions())
    assert not report.failed and len(report.document_ids) == 3
    container.keys.add_user("reader")
    key = container.keys.create_key("reader", "t")[1]
    with TestClient(
        create_app(settings, container=container), headers={"Authorization": f"Bearer {key}"}
    ) as c:
        yield c


def _no_server_path(body: Any) -> None:
    """No openable link points at the server's files (``uri`` may: it says where it was read)."""
    text = json.dumps(body)
    urls = re.findall(r'"url": "([^"]*)"', text)
    assert urls and all(u.startswith(("https://", "http://")) for u in urls), urls


def test_query_results_and_documents_carry_openable_links(api: TestClient) -> None:
    urls = {}
    for q in (
        "Lambda function memory and timeout quotas",
        "train tickets travel desk",
        "staff car park badges",
    ):
        r = api.post("/v1/query", json={"query": q, "page_size": 1})
        assert r.status_code == 200, r.text
        top = r.json()["results"][0]
        assert top["uri"].startswith("file://")  # kept for compatibility
        urls[q] = top
        _no_server_path(r.json())
    lam, hand, park = urls.values()
    assert lam["url"] == "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
    assert hand["url"] == "https://intranet.example.com/handbook/travel"  # front matter
    # No public page: the web UI's view of the passage, on the address the request came to.
    assert park["url"] == f"http://testserver/#/doc/{park['document_id']}/{park['chunk_id']}"
    doc = api.get(f"/v1/documents/{park['document_id']}").json()
    assert doc["url"] == f"http://testserver/#/doc/{park['document_id']}"
    listed = api.get("/v1/documents").json()["documents"]
    assert {d["url"] for d in listed} >= {lam["url"], hand["url"]}


def test_chat_and_openai_abstentions_list_openable_sources(api: TestClient) -> None:
    question = "Who won the football world cup in 1998?"  # not in the documents: no model call
    native = api.post("/v1/chat", json={"message": question, "stream": False}).json()
    assert native["abstained"] is True and native["sources"]
    _no_server_path(native)
    stored = api.get(f"/v1/sessions/{native['session_id']}/messages").json()["messages"][0]
    assert [s["url"] for s in stored["sources"]] == [s["url"] for s in native["sources"]]

    with api.stream("POST", "/v1/chat", json={"message": question}) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert [s["url"] for s in events[1]["sources"]] == [s["url"] for s in native["sources"]]

    body = api.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]}).json()
    content = body["choices"][0]["message"]["content"]
    ext = body["awsomechat"]
    assert ext["abstained"] is True and content.startswith(ext["answer"]) and "listed below" in ext["answer"]
    listed = content[len(ext["answer"]) :]
    assert listed.startswith("\n\nClosest sources:\n")
    for s in ext["sources"]:  # each closest passage: its title and its link, as a client shows them
        assert f"({s['url']})" in listed and s["title"] in listed
    assert "file://" not in content
    _no_server_path(body)

    with api.stream(
        "POST", "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": question}], "stream": True},
    ) as r:  # fmt: skip
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert streamed == content
