"""Web sources: one URL, or a polite, bounded same-site crawl.

Pruning: a crawl cannot list a site cheaply, so for web sources the set of current URIs is the
set yielded successfully in this run (``yielded_uris``, filled while iterating). A page that
fails (404, timeout) is therefore treated as gone.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx
from bs4 import BeautifulSoup, Tag

from awsomechat.errors import SourceError
from awsomechat.ingest.sources import SourceFailure, format_size
from awsomechat.types import SourceItem

__all__ = ["DEFAULT_USER_AGENT", "CrawlSource", "UrlSource", "extract_links", "normalize_url"]

DEFAULT_USER_AGENT = "awsomechat/0.1 (document ingestion)"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_MAX_REDIRECTS = 10
_ROBOTS_MAX_BYTES = 512 * 1024
_MAX_CRAWL_DELAY_S = 30.0  # a robots.txt Crawl-delay is honoured, but cannot stall us for hours
# Links to these are never documents; skipping them saves requests (PDF, DOCX stay in).
_SKIP_EXTENSION_LIST = (
    "png jpg jpeg gif svg webp ico bmp tif tiff avif css js mjs map woff woff2 ttf otf eot "
    "zip gz tgz tar bz2 xz 7z rar exe dmg iso msi deb rpm apk bin wasm "
    "mp3 mp4 m4a wav ogg flac avi mov webm mkv"
)
_SKIP_EXTENSIONS = frozenset(_SKIP_EXTENSION_LIST.split())


def normalize_url(url: str) -> str:
    """Canonical form used to deduplicate URLs: lower-case scheme and host, no default port,
    no fragment, ``/`` for an empty path; query and path are kept as they are.

    Raises:
        ValueError: not an absolute http(s) URL with a host, or a bad port.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    if any(c.isspace() or c in '<>"{}|\\^`' for c in host):
        raise ValueError(f"invalid host in URL: {url!r}")
    port = parts.port  # raises ValueError for "host:abc" or out-of-range ports
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    if parts.username is not None:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def extract_links(html: bytes | str, base_url: str) -> list[str]:
    """Absolute, normalised http(s) targets of ``<a href>`` in ``html``, in document order,
    without duplicates. ``<base href>`` is honoured; mailto:, javascript: etc. are dropped."""
    soup = BeautifulSoup(html, "lxml")
    base = base_url
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag) and isinstance(base_tag.get("href"), str):
        base = urljoin(base_url, str(base_tag["href"]).strip())
    links: list[str] = []
    for anchor in soup.find_all("a", href=True):
        href = anchor.get("href") if isinstance(anchor, Tag) else None
        if not isinstance(href, str):
            continue
        try:
            link = normalize_url(urljoin(base, href.strip()))
        except ValueError:
            continue
        if link not in links:
            links.append(link)
    return links


def _parse_spec(url: str) -> str:
    try:
        normalized = normalize_url(url)
        httpx.URL(normalized)  # rejects what urlsplit lets through (spaces in the host, ...)
    except (ValueError, httpx.InvalidURL) as exc:
        raise SourceError(
            f"invalid URL: {url!r}", hint="give a full URL such as https://example.com/docs/"
        ) from exc
    return normalized


def _url_name(url: str) -> str:
    return unquote(urlsplit(url).path) or "/"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class _Failed:
    reason: str
    status: int | None = None


class _SkipRedirect(Exception):
    """Raised by a redirect check when the target was fetched already: skip, no failure."""


