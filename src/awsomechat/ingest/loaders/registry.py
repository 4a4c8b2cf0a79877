"""Picks the loader for a file and applies the checks every format shares (size, empty, binary)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlsplit

from awsomechat.errors import FileTooLargeError, LoaderError, UnsupportedTypeError
from awsomechat.ingest.loaders.docx import DocxLoader
from awsomechat.ingest.loaders.faq import FaqLoader
from awsomechat.ingest.loaders.html import HtmlLoader
from awsomechat.ingest.loaders.markdown import MarkdownLoader
from awsomechat.ingest.loaders.pdf import PdfLoader
from awsomechat.ingest.loaders.text import TextLoader, looks_binary
from awsomechat.ingest.loaders.zipcheck import ZipLimits, check_zip
from awsomechat.types import LoadedDocument, SourceItem

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "DEFAULT_EXTENSIONS",
    "Loader",
    "LoaderRegistry",
    "detect_format",
    "supported_extensions",
]

DEFAULT_EXTENSIONS: Mapping[str, str] = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".docx": "docx",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".log": "text",
    ".csv": "faq",
    ".json": "faq",
}
DEFAULT_CONTENT_TYPES: Mapping[str, str] = {
    "application/pdf": "pdf",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/plain": "text",
    "text/x-rst": "text",
    "text/csv": "faq",
    "application/json": "faq",
}
# Formats read as text: binary content under one of their extensions is refused up front.
_TEXT_FORMATS = frozenset({"html", "markdown", "text", "faq"})
_MB = 1024 * 1024


class Loader(Protocol):
    """Turns one file's bytes into a LoadedDocument, or raises LoaderError."""

    format: str

    def load(self, item: SourceItem) -> LoadedDocument: ...


def _extension(item: SourceItem) -> str:
    """The lower-cased extension of the item's name, else of its URI's path ("" if none)."""
    for name in (item.name, unquote(urlsplit(item.uri).path)):
        suffix = PurePosixPath(name.rstrip("/")).suffix.lower() if name else ""
        if suffix:
            return suffix
    return ""


def _sniff(data: bytes) -> str | None:
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK\x03\x04") and b"word/document.xml" in data:
        return "docx"
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered:
        return "html"
    return None


def detect_format(
    item: SourceItem,
    extensions: Mapping[str, str] = DEFAULT_EXTENSIONS,
    content_types: Mapping[str, str] = DEFAULT_CONTENT_TYPES,
) -> str | None:
    """The format name for ``item``: by extension, then Content-Type, then magic bytes.

    An item with no extension and no known type that still looks like text is read as ``text``
    (a ``README`` or ``LICENSE``); an unknown extension is never guessed at.
    """
    ext = _extension(item)
    if ext in extensions:
        return extensions[ext]
    content_type = (item.content_type or "").split(";", 1)[0].strip().lower()
    if content_type in content_types:
        return content_types[content_type]
    sniffed = _sniff(item.data)
    if sniffed is not None:
        return sniffed
    if not ext and not content_type and not looks_binary(item.data):
        return "text"
    return None


def supported_extensions(extensions: Mapping[str, str] = DEFAULT_EXTENSIONS) -> list[str]:
    """The file extensions that load, sorted (``[".csv", ".docx", ...]``)."""
    return sorted(extensions)


