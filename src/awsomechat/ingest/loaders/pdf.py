"""PDF loader (pypdf): one section per page, so every passage can cite its page."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from awsomechat.errors import LoaderError
from awsomechat.ingest.loaders.text import file_stem
from awsomechat.types import JsonScalar, LoadedDocument, Section, SourceItem

__all__ = ["PdfLoader"]

# "exam-\nple" across a line break is one word cut by the layout, not a hyphenated compound.
_HYPHEN_BREAK = re.compile(r"([a-zà-ÿ])-\n([a-zà-ÿ])")
_SPACES = re.compile(r"[ \t\xa0]+")
_MANY_BLANK = re.compile(r"\n{3,}")
_MAX_TITLE = 200
# Titles that tools write when the author set none; the first line of text says more.
_JUNK_TITLE = re.compile(
    r"^(untitled\b.*|no title|title|document\d*|microsoft word - .*|.*\.(docx?|pdf|tmp))$", re.I
)


def _clean_page(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_BLANK.sub("\n\n", "\n".join(lines)).strip()


class PdfLoader:
    """Text PDFs. Scanned (image-only), encrypted and corrupt files raise LoaderError."""

    format = "pdf"

    def load(self, item: SourceItem) -> LoadedDocument:
        """Extract each page's text as a Section with its 1-based ``page`` number."""
        try:
            reader = PdfReader(io.BytesIO(item.data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise LoaderError(
                    f"{item.name}: PDF is password-protected",
                    hint="save an unprotected copy and ingest that",
                )
            sections: list[Section] = []
            for number, page in enumerate(reader.pages, start=1):
                text = _clean_page(page.extract_text() or "")
                if text:
                    sections.append(Section(text=text, page=number))
            page_count = len(reader.pages)
            meta_title = ""
            info: dict[str, JsonScalar] = {"pages": page_count}
            try:
                meta = reader.metadata
                if meta is not None:
                    meta_title = str(meta.title or "").strip()
                    meta_title = "" if _JUNK_TITLE.match(meta_title) else meta_title
                    if meta.author:
                        info["author"] = str(meta.author).strip()
            except Exception:
                # Broken metadata dictionaries are common and never worth losing the text over.
                meta_title = ""
        except LoaderError:
            raise
        except Exception as exc:
            reason = str(exc).strip() or type(exc).__name__
            hint = "the file may be damaged or not really a PDF; open and re-save it"
            if "cryptography" in reason or "AES" in reason:
                hint = "encrypted with AES: save an unprotected copy, or install the 'cryptography' package"
            raise LoaderError(f"{item.name}: not a readable PDF ({reason})", hint=hint) from exc
        if not sections:
            raise LoaderError(
                f"{item.name}: no extractable text (scanned PDF?)",
                hint="run OCR on it first (for example with ocrmypdf) and ingest the result",
            )
        title = meta_title or _first_line(sections[0].text) or file_stem(item)
        return LoadedDocument(title=title[:_MAX_TITLE], sections=sections, format=self.format, metadata=info)


def _first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""
