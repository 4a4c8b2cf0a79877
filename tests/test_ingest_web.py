"""Crawling a site on a real loopback HTTP server into the store, and the reranker seam."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from awsomechat.container import Container
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.retrieval.hybrid import HybridRetriever
from awsomechat.types import AccessScope, SearchHit, SearchRequest
from tests.helpers import consistency_problems, ingest_texts

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav><a href="/docs/index.html">Home</a> <a href="/docs/a.html">A</a> Navigation menu boilerplate</nav>
<main><h1>{title}</h1><p>{body}</p>{links}</main>
<footer>Copyright footer boilerplate</footer></body></html>"""


def _page(title: str, body: str, links: Sequence[str] = ()) -> str:
    return PAGE.format(title=title, body=body, links="".join(f'<a href="{h}">{h}</a> ' for h in links))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "docs/index.html").write_text(
        _page("Handbook", "Welcome to the handbook.", ["a.html", "b.html", "/private/x.html"])
    )
    (root / "docs/a.html").write_text(_page("Expenses", "Submit travel expenses within 30 days.", ["c.html"]))
    (root / "docs/b.html").write_text(_page("Holidays", "Employees get 25 days of paid holiday."))
    (root / "docs/c.html").write_text(_page("Deep page", "Only reachable at depth two."))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/docs/index.html", root
    server.shutdown()
    server.server_close()


def test_crawl_ingests_main_content_within_depth_and_prunes(
    container: Container, site: tuple[str, Path]
) -> None:
    url, root = site
    report = container.ingestion.ingest([url], IngestOptions(crawl_depth=1, crawl_max_pages=10))
    titles = {d.title for d in container.documents.list_documents(AccessScope.admin())}
    assert titles == {"Handbook", "Expenses", "Holidays"}  # depth 2 page and off-prefix page not fetched
    assert report.added == 3
    hit = container.retriever.search(SearchRequest(text="how long do I have for travel expenses", k=1)).hits[
        0
    ]
    assert hit.title == "Expenses" and hit.uri.endswith("/docs/a.html")
    assert "boilerplate" not in hit.text

    (root / "docs/b.html").unlink()
    (root / "docs/a.html").write_text(_page("Expenses", "Submit travel expenses within 60 days."))
    again = container.ingestion.ingest([url], IngestOptions(crawl_depth=1, prune=True))
    assert (again.updated, again.unchanged, again.deleted) == (1, 1, 1)
    assert [n for n, _ in again.failed] and "404" in again.failed[0][1]
    titles = {d.title for d in container.documents.list_documents(AccessScope.admin())}
    assert titles == {"Handbook", "Expenses"}
    assert consistency_problems(container) == []

    # A crawl cut short by its page limit must not prune the pages it did not reach.
    cut = container.ingestion.ingest([url], IngestOptions(crawl_depth=1, crawl_max_pages=1, prune=True))
    assert cut.deleted == 0 and "not pruned" in cut.notes[0]
    assert container.documents.count() == 2


class _ReverseReranker:
    """A deliberately simple reranker: proves the seam runs over the whole window before paging."""

    name = "reverse"

    def rerank(self, query: str, hits: Sequence[SearchHit]) -> list[SearchHit]:
        out = list(reversed(hits))
        return [replace(h, scores=replace(h.scores, rerank=float(i))) for i, h in enumerate(out)]


def test_reranker_seam_reorders_the_window_before_paging(container: Container) -> None:
    ingest_texts(
        container, {f"d{i}.md": f"# Doc {i}\n\nwidget number {i} " + "widget " * i for i in range(6)}
    )
    plain = container.retriever
    reranked = HybridRetriever(
        container.search_queries,
        container.index_guard,
        container.get_embedder,
        container.analyzer,
        container.settings.retrieval,
        reranker=_ReverseReranker(),
    )
    base = [h.chunk_id for h in plain.search(SearchRequest(text="widget", k=6)).hits]
    first = reranked.search(SearchRequest(text="widget", k=3)).hits
    second = reranked.search(SearchRequest(text="widget", k=3, offset=3)).hits
    assert [h.chunk_id for h in first + second] == list(reversed(base))
    assert all(h.scores.rerank is not None for h in first)
