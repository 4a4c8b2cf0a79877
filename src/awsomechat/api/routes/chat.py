"""``POST /v1/chat``: a grounded, cited answer, streamed as Server-Sent Events or as one JSON body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from awsomechat.api.chat_bridge import checked_request, collect, conditions, events, start_stream
from awsomechat.api.links import Links, RequestLinks
from awsomechat.api.schemas import ChatIn, ChatOut, Citation, SentenceCheckOut
from awsomechat.api.security import Context, CurrentPrincipal
from awsomechat.api.sse import sse
from awsomechat.chat.events import (
    ChatEvent,
    ErrorEvent,
    FinalEvent,
    SourcesEvent,
    StandaloneQuestionEvent,
    TokenEvent,
)

router = APIRouter(tags=["chat"])

_SSE_DOC = (
    'event: question\ndata: {"question":"What is the maximum ...?","rewritten":true}\n\n'
    'event: sources\ndata: {"sources":[{"n":1,"chunk_id":7,...}],"abstained":false}\n\n'
    'event: token\ndata: {"text":"The maximum"}\n\n'
    'event: final\ndata: {"message_id":"...","answer":"The maximum ... [1].","citations":[...],...}\n\n'
)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`stream: false`: the answer as JSON. `stream: true` (default): `text/event-stream`"
        " with events `question`, `sources`, `token` (many), then `final` (same fields as the JSON body)"
        " or `error`.",
        "content": {"text/event-stream": {"schema": {"type": "string"}, "example": _SSE_DOC}},
    },
}


def _final_out(
    question: str, standalone: str, sources: list[Citation], final: FinalEvent, links: Links
) -> ChatOut:
    return ChatOut(
        message_id=final.message_id, session_id=final.session_id, question=question,
        standalone_question=standalone or question, answer=final.answer, abstained=final.abstained,
        citations=[Citation.of(c, links) for c in final.citations], sources=sources, model=final.model,
        prompt_tokens=final.prompt_tokens, completion_tokens=final.completion_tokens, timings=final.timings,
        verification=[SentenceCheckOut.model_validate(c.to_json()) for c in final.verification],
    )  # fmt: skip


@router.post("/v1/chat", response_model=ChatOut, responses=_RESPONSES)
async def chat(body: ChatIn, principal: CurrentPrincipal, ctx: Context, links: RequestLinks) -> Any:
    """Answer a message from the documents the caller may read, with numbered citations.

    Follow-up questions in a session are rewritten into standalone questions using the
    conversation. When the documents do not hold the answer, the reply says so (`abstained`) and
    lists the closest passages instead. Closing the connection stops generation; nothing is stored
    for an unfinished answer.
    """
    request = await checked_request(
        ctx, principal, message=body.message, session_id=body.session_id,
        filters=conditions(body.filters), profile=body.profile,
    )  # fmt: skip
    # A message the model's context cannot hold is a 422 now, not an error once the answer streams.
    await run_in_threadpool(ctx.container.chat.check_fits, request)
    stream = await start_stream(ctx, request)
    if body.stream:
        return StreamingResponse(
            _sse_body(ctx, stream, body.message, links),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    turn = await collect(ctx, stream, links)
    standalone = turn.standalone.question if turn.standalone else ""
    return _final_out(body.message, standalone, turn.sources, turn.final, links)


async def _sse_body(ctx: Context, stream: Any, question: str, links: Links) -> AsyncIterator[bytes]:
    standalone, sources = "", []
    event: ChatEvent
    async for event in events(ctx, stream):
        if isinstance(event, StandaloneQuestionEvent):
            standalone = event.question
            yield sse("question", {"question": event.question, "rewritten": event.rewritten})
        elif isinstance(event, SourcesEvent):
            sources = [Citation.of(c, links) for c in event.sources]
            yield sse("sources", {"sources": [s.model_dump() for s in sources], "abstained": event.abstained})
        elif isinstance(event, TokenEvent):
            yield sse("token", {"text": event.text})
        elif isinstance(event, FinalEvent):
            out = _final_out(question, standalone, sources, event, links)
            yield sse("final", out.model_dump(mode="json"))
        elif isinstance(event, ErrorEvent):
            yield sse("error", {"code": event.code, "message": event.message})
