"""Document sources: find documents and yield their raw bytes; parsing happens elsewhere.

A source is a folder, a single file, a single URL, a same-site crawl or an S3 prefix. Every source has a
``name`` (the ``source`` string stored on its documents), yields :class:`SourceItem` for what it
could read and :class:`SourceFailure` for what it could not, so one bad file never stops a run.
A source that can name and version a document before reading it (S3: key and ETag from the
listing) yields a :class:`LazyItem` instead: the pipeline downloads it only when the stored
version differs.

Pruning (deleting stored documents that disappeared from a source) needs the set of URIs that
currently exist: folders and files list it cheaply with ``list_uris()``; a crawl cannot, so for
web sources it is the set of URIs yielded successfully in this run (``yielded_uris``).

The concrete classes live in :mod:`.files`, :mod:`.web` and :mod:`.s3`; they are imported lazily
by :func:`open_source` so that importing this package stays cheap (no ``httpx`` or ``boto3``
unless needed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from awsomechat.errors import SourceError
from awsomechat.types import SourceItem

__all__ = ["LazyItem", "Source", "SourceFailure", "format_size", "open_source"]


@dataclass(frozen=True)
class SourceFailure:
    """Something a source found but could not read; the caller reports it and goes on.

    ``uri`` is the file URI or URL, ``name`` the short name shown to users (relative path or
    URL path) and ``reason`` a human-readable cause ("HTTP 404 Not Found", "permission denied").
    """

    uri: str
    name: str
    reason: str
    # True when the source says the document no longer exists (HTTP 404/410): ``--prune`` may
    # delete it. Other failures (timeouts, 5xx, unreadable files) keep the stored version.
    gone: bool = False


@dataclass(frozen=True)
class LazyItem:
    """A document known by URI and version before its bytes are read (an S3 object's key and ETag).

    The pipeline calls ``fetch`` only when no stored document of ``uri`` records ``version`` (with
    the same ingest options); ``fetch`` returns the bytes or a failure.
    """

    uri: str
    name: str
    version: str
    fetch: Callable[[], SourceItem | SourceFailure]


@runtime_checkable
class Source(Protocol):
    """What every source offers to the ingestion pipeline."""

    @property
    def name(self) -> str:
        """The ``source`` recorded on every document this source yields."""
        ...

    def iter_items(self) -> Iterator[SourceItem | LazyItem | SourceFailure]:
        """Yield each document's bytes (or a lazy item), or a failure for what could not be read."""
        ...

    def describe(self) -> str:
        """A one-line, human-readable summary ("folder /docs (include *.md)")."""
        ...


def format_size(n: int) -> str:
    """Format a byte count the way users read it: ``512 B``, ``12.5 KB``, ``120.0 MB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def open_source(
    spec: str,
    *,
    include: list[str],
    exclude: list[str],
    max_bytes: int,
    crawl_depth: int,
    crawl_max_pages: int,
    timeout_s: float,
    user_agent: str,
) -> Source:
    """Pick the source for ``spec``: an ``http(s)://`` URL, an ``s3://bucket/prefix``, a ``file://``
    URI or a local path.

    URLs give a :class:`~.web.UrlSource` when ``crawl_depth`` is 0, else a same-site
    :class:`~.web.CrawlSource`. Paths (``~`` expanded) give a :class:`~.files.FileSource` or a
    :class:`~.files.FolderSource`; ``s3://`` gives an :class:`~.s3.S3Source` (boto3, the ``aws``
    extra), which lists the prefix at once. ``include``/``exclude`` apply to folders and S3
    prefixes. ``max_bytes``
    of 0 or less disables the size cap.

    Raises:
        SourceError: the URL is malformed, the scheme is unsupported, the path does not exist,
            or the S3 bucket cannot be listed.
        MissingExtraError: an ``s3://`` source without boto3 installed.
    """
    spec = spec.strip()
    if not spec:
        raise SourceError("empty source", hint="give a file, a folder or an http(s):// URL")
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme in ("http", "https"):
        from awsomechat.ingest.sources.web import CrawlSource, UrlSource

        if crawl_depth <= 0:
            return UrlSource(spec, max_bytes=max_bytes, timeout_s=timeout_s, user_agent=user_agent)
        return CrawlSource(
            spec,
            depth=crawl_depth,
            max_pages=crawl_max_pages,
            max_bytes=max_bytes,
            timeout_s=timeout_s,
            user_agent=user_agent,
        )
    if scheme == "s3":
        from awsomechat.ingest.sources.s3 import S3Source

        return S3Source.from_spec(spec, include=include, exclude=exclude, max_bytes=max_bytes)
    if scheme == "file":
        path = Path(unquote(urlsplit(spec).path))
    elif scheme:
        raise SourceError(
            f"unsupported source scheme {scheme!r} in {spec!r}",
            hint="use a local path, a file:// URI, an http(s):// URL or s3://bucket/prefix",
        )
    else:
        path = Path(spec).expanduser()

    from awsomechat.ingest.sources.files import FileSource, FolderSource

    if path.is_dir():
        return FolderSource(path, include=include, exclude=exclude, max_bytes=max_bytes)
    if path.is_file():
        return FileSource(path, max_bytes=max_bytes)
    if path.exists():
        raise SourceError(f"not a regular file or folder: {path}", hint="give a file or a folder")
    raise SourceError(
        f"no such file or folder: {path}",
        hint="check the path (relative paths start from the current directory), or give an http(s):// URL",
    )
