"""FAQ loader: question/answer pairs from CSV or JSON (including Amazon Kendra's FAQ JSON format).

Every pair becomes one atomic section, so a passage is always one whole question with its answer.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from awsomechat.errors import LoaderError
from awsomechat.ingest.loaders.text import decode_text, file_stem
from awsomechat.types import LoadedDocument, Section, SourceItem

__all__ = ["FaqLoader"]

_QUESTION_KEYS = ("question", "q")
_ANSWER_KEYS = ("answer", "a")
_HINT = (
    "an FAQ file needs 'question' and 'answer' columns (CSV with a header row) or keys (JSON list "
    'of objects, or Kendra\'s {"SchemaVersion": 1, "FaqDocuments": [...]})'
)


def _pick(row: Mapping[str, Any], keys: Iterable[str]) -> str:
    lowered = {str(k).strip().lower(): v for k, v in row.items()}
    for key in keys:
        value = lowered.get(key)
        if value is not None:
            return " ".join(str(value).split()) if not isinstance(value, (dict, list)) else ""
    return ""


def _has_qa(header: list[str]) -> bool:
    lowered = {h.strip().lower() for h in header}
    return bool(lowered & set(_QUESTION_KEYS)) and bool(lowered & set(_ANSWER_KEYS))


def _csv_rows(item: SourceItem, text: str) -> list[dict[str, Any]]:
    # The delimiter is the one that makes the header name both columns: csv.Sniffer guesses from
    # the answers too, and answers are full of commas and semicolons.
    first_line = text.lstrip("\n").split("\n", 1)[0]
    delimiter = ","
    for candidate in (",", ";", "\t", "|"):
        if _has_qa(next(csv.reader([first_line], delimiter=candidate), [])):
            delimiter = candidate
            break
    try:
        reader = csv.DictReader(io.StringIO(text.lstrip("\n")), delimiter=delimiter)
        header = [str(h).strip() for h in reader.fieldnames or []]
        if not _has_qa(header):
            raise LoaderError(
                f"{item.name}: CSV has no 'question'/'answer' columns; found: {', '.join(header) or 'none'}",
                hint="add a header row naming the 'question' and 'answer' columns",
            )
        return [dict(row) for row in reader]
    except csv.Error as exc:
        raise LoaderError(f"{item.name}: malformed CSV ({exc})", hint=_HINT) from exc


def _json_rows(item: SourceItem, text: str) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoaderError(f"{item.name}: invalid JSON ({exc.msg} at line {exc.lineno})", hint=_HINT) from exc
    if isinstance(data, dict):
        docs = next((v for k, v in data.items() if str(k).lower() == "faqdocuments"), None)
        if isinstance(docs, list):
            data = docs
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise LoaderError(f"{item.name}: JSON is not in a recognised FAQ shape", hint=_HINT)
    return data


class FaqLoader:
    """``.csv`` and ``.json`` FAQ files: one atomic ``Q: ...\\nA: ...`` section per pair."""

    format = "faq"

    def load(self, item: SourceItem) -> LoadedDocument:
        """Read ``item``'s question/answer pairs; rows missing either half are skipped."""
        text = decode_text(item)
        is_json = PurePosixPath(item.name).suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{")
        rows: list[Mapping[str, Any]] = (
            list(_json_rows(item, text)) if is_json else list(_csv_rows(item, text))
        )
        sections: list[Section] = []
        for row in rows:
            question, answer = _pick(row, _QUESTION_KEYS), _pick(row, _ANSWER_KEYS)
            if question and answer:
                sections.append(
                    Section(text=f"Q: {question}\nA: {answer}", heading_path=(question,), atomic=True)
                )
        if rows and not sections and is_json:
            keys = sorted({str(k) for row in rows for k in row})
            if not {k.lower() for k in keys} & {*_QUESTION_KEYS, "faqdocuments"}:
                raise LoaderError(
                    f"{item.name}: JSON entries have no 'question'/'answer' keys; "
                    f"found: {', '.join(keys[:20])}",
                    hint=_HINT,
                )
        if not sections:
            what = "rows" if rows else "entries"
            raise LoaderError(
                f"{item.name}: no question/answer pairs found ({len(rows)} {what}, none with both a "
                "question and an answer)",
                hint=_HINT,
            )
        return LoadedDocument(
            title=file_stem(item),
            sections=sections,
            format=self.format,
            metadata={"faq_pairs": len(sections), "faq_skipped": len(rows) - len(sections)},
        )
