"""Document sources: local folders/files and web pages/crawls (against a loopback HTTP server)."""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from awsomechat.errors import SourceError
from awsomechat.ingest.sources import SourceFailure, open_source
from awsomechat.ingest.sources.files import FileSource, FolderSource
from awsomechat.ingest.sources.web import CrawlSource, UrlSource, extract_links
from awsomechat.testing.source import Place, SourceContract
from awsomechat.types import SourceItem

MB = 1024 * 1024


def _open(spec: str, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "include": [],
        "exclude": [],
        "max_bytes": 50 * MB,
        "crawl_depth": 0,
        "crawl_max_pages": 100,
        "timeout_s": 5.0,
        "user_agent": "awsomechat-test",
    }
    options.update(overrides)
    return open_source(spec, **options)


def _split(items: list[SourceItem | SourceFailure]) -> tuple[list[SourceItem], list[SourceFailure]]:
    return (
        [i for i in items if isinstance(i, SourceItem)],
        [i for i in items if isinstance(i, SourceFailure)],
    )


# --------------------------------------------------------------- folders ---


def _write(root: Path, rel: str, data: bytes | str = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    # Written out of order on purpose: the walk must sort, not follow creation order.
    for rel in ("notes/x/skip.txt", "b.txt", "guides/x/deep.md", "a.md", "notes/x/other.md"):
        _write(root, rel, f"content of {rel}")
    _write(root, "guides/intro.md", "# Intro")
    for junk in (".hidden.md", ".secret/inside.md", "node_modules/pkg/readme.md", "__pycache__/m.md"):
        _write(root, junk)
    return root


def _names(source: FolderSource) -> list[str]:
    return [item.name for item in source.iter_items()]


ALL_VISIBLE = ["a.md", "b.txt", "guides/intro.md", "guides/x/deep.md", "notes/x/other.md", "notes/x/skip.txt"]


def test_folder_recurses_in_sorted_order_and_skips_hidden_and_junk(tree: Path) -> None:
    source = FolderSource(tree, max_bytes=MB)
    assert _names(source) == ALL_VISIBLE
    assert _names(source) == _names(FolderSource(tree, max_bytes=MB))  # deterministic


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (["*.md"], [], ["a.md", "guides/intro.md", "guides/x/deep.md", "notes/x/other.md"]),
        (["**/x/*.md"], [], ["guides/x/deep.md", "notes/x/other.md"]),
        (["guides/**"], [], ["guides/intro.md", "guides/x/deep.md"]),
        (["guides"], [], ["guides/intro.md", "guides/x/deep.md"]),  # a folder name selects its files
        ([], ["guides/**"], ["a.md", "b.txt", "notes/x/other.md", "notes/x/skip.txt"]),
        ([], ["x"], ["a.md", "b.txt", "guides/intro.md"]),  # no slash: that name at any depth
        (["*.md"], ["notes/"], ["a.md", "guides/intro.md", "guides/x/deep.md"]),
        (["/*.md"], [], ["a.md"]),  # a leading slash anchors at the folder root
    ],
)
def test_folder_include_exclude_globs(
    tree: Path, include: list[str], exclude: list[str], expected: list[str]
) -> None:
    assert _names(FolderSource(tree, include=include, exclude=exclude, max_bytes=MB)) == expected


def test_folder_items_carry_uri_source_bytes_type_and_mtime(tree: Path) -> None:
    stamp = dt.datetime(2024, 5, 17, 12, 30, tzinfo=dt.UTC)
    os.utime(tree / "guides/intro.md", (stamp.timestamp(), stamp.timestamp()))
    items = {i.name: i for i in FolderSource(tree, max_bytes=MB).iter_items() if isinstance(i, SourceItem)}
    intro = items["guides/intro.md"]
    assert intro.uri == (tree / "guides/intro.md").resolve().as_uri()
    assert intro.uri.startswith("file:///")
    assert intro.source == tree.resolve().as_uri()
    assert intro.data == b"# Intro"
    assert intro.modified_at == stamp
    assert items["b.txt"].content_type == "text/plain"