class LoaderRegistry:
    """A dict of format name -> loader, plus extension and Content-Type maps to pick one.

    Register a new format with ``register``; the defaults cover PDF, HTML, Markdown, DOCX, text
    and FAQ (CSV/JSON) files. ``zip_limits`` bound what a ZIP-based file (DOCX) may inflate to.
    """

    def __init__(
        self,
        loaders: Mapping[str, Loader] | None = None,
        extensions: Mapping[str, str] | None = None,
        content_types: Mapping[str, str] | None = None,
        *,
        zip_limits: ZipLimits | None = None,
    ) -> None:
        self.zip_limits = zip_limits or ZipLimits()
        defaults: list[Loader] = [PdfLoader(), HtmlLoader(), MarkdownLoader(), DocxLoader(self.zip_limits)]
        defaults += [TextLoader(), FaqLoader()]
        self.loaders: dict[str, Loader] = (
            dict(loaders) if loaders is not None else {loader.format: loader for loader in defaults}
        )
        self.extensions: dict[str, str] = dict(extensions if extensions is not None else DEFAULT_EXTENSIONS)
        self.content_types: dict[str, str] = dict(
            content_types if content_types is not None else DEFAULT_CONTENT_TYPES
        )

    def register(
        self, loader: Loader, *, extensions: tuple[str, ...] = (), content_types: tuple[str, ...] = ()
    ) -> None:
        """Add (or replace) the loader for ``loader.format`` and map extensions/types to it."""
        self.loaders[loader.format] = loader
        for ext in extensions:
            self.extensions["." + ext.lower().lstrip(".")] = loader.format
        for content_type in content_types:
            self.content_types[content_type.lower()] = loader.format

    def supported_extensions(self) -> list[str]:
        """The file extensions this registry loads, sorted."""
        return sorted(ext for ext, fmt in self.extensions.items() if fmt in self.loaders)

    def detect_format(self, item: SourceItem) -> str | None:
        """The format name for ``item``, or None when no registered loader reads it."""
        fmt = detect_format(item, self.extensions, self.content_types)
        return fmt if fmt in self.loaders else None

    def precheck(self, item: SourceItem, *, max_bytes: int) -> str:
        """The format of ``item`` after the cheap checks (size, empty, type, binary-as-text).

        Raises LoaderError naming the problem; uploads run this before accepting any file.
        """
        size = len(item.data)
        if max_bytes > 0 and size > max_bytes:
            raise FileTooLargeError(
                f"{item.name}: file is {size / _MB:.1f} MB, over the {max_bytes / _MB:.1f} MB limit",
                hint="raise the limit with the setting AWSOMECHAT_INGEST__MAX_FILE_MB",
            )
        if not size or item.data.isspace():
            raise LoaderError(f"{item.name}: empty file", hint="nothing to ingest; add content or remove it")
        fmt = self.detect_format(item)
        if fmt is None:
            ext = _extension(item)
            what = f"'{ext}'" if ext else f"'{item.content_type}'" if item.content_type else "(no extension)"
            raise UnsupportedTypeError(
                f"{item.name}: unsupported file type {what}",
                hint="supported extensions: " + ", ".join(self.supported_extensions()),
            )
        if fmt in _TEXT_FORMATS and looks_binary(item.data):
            raise UnsupportedTypeError(
                f"{item.name}: binary file, not text",
                hint=f"the name says {fmt} but the content is binary; check the file",
            )
        if fmt == "pdf" and b"%PDF-" not in item.data[:1024]:
            raise UnsupportedTypeError(f"{item.name}: not a PDF file (no %PDF header)", hint="check the file")
        if fmt == "docx" and not item.data.startswith(b"PK\x03\x04"):
            raise UnsupportedTypeError(
                f"{item.name}: not a DOCX file (not a ZIP archive)", hint="check the file"
            )
        if fmt == "docx":  # a decompression bomb is refused before any loader inflates it
            check_zip(item.name, item.data, self.zip_limits)
        return fmt

    def load(self, item: SourceItem, *, max_bytes: int) -> LoadedDocument:
        """Load ``item`` or raise LoaderError saying why not (``max_bytes <= 0`` means no limit).

        Checks run in order: size, empty, type, binary-as-text, the format's loader, and finally
        that some text came out.
        """
        fmt = self.precheck(item, max_bytes=max_bytes)
        try:
            doc = self.loaders[fmt].load(item)
        except LoaderError:
            raise
        except Exception as exc:
            # A loader bug or a library failing on an odd file must not stop a whole ingest run.
            reason = str(exc).strip() or type(exc).__name__
            raise LoaderError(f"{item.name}: could not read {fmt} file ({reason})") from exc
        if not any(section.text.strip() for section in doc.sections):
            raise LoaderError(f"{item.name}: no text found", hint="the file has no readable text")
        return doc
