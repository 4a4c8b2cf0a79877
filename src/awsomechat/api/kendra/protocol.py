"""Amazon Kendra's JSON 1.1 wire format for ``Query`` and ``Retrieve``: requests, results, errors.

Shapes follow botocore's service model (``botocore/data/kendra/2019-02-03/service-2.json``).
Every error is ``{"__type": code, "message": ...}`` with the code also in ``x-amzn-ErrorType``,
so boto3 raises ``ClientError`` with that code; client errors are HTTP 400 as Kendra sends them,
``InternalServerException`` (the model's only fault) a 5xx.

What a request may hold: ``IndexId``, ``QueryText`` (required here, also for Query),
``AttributeFilter``, ``PageSize``/``PageNumber``, ``RequestedDocumentAttributes`` and, for Query,
``QueryResultTypeFilter``. ``UserContext``, ``VisitorId`` and ``SpellCorrectionConfiguration`` are
accepted and ignored (access is the signing key's, never the request's). Facets, sorting,
collapsing and relevance overrides would change what results mean, so they are refused with a
``ValidationException`` naming them, as is any member the model does not know.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from awsomechat.errors import FilterError
from awsomechat.retrieval.kendra_attributes import conditions_of, kendra_attributes
from awsomechat.settings_retriever import KENDRA_COMPAT_INDEX_ID
from awsomechat.types import Condition, Highlight, SearchHit

TARGET_PREFIX = "AWSKendraFrontendService."
CONTENT_TYPE = "application/x-amz-json-1.1"
# The one index. boto3 checks that an IndexId has 36 characters before sending it, so the long
# form is what boto3 (and anything built on it) can use; "awsomechat" needs parameter_validation off.
INDEX_ID = "awsomechat"
INDEX_ID_36 = KENDRA_COMPAT_INDEX_ID  # what the Kendra retriever's settings name too
INDEX_IDS = frozenset({INDEX_ID, INDEX_ID_36})
MAX_RESULTS = 100  # Kendra: "you can only retrieve up to 100 items"
DEFAULT_PAGE_SIZE = 10
MAX_QUERY_CHARS = 2000
MAX_TEXT = 2048  # TextWithHighlights.Text

Operation = Literal["Query", "Retrieve"]
OPERATIONS: tuple[Operation, ...] = ("Query", "Retrieve")

_COMMON = {"IndexId", "QueryText", "AttributeFilter", "RequestedDocumentAttributes", "PageNumber", "PageSize"}
_IGNORED = {"UserContext", "VisitorId", "SpellCorrectionConfiguration"}
_MEMBERS: dict[str, set[str]] = {
    "Query": _COMMON | _IGNORED | {"QueryResultTypeFilter", "Facets", "SortingConfiguration",
                                   "SortingConfigurations", "CollapseConfiguration",
                                   "DocumentRelevanceOverrideConfigurations"},
    "Retrieve": _COMMON | {"UserContext", "DocumentRelevanceOverrideConfigurations"},
}  # fmt: skip
_REFUSED = {
    "Facets": "facets are not computed here (GET /v1/facets lists attribute values)",
    "SortingConfiguration": "results are ranked by relevance only",
    "SortingConfigurations": "results are ranked by relevance only",
    "CollapseConfiguration": "results are not collapsed",
    "DocumentRelevanceOverrideConfigurations": "relevance tuning is not supported",
}
_RESULT_TYPES = ("DOCUMENT", "QUESTION_ANSWER", "ANSWER")


class KendraError(Exception):
    """An error in Kendra's terms: ``code`` is the error shape's name."""

    def __init__(self, code: str, message: str, *, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


def validation_error(message: str) -> KendraError:
    return KendraError("ValidationException", message)


@dataclass(frozen=True)
class KendraRequest:
    """A checked Query or Retrieve request."""

    operation: Operation
    text: str
    conditions: tuple[Condition, ...]
    page_size: int
    page_number: int
    requested_attributes: frozenset[str] | None = None  # None: every attribute
    documents_wanted: bool = True  # QueryResultTypeFilter QUESTION_ANSWER/ANSWER: we have none

    @property
    def offset(self) -> int:
        return (self.page_number - 1) * self.page_size

    @property
    def window(self) -> int:
        """How many top results this page needs, within Kendra's 100."""
        return min(MAX_RESULTS, self.offset + self.page_size)


def operation_of(target: str) -> Operation:
    """``AWSKendraFrontendService.Retrieve`` -> ``Retrieve``; other targets are unknown here."""
    name = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
    for op in OPERATIONS:
        if name == op:
            return op
    raise KendraError(
        "UnknownOperationException",
        f"operation {target[:100]!r} is not supported: this endpoint serves"
        f" {TARGET_PREFIX}Query and {TARGET_PREFIX}Retrieve",
    )


