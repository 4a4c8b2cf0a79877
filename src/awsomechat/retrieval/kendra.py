"""Amazon Kendra behind the ``Retriever`` seam: the reference architecture's own search.

``Retrieve`` returns passages of up to ~200 words, which is what an answer needs; ``Query`` (the
fallback, or ``api = "query"``) returns excerpts and FAQ answers. Our filters travel as an
``AttributeFilter``, the caller's groups as ``UserContext.Groups``, paging as PageNumber/PageSize.
Each result becomes the same ``SearchHit`` the hybrid retriever returns: opaque Kendra ids, title,
URI, text, attributes, and Kendra's ``ScoreConfidence`` (the answerability signal the chain's
``KendraConfidenceJudge`` uses).

Failures are the project's: throttling or an unreachable endpoint is ``RemoteStoreError`` (503),
a refused filter or request ``FilterError`` / ``ValidationFailedError`` (422), a missing index
``ConfigError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from awsomechat.aws import client as aws_client
from awsomechat.aws import describe_error, error_code, is_aws_error
from awsomechat.errors import ConfigError, FilterError, RemoteStoreError, ValidationFailedError
from awsomechat.retrieval.kendra_attributes import attribute_filter, document_attributes
from awsomechat.settings_retriever import CONFIDENCE_LEVELS, KENDRA_MAX_PAGE, KendraRetrieverSettings
from awsomechat.text.analyzer import Analyzer
from awsomechat.text.highlight import make_excerpt
from awsomechat.types import Highlight, Scores, SearchHit, SearchRequest, SearchResponse

_WHAT = "Kendra retriever"
NO_GROUP = "awsomechat:no-group"
# Retrieve is newer than Query: an older index edition, a Kendra-compatible server or a policy
# that allows only kendra:Query answers with one of these; Query is then used for good.
_NO_RETRIEVE = frozenset({"UnknownOperationException", "UnsupportedOperation", "AccessDeniedException"})


def confidence_value(level: str | None) -> float:
    """``LOW`` .. ``VERY_HIGH`` as 0.25 .. 1.0 (``NOT_AVAILABLE``/missing: 0)."""
    try:
        return CONFIDENCE_LEVELS.index(level or "NOT_AVAILABLE") / (len(CONFIDENCE_LEVELS) - 1)
    except ValueError:
        return 0.0


class KendraRetriever:
    """Searches one Kendra index. ``client`` is a boto3 ``kendra`` client (made from the AWS
    environment when not given)."""

    def __init__(
        self,
        settings: KendraRetrieverSettings,
        analyzer: Analyzer,
        *,
        excerpt_chars: int = 300,
        client: Any | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._settings = settings
        self._analyzer = analyzer
        self._excerpt_chars = excerpt_chars
        self._client = client
        self._client_factory = client_factory or (
            lambda: aws_client("kendra", what=_WHAT, timeout_s=settings.timeout_s)
        )
        self._use_query = settings.api == "query"

    @property
    def index_id(self) -> str:
        return self._settings.index_id

    def _kendra(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    # --------------------------------------------------------------- search
    def search(self, request: SearchRequest) -> SearchResponse:
        if request.mode != "hybrid":
            raise ValidationFailedError(
                "mode", f"Kendra ranks by itself; mode {request.mode!r} needs the hybrid retriever"
            )
        t0 = time.perf_counter()
        params = self._params(request)
        page_size, page_number, skip = _page(request.offset, request.k)
        params.update(PageSize=page_size, PageNumber=page_number)
        items: list[SearchHit] = []
        if not self._use_query:
            try:
                items = self._retrieve(params, request)
            except _RetrieveUnavailable as exc:
                # An endpoint without Retrieve: Query from now on. Access denied (a policy that
                # allows only kendra:Query, or bad credentials): Query this time, whose answer
                # then says which it is.
                self._use_query = exc.code != "AccessDeniedException"
        if not items:
            items = self._query(params, request)
        hits = items[skip : skip + request.k]
        ms = (time.perf_counter() - t0) * 1000
        return SearchResponse(hits=hits, timings_ms={"kendra_ms": round(ms, 2), "total_ms": round(ms, 2)})

    def _params(self, request: SearchRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"IndexId": self._settings.index_id, "QueryText": request.text[:1000]}
        flt = attribute_filter(request.filters)
        if flt is not None:
            params["AttributeFilter"] = flt
        access = request.access
        if self._settings.user_context and not access.all_access:
            # Kendra filters by these groups (group-based access control on the index). It takes no
            # empty list, and no user context would mean "everything": a caller without groups
            # sends a group no document has, so only public documents come back.
            params["UserContext"] = {"Groups": sorted(access.groups) or [NO_GROUP]}
        return params

    def _call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._kendra(), operation)(**params)
            return result
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            if type(exc).__name__ == "ParamValidationError":  # refused by boto3 before sending
                raise ConfigError(f"{_WHAT}: {exc}", hint="check the [retriever] settings") from exc
            code = error_code(exc)
            if operation == "retrieve" and code in _NO_RETRIEVE:
                raise _RetrieveUnavailable(code) from exc
            message, hint = describe_error(exc, _WHAT)
            if code == "ValidationException":
                raise FilterError(f"Kendra refused the request: {message}", hint=hint) from exc
            if code == "ResourceNotFoundException":
                raise ConfigError(
                    f"Kendra index {self._settings.index_id!r} was not found: {message}",
                    hint="check AWSOMECHAT_RETRIEVER__INDEX_ID and AWS_REGION",
                ) from exc
            raise RemoteStoreError(message, hint=hint) from exc

    def _retrieve(self, params: Mapping[str, Any], request: SearchRequest) -> list[SearchHit]:
        result = self._call("retrieve", params)
        terms = self._analyzer.query_terms(request.text)
        hits = []
        for i, item in enumerate(result.get("ResultItems") or []):
            text = str(item.get("Content") or "")
            excerpt, highlights = make_excerpt(text, terms, self._analyzer, self._excerpt_chars)
            hits.append(self._hit(item, i, str(item.get("DocumentTitle") or ""), text, excerpt, highlights))
        return hits

    def _query(self, params: Mapping[str, Any], request: SearchRequest) -> list[SearchHit]:
        result = self._call("query", params)
        hits = []
        for i, item in enumerate(result.get("ResultItems") or []):
            title = str((item.get("DocumentTitle") or {}).get("Text") or "")
            excerpt_obj = item.get("DocumentExcerpt") or {}
            text = _answer_text(item) or str(excerpt_obj.get("Text") or "")
            if not text:
                continue
            highlights = tuple(
                Highlight(int(h["BeginOffset"]), int(h["EndOffset"]))
                for h in excerpt_obj.get("Highlights") or ()
                if 0 <= int(h["BeginOffset"]) < int(h["EndOffset"]) <= len(text)
            )
            excerpt = text
            if text != excerpt_obj.get("Text"):  # an FAQ answer: highlight it ourselves
                terms = self._analyzer.query_terms(request.text)
                excerpt, highlights = make_excerpt(text, terms, self._analyzer, self._excerpt_chars)
            hits.append(self._hit(item, i, title, text, excerpt, highlights))
        return hits

    def _hit(
        self, item: Mapping[str, Any], rank: int, title: str, text: str, excerpt: str,
        highlights: tuple[Highlight, ...],
    ) -> SearchHit:  # fmt: skip
        raw_attrs: Sequence[Mapping[str, Any]] = item.get("DocumentAttributes") or ()
        reserved = {str(a.get("Key")): a.get("Value") or {} for a in raw_attrs}
        confidence = str((item.get("ScoreAttributes") or {}).get("ScoreConfidence") or "NOT_AVAILABLE")
        page = reserved.get("_excerpt_page_number", {}).get("LongValue")
        uri = str(item.get("DocumentURI") or reserved.get("_source_uri", {}).get("StringValue") or "")
        source = reserved.get("_data_source_id", {}).get("StringValue") or f"kendra:{self._settings.index_id}"
        return SearchHit(
            chunk_id=str(item.get("Id") or f"{item.get('DocumentId')}#{rank}"),
            document_id=str(item.get("DocumentId") or ""),
            title=title or uri,
            uri=uri,
            source=str(source),
            attributes=document_attributes(raw_attrs),
            text=text,
            heading_path=(),
            page=int(page) if page is not None else None,
            position=rank,
            excerpt=excerpt,
            highlights=highlights,
            scores=Scores(fused=confidence_value(confidence), confidence=confidence),
        )


class _RetrieveUnavailable(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _answer_text(item: Mapping[str, Any]) -> str:
    """The answer of a QUESTION_ANSWER / ANSWER result (held in AdditionalAttributes)."""
    if item.get("Type") not in ("QUESTION_ANSWER", "ANSWER"):
        return ""
    parts = []
    for attr in item.get("AdditionalAttributes") or ():
        value = (attr.get("Value") or {}).get("TextWithHighlightsValue") or {}
        if attr.get("Key") in ("QuestionText", "AnswerText") and value.get("Text"):
            parts.append(str(value["Text"]))
    return "\n".join(parts)


def _page(offset: int, k: int) -> tuple[int, int, int]:
    """Kendra's (PageSize, PageNumber, results to skip) for ``offset``/``k``: one call always."""
    if k <= KENDRA_MAX_PAGE and offset % k == 0:
        return k, offset // k + 1, 0
    size = offset + k
    if size <= KENDRA_MAX_PAGE:
        return size, 1, offset
    raise ValidationFailedError("offset", f"offset {offset} with k {k} is not reachable in Kendra's pages")