def _last_modified(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _fetch(
    client: httpx.Client,
    url: str,
    *,
    source: str,
    max_bytes: int,
    on_redirect: Callable[[str], str | None] | None = None,
) -> SourceItem | _Failed:
    """GET ``url`` as an item of ``source``. Redirects are followed by hand so that
    ``on_redirect`` can veto each hop (it returns a refusal reason or None); the body is
    streamed so that one past ``max_bytes`` is abandoned instead of buffered."""
    current = url
    try:
        for _ in range(_MAX_REDIRECTS + 1):
            with client.stream("GET", current) as resp:
                if resp.is_redirect:
                    try:
                        target = normalize_url(urljoin(current, resp.headers["location"]))
                    except ValueError:
                        return _Failed(f"bad redirect to {resp.headers['location']!r}", resp.status_code)
                    refusal = on_redirect(target) if on_redirect else None
                    if refusal:
                        return _Failed(refusal, resp.status_code)
                    current = target
                    continue
                if resp.status_code != 200:
                    return _Failed(f"HTTP {resp.status_code} {resp.reason_phrase}".strip(), resp.status_code)
                declared = resp.headers.get("content-length", "")
                if max_bytes > 0 and declared.isdigit() and int(declared) > max_bytes:
                    size = format_size(int(declared))
                    return _Failed(f"response is {size}, over the {format_size(max_bytes)} limit")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if max_bytes > 0 and len(body) > max_bytes:
                        return _Failed(f"response is over the {format_size(max_bytes)} limit")
                content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                final = normalize_url(str(resp.url))
                return SourceItem(
                    uri=final,
                    source=source,
                    name=_url_name(final),
                    data=bytes(body),
                    content_type=content_type or None,
                    modified_at=_last_modified(resp.headers.get("last-modified")),
                )
        return _Failed(f"more than {_MAX_REDIRECTS} redirects")
    except httpx.TimeoutException:
        limit = client.timeout.read or client.timeout.connect
        return _Failed("timed out" + (f" after {limit:g} s" if limit else ""))
    except httpx.ConnectError as exc:
        return _Failed(f"cannot connect to {urlsplit(current).netloc}: {exc}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return _Failed(f"request failed: {str(exc) or type(exc).__name__}")


def _client(timeout_s: float, user_agent: str) -> httpx.Client:
    # Redirects are followed by _fetch itself, hop by hop.
    return httpx.Client(timeout=timeout_s, headers={"User-Agent": user_agent}, follow_redirects=False)


class UrlSource:
    """A single URL, fetched like a browser would (redirects anywhere, robots.txt not consulted:
    the user asked for this page). Yields exactly one item or one failure."""

    def __init__(
        self, url: str, *, max_bytes: int, timeout_s: float = 30.0, user_agent: str = DEFAULT_USER_AGENT
    ) -> None:
        self.url = _parse_spec(url)
        self.name = self.url
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self.yielded_uris: set[str] = set()

    def describe(self) -> str:
        """One-line summary."""
        return f"web page {self.url}"

    def iter_items(self) -> Iterator[SourceItem | SourceFailure]:
        """Yield the page (``uri`` is the URL after redirects) or a failure."""
        self.yielded_uris = set()
        with _client(self.timeout_s, self.user_agent) as client:
            result = _fetch(client, self.url, source=self.name, max_bytes=self.max_bytes)
        if isinstance(result, _Failed):
            yield SourceFailure(
                self.url, _url_name(self.url), result.reason, gone=result.status in (404, 410)
            )
            return
        self.yielded_uris.add(result.uri)
        yield result


@dataclass(frozen=True)
class _Scope:
    """Same scheme+host+port and under the start URL's folder."""

    origin: str
    prefix: str

    @classmethod
    def of(cls, url: str) -> _Scope:
        path = urlsplit(url).path
        return cls(_origin(url), path[: path.rfind("/") + 1] or "/")

    def contains(self, url: str) -> bool:
        return _origin(url) == self.origin and urlsplit(url).path.startswith(self.prefix)


class CrawlSource:
    """Breadth-first crawl from ``url``: at most ``depth`` link hops and ``max_pages`` requests
    (failed pages count), same scheme+host+port, under the start URL's folder, honouring
    robots.txt (fetched once per host; missing = allowed) and waiting ``delay_s`` between pages.

    Links are followed only out of HTML pages; links to images, scripts, archives... are skipped.
    If the start URL redirects to another host or into a subfolder, the scope follows it.
    ``visited`` lists every URL requested in the last run (redirect hops included), in order.
    """

    def __init__(
        self,
        url: str,
        *,
        depth: int,
        max_pages: int,
        max_bytes: int,
        timeout_s: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        delay_s: float = 0.0,
    ) -> None:
        self.start = _parse_spec(url)
        self.name = self.start
        self.depth = depth
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self.delay_s = delay_s
        self.visited: list[str] = []
        self.yielded_uris: set[str] = set()
        # False when the page limit stopped the crawl with links left: pruning would then delete
        # pages that exist but were not reached.
        self.complete = False
        self._robots: dict[str, RobotFileParser] = {}

    def describe(self) -> str:
        """One-line summary with the crawl bounds."""
        return f"crawl of {self.start} (depth {self.depth}, up to {self.max_pages} pages)"

    def iter_items(self) -> Iterator[SourceItem | SourceFailure]:
        """Yield pages in breadth-first order, a failure for each page that could not be read."""
        self.visited, self.yielded_uris, self._robots, self.complete = [], set(), {}, False
        with _client(self.timeout_s, self.user_agent) as client:
            if not self._allowed(client, self.start):
                yield SourceFailure(self.start, _url_name(self.start), "disallowed by robots.txt")
                return
            scope = _Scope.of(self.start)
            queue: deque[tuple[str, int]] = deque([(self.start, 0)])
            seen = {self.start}  # queued or fetched: never queue a URL twice
            done: set[str] = set()  # fetched, redirect hops included

            fetched = 0  # pages requested, failures included; redirect hops are not pages
            is_start = True

            def check_redirect(target: str) -> str | None:
                if target in done:
                    raise _SkipRedirect(target)
                # The start URL may redirect anywhere (the user typed it); later links may not.
                if not is_start and not scope.contains(target):
                    return f"redirects out of the crawled site to {target}"
                if not is_start and not self._allowed(client, target):
                    return f"redirects to {target}, disallowed by robots.txt"
                seen.add(target)
                done.add(target)
                self.visited.append(target)
                return None

            while queue and fetched < self.max_pages:
                url, hops = queue.popleft()
                if url in done:
                    continue  # reached earlier through a redirect
                if fetched:
                    time.sleep(self._delay(client, url))
                fetched += 1
                done.add(url)
                self.visited.append(url)
                try:
                    result = _fetch(
                        client, url, source=self.name, max_bytes=self.max_bytes, on_redirect=check_redirect
                    )
                except _SkipRedirect:
                    continue
                finally:
                    was_start, is_start = is_start, False
                if isinstance(result, _Failed):
                    yield SourceFailure(url, _url_name(url), result.reason, gone=result.status in (404, 410))
                    continue
                if was_start and result.uri != url:
                    landed = _Scope.of(result.uri)
                    if landed.origin != scope.origin or landed.prefix.startswith(scope.prefix):
                        scope = landed
                self.yielded_uris.add(result.uri)
                yield result
                if hops >= self.depth or result.content_type not in _HTML_TYPES:
                    continue
                for link in extract_links(result.data, result.uri):
                    if link in seen:
                        continue
                    seen.add(link)
                    if scope.contains(link) and not _is_binary(link) and self._allowed(client, link):
                        queue.append((link, hops + 1))
            self.complete = not any(u not in done for u, _ in queue)

    def _robots_for(self, client: httpx.Client, url: str) -> RobotFileParser:
        origin = _origin(url)
        parser = self._robots.get(origin)
        if parser is None:
            parser = RobotFileParser(origin + "/robots.txt")
            result = _fetch(client, origin + "/robots.txt", source="", max_bytes=_ROBOTS_MAX_BYTES)
            if isinstance(result, SourceItem):
                parser.parse(result.data.decode("utf-8", "replace").splitlines())
            elif result.status in (401, 403):
                # A locked robots.txt means "keep out", as urllib.robotparser reads it.
                parser.parse(["User-agent: *", "Disallow: /"])
            else:
                parser.parse([])  # missing or unreachable: allowed (the page fetch will tell)
            self._robots[origin] = parser
        return parser

    def _allowed(self, client: httpx.Client, url: str) -> bool:
        return self._robots_for(client, url).can_fetch(self.user_agent, url)

    def _delay(self, client: httpx.Client, url: str) -> float:
        crawl_delay = self._robots_for(client, url).crawl_delay(self.user_agent)
        return min(max(self.delay_s, float(crawl_delay or 0)), _MAX_CRAWL_DELAY_S)


def _is_binary(url: str) -> bool:
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return "." in last and last.rsplit(".", 1)[-1].lower() in _SKIP_EXTENSIONS
