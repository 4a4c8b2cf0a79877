"""HTML loader (BeautifulSoup + lxml): the page's main content, sectioned by its h1-h6 headings."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag

from awsomechat.errors import LoaderError
from awsomechat.ingest.loaders.text import file_stem
from awsomechat.ingest.tables import pipe_table
from awsomechat.types import JsonScalar, LoadedDocument, Section, SourceItem

__all__ = ["HtmlLoader", "extract_links"]

_DROP_TAGS = [
    "nav", "header", "footer", "aside", "script", "style", "noscript", "form", "svg",
    "template", "iframe", "button", "select", "canvas", "object", "embed", "head",
]  # fmt: skip
_DROP_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "menu", "menubar"})
# Class/id words of site chrome. Matched against each "-"/"_" separated part of a class or id, so
# "site-nav" and "navbar-top" go while "canvas-wrapper" or "unavailable" stay.
_BOILER_PREFIXES = ("nav", "menu", "sidebar", "breadcrumb", "footer", "cookie")
_KEEP_TAGS = frozenset({"html", "body", "main", "article"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset(
    ["p", "div", "section", "blockquote", "dd", "dt", "dl", "figure", "figcaption", "address",
     "details", "summary", "center", "li", "main", "article", "hr", "caption"]
)  # fmt: skip
_WS = re.compile(r"\s+")
_MAX_TITLE = 200


def _parse(html: bytes | str) -> BeautifulSoup:
    return BeautifulSoup(html, "lxml")


def _is_boilerplate(tag: Tag, page_chars: int) -> bool:
    if tag.name in _KEEP_TAGS or tag.get("role") == "main":
        return False
    if str(tag.get("role", "")).lower() in _DROP_ROLES:
        return True
    words = [*tag.get_attribute_list("class"), str(tag.get("id") or "")]
    for word in words:
        for part in re.split(r"[-_\s]+", str(word or "").lower()):
            if part.startswith(_BOILER_PREFIXES):
                # A wrapper named after chrome ("page has-sidebar") may hold the content itself:
                # keep anything with the main content, the page's h1 or most of its text.
                if tag.find(["main", "article", "h1"]) is not None or tag.find(True, {"role": "main"}):
                    return False
                return len(tag.get_text()) < page_chars // 2
    return False


def _inline(node: Tag) -> str:
    return _WS.sub(" ", node.get_text(" ")).strip()


class _Walker:
    """Walks the content tree in order, turning blocks into text and headings into sections."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.path: list[tuple[int, str]] = []
        self.blocks: list[str] = []
        self.buf: list[str] = []

    def flush_inline(self) -> None:
        lines = (line.strip() for line in "".join(self.buf).split("\n"))
        text = "\n".join(line for line in lines if line)
        if text:
            self.blocks.append(text)
        self.buf = []

    def close_section(self) -> None:
        self.flush_inline()
        if self.blocks:
            path = tuple(text for _, text in self.path)
            self.sections.append(Section(text="\n\n".join(self.blocks), heading_path=path))
        self.blocks = []

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, PreformattedString):  # comments, doctypes, CDATA
                    self.buf.append(_WS.sub(" ", str(child)))
            elif isinstance(child, Tag):
                self.element(child)

    def element(self, tag: Tag) -> None:
        name = tag.name
        if name in _HEADINGS:
            text = _inline(tag)
            if not text:
                return
            self.close_section()
            level = _HEADINGS[name]
            while self.path and self.path[-1][0] >= level:
                self.path.pop()
            self.path.append((level, text))
        elif name == "br":
            self.buf.append("\n")
        elif name == "pre":
            self.flush_inline()
            code = tag.get_text().strip("\n").rstrip()
            if code.strip():
                self.blocks.append(code)
        elif name == "table":
            self.flush_inline()
            table = pipe_table(_table_rows(tag))
            if table:
                self.blocks.append(table)
        elif name in ("ul", "ol"):
            self.flush_inline()
            items = _list_items(tag, 0)
            if items:
                self.blocks.append("\n".join(items))
        elif name in _BLOCKS:
            self.flush_inline()
            self.walk(tag)
            self.flush_inline()
        else:
            self.walk(tag)