def test_oversize_file_is_reported_without_being_read(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tree / "manual.pdf"
    with big.open("wb") as fh:
        fh.truncate(120 * MB)  # sparse: costs no disk, but reading it would cost 120 MB of memory
    opened: list[str] = []
    real_open = io.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.fspath(file) if isinstance(file, str | os.PathLike) else str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(builtins, "open", spy)
    items, failures = _split(list(FolderSource(tree, max_bytes=50 * MB).iter_items()))
    assert [(f.name, f.reason) for f in failures] == [
        ("manual.pdf", "file is 120.0 MB, over the 50.0 MB limit")
    ]
    assert failures[0].uri == big.resolve().as_uri()
    assert str(big) not in opened and str(big.resolve()) not in opened
    assert len(items) == len(ALL_VISIBLE)  # the other files are still read


def test_unreadable_file_is_a_failure_and_the_walk_goes_on(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod cannot lock out root (CI containers), so make exactly one open fail instead.
    real_open = Path.open

    def deny(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "b.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    items, failures = _split(list(FolderSource(tree, max_bytes=MB).iter_items()))
    assert [(f.name, f.reason) for f in failures] == [("b.txt", "permission denied")]
    assert [i.name for i in items] == [n for n in ALL_VISIBLE if n != "b.txt"]


@pytest.mark.timeout(20)
def test_symlink_loops_and_links_out_of_the_root_are_not_followed(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _write(outside, "leak.md", "secret")
    (tree / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "guides" / "up").symlink_to(tree / "guides", target_is_directory=True)
    (tree / "escape").symlink_to(outside, target_is_directory=True)
    (tree / "leak.md").symlink_to(outside / "leak.md")
    (tree / "alias.md").symlink_to(tree / "a.md")  # same file twice: read once, under its real name
    items, failures = _split(list(FolderSource(tree, max_bytes=MB).iter_items()))
    assert [i.name for i in items] == ALL_VISIBLE
    assert failures == []
    assert all(b"secret" not in i.data for i in items)


def test_list_uris_matches_iter_items(tree: Path) -> None:
    with (tree / "huge.bin").open("wb") as fh:
        fh.truncate(2 * MB)
    source = FolderSource(tree, include=["*.md", "*.bin"], max_bytes=MB)
    # Over-size files are listed too: they still exist, so pruning must keep their documents.
    assert source.list_uris() == [i.uri for i in source.iter_items()]
    assert (tree / "huge.bin").resolve().as_uri() in source.list_uris()


def test_open_source_picks_folder_or_file_and_expands_home(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = _open("~/docs", include=["*.md"])
    assert isinstance(folder, FolderSource)
    assert folder.name == tree.resolve().as_uri()
    assert len(list(folder.iter_items())) == 4

    single = _open(str(tree / "guides" / "intro.md"), include=["*.nothing"])
    assert isinstance(single, FileSource)
    [item] = list(single.iter_items())  # an explicit file is read whatever the globs say
    assert isinstance(item, SourceItem)
    assert (item.name, item.data) == ("intro.md", b"# Intro")
    assert item.uri == item.source == single.name == (tree / "guides/intro.md").resolve().as_uri()
    assert single.list_uris() == [item.uri]
    assert isinstance(_open((tree / "a.md").resolve().as_uri()), FileSource)  # file:// URIs work too


def test_missing_path_is_a_source_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(SourceError) as err:
        _open(str(missing))
    assert str(missing) in str(err.value)
    assert err.value.hint
    with pytest.raises(SourceError, match="unsupported"):
        _open("ftp://example.com/file.pdf")


# ------------------------------------------------------------------- web ---


def _page(title: str, *links: str) -> str:
    anchors = "".join(f'<a href="{href}">{href}</a>\n' for href in links)
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{anchors}</body></html>"


SITE: dict[str, str | bytes] = {
    "robots.txt": "User-agent: *\nDisallow: /docs/private/\n",
    "docs/index.html": _page(
        "Home",
        "missing.html",
        "guide.html",
        "guide.html#part-2",
        "sub",  # a folder: the server answers 301 -> /docs/sub/
        "logo.png",
        "http://example.invalid/x",
        "/outside.html",
        "private/secret.html",
        "manual.pdf",
        "to-offsite",
        "mailto:someone@example.invalid",
    ),
    "docs/guide.html": _page("Guide", "deep/level2.html", "index.html"),
    "docs/deep/level2.html": _page("Level 2", "level3.html"),
    "docs/deep/level3.html": _page("Level 3"),
    "docs/sub/index.html": _page("Sub", "../guide.html"),
    "docs/private/secret.html": _page("Secret"),
    "docs/pdf-link.html": _page("Only linked from inside the PDF"),
    "docs/manual.pdf": b"%PDF-1.4 <a href='pdf-link.html'>not a link</a>",
    "docs/logo.png": b"\x89PNG\r\n",
    "outside.html": _page("Outside the start folder"),
    "big.html": "<p>" + "x" * 200_000 + "</p>",
}
REDIRECTS = {"/redirect-me": "/docs/guide.html", "/docs/to-offsite": "http://example.invalid/x"}


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str]  # set per server by the fixture

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.path in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[self.path])
            self.end_headers()
        elif self.path == "/slow":
            time.sleep(2)  # longer than the tests' read timeout
            self.send_response(204)
            self.end_headers()
        elif self.path == "/stream":
            # No Content-Length: only the streaming cap can stop this (up to 500 MB) body.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(8000):
                    self.wfile.write(b"y" * 65536)
            except OSError:
                pass  # the client hung up, as it should
        else:
            super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Site:
    base: str
    root: Path
    requests: list[str] = field(default_factory=list)

    def page_requests(self) -> list[str]:
        return [r for r in self.requests if r != "/robots.txt"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "site"
    for rel, content in SITE.items():
        _write(root, rel, content)
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}", root, requests)
    finally:
        server.shutdown()
        server.server_close()


def _crawl(
    site: Site, depth: int, max_pages: int = 100
) -> tuple[CrawlSource, list[SourceItem], list[SourceFailure]]:
    source = CrawlSource(
        f"{site.base}/docs/index.html", depth=depth, max_pages=max_pages, max_bytes=MB, timeout_s=5
    )
    items, failures = _split(list(source.iter_items()))
    return source, items, failures


def test_crawl_depth_one_reads_the_start_page_and_its_direct_links(site: Site) -> None:
    source, items, failures = _crawl(site, depth=1)
    assert [i.name for i in items] == [
        "/docs/index.html",
        "/docs/guide.html",
        "/docs/sub/",
        "/docs/manual.pdf",
    ]
    assert all(i.source == f"{site.base}/docs/index.html" for i in items)
    assert "/docs/deep/level2.html" not in site.requests  # two hops away
    # The 404 comes first in the page, and the crawl carried on after it.
    assert failures[0].name == "/docs/missing.html" and "404" in failures[0].reason
    assert source.yielded_uris == {i.uri for i in items}


def test_crawl_depth_two_goes_one_hop_further(site: Site) -> None:
    _, items, _ = _crawl(site, depth=2)
    names = [i.name for i in items]
    assert "/docs/deep/level2.html" in names
    assert "/docs/deep/level3.html" not in names and "/docs/deep/level3.html" not in site.requests


def test_crawl_max_pages_caps_requests(site: Site) -> None:
    source, items, failures = _crawl(site, depth=5, max_pages=3)
    assert len(site.page_requests()) == 3
    assert len(items) + len(failures) == 3
    assert len(source.visited) == 3


def test_crawl_stays_on_site_under_the_start_folder_and_obeys_robots(site: Site) -> None:
    source, items, failures = _crawl(site, depth=5)
    names = {i.name for i in items}
    assert names == {
        "/docs/index.html",
        "/docs/guide.html",
        "/docs/sub/",
        "/docs/manual.pdf",
        "/docs/deep/level2.html",
        "/docs/deep/level3.html",
    }
    never = {"/outside.html", "/docs/logo.png", "/docs/private/secret.html", "/docs/pdf-link.html", "/x"}
    assert never.isdisjoint(site.requests)
    assert not any("example.invalid" in url for url in source.visited)
    assert site.requests.count("/robots.txt") == 1
    # Each page once, whatever the number of links (fragment, back links) pointing to it.
    assert sorted(site.page_requests()) == sorted(set(site.page_requests()))
    # A same-site link that redirects off-site is reported, not followed.
    off = [f for f in failures if f.name == "/docs/to-offsite"]
    assert off and "example.invalid" in off[0].reason


def test_crawl_start_disallowed_by_robots(site: Site) -> None:
    source = CrawlSource(f"{site.base}/docs/private/secret.html", depth=2, max_pages=10, max_bytes=MB)
    [failure] = list(source.iter_items())
    assert isinstance(failure, SourceFailure) and "robots.txt" in failure.reason
    assert site.page_requests() == []


def test_redirects_are_resolved(site: Site) -> None:
    [item] = list(UrlSource(f"{site.base}/redirect-me", max_bytes=MB).iter_items())
    assert isinstance(item, SourceItem)
    assert item.uri == f"{site.base}/docs/guide.html"
    assert item.source == f"{site.base}/redirect-me"
    assert item.name == "/docs/guide.html"
    assert b"<h1>Guide</h1>" in item.data
    assert item.content_type == "text/html"
    # Last-Modified (whole seconds) becomes an aware datetime.
    mtime = int((site.root / "docs/guide.html").stat().st_mtime)
    assert item.modified_at == dt.datetime.fromtimestamp(mtime, tz=dt.UTC)


def test_single_url_is_fetched_without_crawling(site: Site) -> None:
    source = _open(f"{site.base}/docs/index.html", crawl_depth=0)
    assert isinstance(source, UrlSource)
    items = list(source.iter_items())
    assert len(items) == 1 and isinstance(items[0], SourceItem)
    assert site.requests == ["/docs/index.html"]
    assert isinstance(_open(f"{site.base}/docs/index.html", crawl_depth=2), CrawlSource)


def test_size_cap_refuses_large_responses(site: Site) -> None:
    [declared] = list(UrlSource(f"{site.base}/big.html", max_bytes=10_000).iter_items())
    assert isinstance(declared, SourceFailure) and "over the 9.8 KB limit" in declared.reason
    started = time.monotonic()
    [streamed] = list(UrlSource(f"{site.base}/stream", max_bytes=10_000).iter_items())
    assert isinstance(streamed, SourceFailure) and "over the 9.8 KB limit" in streamed.reason
    assert time.monotonic() - started < 5  # aborted early, not after 500 MB


def test_crawl_scope_follows_a_start_redirect_into_a_folder(site: Site) -> None:
    # "/docs" alone would scope the crawl to the whole site; the server's redirect to "/docs/"
    # says where the documents are.
    source = CrawlSource(f"{site.base}/docs", depth=3, max_pages=50, max_bytes=MB)
    items, _ = _split(list(source.iter_items()))
    assert items[0].uri == f"{site.base}/docs/" and items[0].source == f"{site.base}/docs"
    assert "/docs/guide.html" in {i.name for i in items}
    assert "/outside.html" not in site.requests


def test_timeout_is_a_failure(site: Site) -> None:
    [failure] = list(UrlSource(f"{site.base}/slow", max_bytes=MB, timeout_s=0.3).iter_items())
    assert isinstance(failure, SourceFailure) and "timed out" in failure.reason


def test_unreachable_host_is_a_failure_not_an_exception() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}/docs/"
    [failure] = list(UrlSource(url, max_bytes=MB, timeout_s=5).iter_items())
    assert isinstance(failure, SourceFailure)
    assert failure.uri == url and "cannot connect" in failure.reason
    crawl = list(CrawlSource(url, depth=2, max_pages=5, max_bytes=MB, timeout_s=5).iter_items())
    assert len(crawl) == 1 and isinstance(crawl[0], SourceFailure)


@pytest.mark.parametrize("spec", ["http://", "https://host:99999/", "http://exa mple.com/", "https:///path"])
def test_invalid_url_is_a_source_error(spec: str) -> None:
    with pytest.raises(SourceError, match="invalid URL"):
        _open(spec)


def test_extract_links_resolves_normalises_and_filters() -> None:
    html = """<html><head><base href="/base/"></head><body>
      <a href="page.html#frag">a</a> <a href="page.html">dup</a> <a href="HTTP://Example.COM:80/x">b</a>
      <a href="mailto:a@b.c">m</a> <a href="javascript:void(0)">j</a> <a>no href</a>
      <a href="https://example.com:443">c</a> <a href="//cdn.example.com/y?q=1">d</a></body></html>"""
    assert extract_links(html, "http://site.test/dir/start.html") == [
        "http://site.test/base/page.html",
        "http://example.com/x",
        "https://example.com/",
        "http://cdn.example.com/y?q=1",
    ]


class TestFolderSourceContract(SourceContract):
    @pytest.fixture
    def place(self, tmp_path: Path) -> Place:
        root = tmp_path / "kb"

        def put(files: dict[str, bytes]) -> str:
            for rel, data in files.items():
                _write(root, rel, data)
            return str(root)

        return put
