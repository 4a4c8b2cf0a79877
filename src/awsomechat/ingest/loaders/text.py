"""Plain-text loader, plus the decoding and binary-sniffing helpers the other text formats share."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from awsomechat.errors import LoaderError
from awsomechat.types import LoadedDocument, Section, SourceItem

__all__ = ["TextLoader", "decode_text", "file_stem", "looks_binary", "split_paragraphs"]

# Bytes that never occur in text files; tab, newline, form feed and carriage return do.
_CONTROL = frozenset(range(32)) - {9, 10, 12, 13}
_SNIFF_BYTES = 8192
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def file_stem(item: SourceItem) -> str:
    """A fallback title: the file name without its extension (or the last URL path segment)."""
    name = item.name or unquote(urlsplit(item.uri).path.rstrip("/").rsplit("/", 1)[-1])
    stem = PurePosixPath(name).stem if "." in name.lstrip(".") else name
    return stem.replace("_", " ").strip() or name or item.uri


def looks_binary(data: bytes) -> bool:
    """True when ``data`` is not text: NUL bytes, or more than 10% control characters.

    Only the first 8 KB are sniffed, which is what ``file(1)`` and git do too. UTF-16 text (which
    is full of NUL bytes) is recognised by its byte-order mark.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    sample = data[:_SNIFF_BYTES]
    if b"\x00" in sample:
        return True
    if not sample:
        return False
    controls = sum(1 for b in sample if b in _CONTROL)
    return controls / len(sample) > 0.10


def decode_text(item: SourceItem) -> str:
    """Decode a text file: UTF-8 (BOM optional), UTF-16 with a BOM, else Latin-1 if it looks like text.

    Line endings are normalised to ``\\n``. Raises LoaderError("binary file, not text") otherwise.
    """
    data = item.data
    text: str | None = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoaderError(
                f"{item.name}: invalid UTF-16 text ({exc.reason})", hint="re-save the file as UTF-8"
            ) from exc
    elif looks_binary(data):
        raise LoaderError(
            f"{item.name}: binary file, not text",
            hint="check the file extension; only text, Markdown, HTML, PDF, DOCX and FAQ files load",
        )
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Not UTF-8 but not binary either: legacy Western text is by far the common case, and
            # Latin-1 never fails, so the only risk is odd accented letters, never lost text.
            text = data.decode("latin-1")
    text = text.lstrip("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines, each with trailing spaces removed."""
    parts = (p.strip("\n").rstrip() for p in _BLANK_LINES.split(text))
    return [p for p in parts if p.strip()]


class TextLoader:
    """Plain text (``.txt``, ``.text``, ``.rst``, ``.log``): one section per paragraph."""

    format = "text"

    def load(self, item: SourceItem) -> LoadedDocument:
        """Decode ``item`` and split it into paragraphs; the title is the file name's stem."""
        text = decode_text(item)
        sections = [Section(text=p) for p in split_paragraphs(text)]
        return LoadedDocument(title=file_stem(item), sections=sections, format=self.format)
