"""``POST /v1/query``: retrieval alone, like Kendra's Query/Retrieve."""

from __future__ import annotations

from fastapi import APIRouter, Response

from awsomechat.api.chat_bridge import conditions
from awsomechat.api.links import RequestLinks
from awsomechat.api.schemas import QueryIn, QueryOut, QueryResult
from awsomechat.api.security import Context, CurrentPrincipal
from awsomechat.types import SearchRequest

router = APIRouter(tags=["query"])


@router.post("/v1/query", response_model=QueryOut)
def query(body: QueryIn, principal: CurrentPrincipal, ctx: Context, links: RequestLinks) -> Response:
    """Ranked passages (hybrid dense + BM25 by default) with excerpts, highlights and scores.

    Only documents the caller may read are searched; `filters` narrow that further. Page with
    `offset` and `page_size`: `next_offset` is null on the last page. Each result's `url` is a link
    a reader can open (the document's public page, else the web UI's view of the passage).
    """
    request = SearchRequest(
        text=body.query, k=body.page_size + 1, offset=body.offset, filters=conditions(body.filters),
        access=principal.access, mode=body.mode,
    )  # fmt: skip
    response = ctx.container.retriever.search(request)
    ctx.metrics.retrieval.labels("query").observe(response.timings_ms.get("total_ms", 0.0) / 1000)
    hits = response.hits[: body.page_size]
    out = QueryOut(
        query=body.query,
        results=[QueryResult.of(body.offset + i, h, links) for i, h in enumerate(hits, start=1)],
        next_offset=body.offset + body.page_size if len(response.hits) > body.page_size else None,
        timings_ms=response.timings_ms,
    )
    # Serialised once here: returning the model would have FastAPI validate it a second time.
    return Response(out.model_dump_json(), media_type="application/json")
