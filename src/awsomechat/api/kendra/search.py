"""Running a Kendra Query or Retrieve on our retriever, under the signing key's access."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from awsomechat.api.kendra.confidence import score_confidence
from awsomechat.api.kendra.protocol import MAX_RESULTS, KendraRequest, query_item, retrieve_item
from awsomechat.container import Container
from awsomechat.text.highlight import make_excerpt
from awsomechat.types import Principal, SearchHit, SearchRequest


def run(container: Container, principal: Principal, request: KendraRequest) -> dict[str, Any]:
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
