"""Running a Kendra Query or Retrieve on our retriever, under the signing key's access."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from awsomechat.api.kendra.confidence import score_confidence
from awsomechat.api.kendra.protocol import MAX_RESULTS, KendraRequest, query_item, retrieve_item
from awsomechat.api.links import Links
from awsomechat.container import Container
from awsomechat.links import public_url
from awsomechat.text.highlight import make_excerpt
from awsomechat.types import Principal, SearchHit, SearchRequest


def openable(hit: SearchHit, links: Links | None) -> SearchHit:
    """The hit with the URI a Kendra client shows as the link (``DocumentURI``, ``_source_uri``):
    the document's public page when it has one, the web UI's view when it was read from a
    server path (never a ``file://`` path), else the stored URI unchanged."""
    url = public_url(hit.uri, hit.attributes)
    if not url and hit.uri.startswith("file:") and links is not None:
        url = links.document(hit.document_id, hit.chunk_id)
    return replace(hit, uri=url) if url and url != hit.uri else hit


def run(
    container: Container, principal: Principal, request: KendraRequest, links: Links | None = None
) -> dict[str, Any]:
    """The ``QueryResult`` or ``RetrieveResult`` for ``request``.

    Retrieval runs under ``principal.access`` alone, the request's filter ANDed into it (nothing
    in a request can widen it). The relevance gate judges the query's top hits once; every hit's
    ``ScoreConfidence`` comes from that verdict and its own similarity (``score_confidence``).
    A Query fetches Kendra's 100 retrievable results to count ``TotalNumberOfResults``.
    """
    query_id = str(uuid.uuid4())
    if not request.documents_wanted:  # QueryResultTypeFilter QUESTION_ANSWER / ANSWER
        return {"QueryId": query_id, "ResultItems": [], "FacetResults": [], "TotalNumberOfResults": 0}
    if request.operation == "Retrieve" and request.offset >= MAX_RESULTS:
        return {"QueryId": query_id, "ResultItems": []}  # past Kendra's 100: nothing to search for
    window = MAX_RESULTS if request.operation == "Query" else request.window
    scope = principal.access
    response = container.retriever.search(
        SearchRequest(text=request.text, k=window, offset=0, filters=request.conditions, access=scope)
    )
    hits = response.hits
    page = hits[request.offset : request.offset + request.page_size] if request.offset < window else []
    page = [openable(h, links) for h in page]
    # The configured retriever's own answerability judge: the one the chat abstains with.
    verdict = container.relevance_judge.judge(request.text, hits, scope)
    min_dense = container.settings.chat.min_dense

    def confidence(hit: SearchHit) -> str:
        return score_confidence(verdict, hit.scores.dense, min_dense=min_dense, backend=hit.scores.confidence)

    wanted = request.requested_attributes
    if request.operation == "Retrieve":
        return {"QueryId": query_id, "ResultItems": [retrieve_item(h, confidence(h), wanted) for h in page]}
    analyzer = container.analyzer
    terms = analyzer.query_terms(request.text)
    items = []
    for h in page:
        title, title_highlights = make_excerpt(h.title, terms, analyzer, max(1, len(h.title)))
        titled = h if title == h.title else replace(h, title=title)
        items.append(query_item(titled, confidence(h), title_highlights, wanted))
    return {
        "QueryId": query_id,
        "ResultItems": items,
        "FacetResults": [],
        "TotalNumberOfResults": len(hits),
    }