def _list_items(lst: Tag, depth: int) -> list[str]:
    lines: list[str] = []
    for li in lst.find_all("li", recursive=False):
        nested = [sub for sub in li.find_all(["ul", "ol"]) if sub.find_parent("li") is li]
        for sub in nested:
            sub.extract()
        text = _inline(li)
        if text:
            lines.append("  " * depth + "- " + text)
        for sub in nested:
            lines.extend(_list_items(sub, depth + 1))
    return lines


def _table_rows(table: Tag) -> list[list[str]]:
    rows: list[list[str]] = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue  # a nested table's rows are read with their own table's cell
        cells = [_inline(cell) for cell in tr.find_all(["td", "th"], recursive=False)]
        if any(cells):
            rows.append(cells)
    return rows


def _content_root(soup: BeautifulSoup) -> Tag:
    for candidate in (soup.find("main"), soup.find("article"), soup.find(True, {"role": "main"})):
        if isinstance(candidate, Tag):
            return candidate
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


def _metadata(soup: BeautifulSoup) -> dict[str, JsonScalar]:
    meta: dict[str, JsonScalar] = {}
    desc = soup.find("meta", attrs={"name": "description"})
    if isinstance(desc, Tag) and str(desc.get("content") or "").strip():
        meta["description"] = str(desc.get("content")).strip()
    root = soup.find("html")
    if isinstance(root, Tag) and root.get("lang"):
        meta["lang"] = str(root.get("lang"))
    return meta


class HtmlLoader:
    """Web pages: navigation, headers, footers, sidebars and scripts are left out."""

    format = "html"

    def load(self, item: SourceItem) -> LoadedDocument:
        """Parse ``item``; sections follow the h1-h6 outline of the main content."""
        try:
            soup = _parse(item.data)
        except Exception as exc:
            raise LoaderError(f"{item.name}: not readable HTML ({exc})") from exc
        title_tag = soup.find("title")
        title = _inline(title_tag) if isinstance(title_tag, Tag) else ""
        metadata = _metadata(soup)
        for tag in soup.find_all(_DROP_TAGS):
            # An article's own <header> holds its h1 (and is not site chrome); keep that one.
            if tag.name != "header" or tag.find_parent(["main", "article"]) is None:
                tag.extract()
        page_chars = len(soup.get_text())
        for tag in [t for t in soup.find_all(True) if _is_boilerplate(t, page_chars)]:
            tag.extract()
        root = _content_root(soup)
        if not title:
            h1 = root.find("h1")
            title = _inline(h1) if isinstance(h1, Tag) else ""
        walker = _Walker()
        walker.walk(root)
        walker.close_section()
        if not walker.sections:
            raise LoaderError(
                f"{item.name}: no text found in the page's main content",
                hint="the page may build its content with JavaScript, which is not run",
            )
        return LoadedDocument(
            title=(title or file_stem(item))[:_MAX_TITLE],
            sections=walker.sections,
            format=self.format,
            metadata=metadata,
        )


def extract_links(html: bytes | str, base_url: str) -> list[str]:
    """Absolute http(s) links of a page, fragments stripped, in page order without duplicates.

    A ``<base href>`` in the page is honoured, as browsers do.
    """
    soup = _parse(html)
    base = soup.find("base", href=True)
    if isinstance(base, Tag):
        base_url = urljoin(base_url, str(base["href"]))
    seen: dict[str, None] = {}
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:")):
            continue
        try:
            url = urldefrag(urljoin(base_url, href)).url
            scheme = urlsplit(url).scheme
        except ValueError:
            continue  # malformed hrefs (bad IPv6 hosts, ...) are the page's problem, not ours
        if scheme in ("http", "https"):
            seen.setdefault(url, None)
    return list(seen)
