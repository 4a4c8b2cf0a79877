"""Word (.docx) loader (python-docx): paragraphs and tables in order, Heading 1-6 styles as sections."""

from __future__ import annotations

import io
import re
from typing import Any

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from awsomechat.errors import LoaderError
from awsomechat.ingest.loaders.text import file_stem
from awsomechat.ingest.loaders.zipcheck import ZipLimits, check_zip
from awsomechat.ingest.tables import pipe_table
from awsomechat.types import JsonScalar, LoadedDocument, Section, SourceItem

__all__ = ["DocxLoader"]

_HEADING_STYLE = re.compile(r"^heading\s*([1-6])$", re.IGNORECASE)
_MAX_TITLE = 200


def _style_name(paragraph: Paragraph) -> str:
    try:
        style = paragraph.style
        return str(style.name or "") if style is not None else ""
    except Exception:
        # A style id missing from styles.xml is common in files from other editors; read it as body text.
        return ""


def _table_rows(table: Table) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans; read it once.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(cells)
    return rows


class DocxLoader:
    """Word documents; ``Heading N`` paragraph styles build the heading path."""

    format = "docx"

    def __init__(self, zip_limits: ZipLimits | None = None) -> None:
        self.zip_limits = zip_limits or ZipLimits()

    def load(self, item: SourceItem) -> LoadedDocument:
        """Read ``item``'s body in order: headings open sections, tables become `` | `` rows.

        The archive is judged from its central directory first (decompression bombs).
        """
        check_zip(item.name, item.data, self.zip_limits)
        try:
            document: Any = docx.Document(io.BytesIO(item.data))
            blocks = list(document.iter_inner_content())
            props = document.core_properties
            meta_title = str(props.title or "").strip()
            author = str(props.author or "").strip()
        except Exception as exc:
            reason = str(exc).strip() or type(exc).__name__
            raise LoaderError(
                f"{item.name}: not a readable Word document ({reason})",
                hint="the file may be damaged or not really a .docx (old .doc files are not supported); "
                "open and re-save it as .docx",
            ) from exc

        sections: list[Section] = []
        stack: list[tuple[int, str]] = []
        parts: list[str] = []
        first_heading = ""

        def close() -> None:
            text = "\n\n".join(parts).strip()
            if text:
                sections.append(Section(text=text, heading_path=tuple(t for _, t in stack)))
            parts.clear()

        for block in blocks:
            if isinstance(block, Table):
                table = pipe_table(_table_rows(block))
                if table:
                    parts.append(table)
                continue
            text = " ".join(block.text.split())
            if not text:
                continue
            style = _style_name(block)
            match = _HEADING_STYLE.match(style)
            level = int(match.group(1)) if match else (1 if style.lower() == "title" else 0)
            if level:
                close()
                first_heading = first_heading or text
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, text))
            elif style.lower().startswith("list") and parts and parts[-1].startswith("- "):
                parts[-1] += "\n- " + text  # consecutive list items stay one block
            elif style.lower().startswith("list"):
                parts.append("- " + text)
            else:
                parts.append(text)
        close()
        metadata: dict[str, JsonScalar] = {"author": author} if author else {}
        title = meta_title or first_heading or file_stem(item)
        return LoadedDocument(
            title=title[:_MAX_TITLE], sections=sections, format=self.format, metadata=metadata
        )