def parse_request(operation: Operation, body: bytes) -> KendraRequest:
    """The request in ``body``; ``KendraError`` (ValidationException or ResourceNotFoundException)
    naming what is wrong."""
    try:
        doc = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise validation_error("the request body is not JSON") from None
    if not isinstance(doc, dict):
        raise validation_error("the request body must be a JSON object")
    unknown = sorted(set(doc) - _MEMBERS[operation])
    if unknown:
        raise validation_error(f"{operation} has no member(s) {', '.join(unknown)} here")
    for name, why in _REFUSED.items():
        if doc.get(name) not in (None, [], {}):
            raise validation_error(f"{name} is not supported: {why}")

    index_id = doc.get("IndexId")
    if not isinstance(index_id, str) or not index_id:
        raise validation_error("IndexId is required")
    if index_id not in INDEX_IDS:
        raise KendraError(
            "ResourceNotFoundException",
            f"index {index_id[:64]!r} does not exist; the index is {INDEX_ID_36!r} (or {INDEX_ID!r})",
        )
    text = doc.get("QueryText")
    if not isinstance(text, str) or not text.strip():
        raise validation_error("QueryText is required (a non-empty string)")
    if len(text) > MAX_QUERY_CHARS or "\x00" in text:
        raise validation_error(f"QueryText must be at most {MAX_QUERY_CHARS} characters, without NUL")

    page_size = _integer(doc, "PageSize", DEFAULT_PAGE_SIZE)
    page_number = _integer(doc, "PageNumber", 1)
    try:
        conditions = conditions_of(_object(doc, "AttributeFilter"))
    except FilterError as exc:
        raise validation_error(f"AttributeFilter: {exc}") from None
    requested = doc.get("RequestedDocumentAttributes")
    if requested is not None and (
        not isinstance(requested, list) or not all(isinstance(k, str) and k for k in requested)
    ):
        raise validation_error("RequestedDocumentAttributes must be a list of attribute keys")
    wanted = True
    if operation == "Query" and doc.get("QueryResultTypeFilter") is not None:
        kind = doc["QueryResultTypeFilter"]
        if kind not in _RESULT_TYPES:
            raise validation_error(f"QueryResultTypeFilter must be one of {', '.join(_RESULT_TYPES)}")
        wanted = kind == "DOCUMENT"  # every result here is a DOCUMENT passage
    return KendraRequest(
        operation=operation,
        text=text,
        conditions=conditions,
        page_size=min(page_size, MAX_RESULTS),  # Kendra: "if you ask for more than 100, only 100"
        page_number=page_number,
        requested_attributes=frozenset(requested) if requested is not None else None,
        documents_wanted=wanted,
    )


def _integer(doc: Mapping[str, Any], name: str, default: int) -> int:
    value = doc.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise validation_error(f"{name} must be a whole number of at least 1")
    return value


def _object(doc: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, dict):
        raise validation_error(f"{name} must be an object")
    return value


# ------------------------------------------------------------------ results


def document_attributes(hit: SearchHit, requested: frozenset[str] | None) -> list[dict[str, Any]]:
    """The hit's DocumentAttributes: its URI, title and data source as Kendra's reserved
    attributes, its page as ``_excerpt_page_number``, then its own attributes."""
    attrs = kendra_attributes({"uri": hit.uri, "title": hit.title, "source": hit.source}, hit.attributes)
    if hit.page is not None:
        attrs.append({"Key": "_excerpt_page_number", "Value": {"LongValue": hit.page}})
    if requested is not None:
        attrs = [a for a in attrs if a["Key"] in requested]
    return attrs


def text_with_highlights(text: str, highlights: Sequence[Highlight]) -> dict[str, Any]:
    """A ``TextWithHighlights`` (offsets into ``text``, cut to Kendra's 2048 characters)."""
    text = text[:MAX_TEXT]
    return {
        "Text": text,
        "Highlights": [
            {"BeginOffset": h.start, "EndOffset": h.end, "TopAnswer": False, "Type": "STANDARD"}
            for h in highlights
            if 0 <= h.start < h.end <= len(text)
        ],
    }


def query_item(
    hit: SearchHit, confidence: str, title_highlights: Sequence[Highlight], requested: frozenset[str] | None
) -> dict[str, Any]:
    """One ``QueryResultItem`` of type DOCUMENT: the excerpt with its highlights."""
    item: dict[str, Any] = {
        "Id": hit.chunk_id,
        "Type": "DOCUMENT",
        "Format": "TEXT",
        "AdditionalAttributes": [],
        "DocumentId": hit.document_id,
        "DocumentTitle": text_with_highlights(hit.title, title_highlights),
        "DocumentExcerpt": text_with_highlights(hit.excerpt, hit.highlights),
        "DocumentAttributes": document_attributes(hit, requested),
        "ScoreAttributes": {"ScoreConfidence": confidence},
    }
    if hit.uri:
        item["DocumentURI"] = hit.uri
    return item


def retrieve_item(hit: SearchHit, confidence: str, requested: frozenset[str] | None) -> dict[str, Any]:
    """One ``RetrieveResultItem``: the whole passage as ``Content``."""
    item: dict[str, Any] = {
        "Id": hit.chunk_id,
        "DocumentId": hit.document_id,
        "DocumentTitle": hit.title,
        "Content": hit.text,
        "DocumentAttributes": document_attributes(hit, requested),
        "ScoreAttributes": {"ScoreConfidence": confidence},
    }
    if hit.uri:
        item["DocumentURI"] = hit.uri
    return item


def encode(doc: Mapping[str, Any]) -> bytes:
    """JSON 1.1 body: timestamps (DateValue) as epoch seconds."""
    return json.dumps(doc, default=_wire_value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_body(error: KendraError) -> bytes:
    return encode({"__type": error.code, "message": error.message})


def _wire_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
