"""OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models``: existing clients work unchanged.

The conversation comes from ``messages`` (OpenAI clients are stateless): earlier user/assistant
pairs are the history used to rewrite the last user message, each earlier question made
standalone as a session would have stored it (``chat/stateless.py``), so a follow-up is rewritten
and answered as in a native session. Nothing is stored unless the extension field ``session_id``
names a session of the caller (then the stored history is used and the turn is saved there).
System messages are ignored: the grounding prompt of the chosen profile is the system prompt.

A client that shows only ``content`` still sees the sources: the content ends with a
``Sources:`` list of the cited passages (``Closest sources:`` when the answer abstains), each a
title and a link a reader can open. The extension fields carry the rest: ``citations`` and
``awsomechat`` (``answer`` without the list, ``sources``, ``standalone_question``), which the
official client exposes through ``model_extra``.

Errors stay RFC 9457 problem documents and also carry OpenAI's ``error`` object (``message``,
``type``, ``code``, ``param``), which is where OpenAI clients look for the message and code.

Model names: ``awsomechat`` (the chat profile) and ``awsomechat-<profile>`` for others.
"""

from __future__ import annotations

import inspect
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from awsomechat.api.chat_bridge import checked_request, collect, conditions, events, start_stream
from awsomechat.api.links import Links, RequestLinks
from awsomechat.api.problems import ApiProblem
from awsomechat.api.schemas import Citation, FilterIn
from awsomechat.api.security import Context, CurrentPrincipal
from awsomechat.chat.events import (
    ErrorEvent,
    FinalEvent,
    SourcesEvent,
    StandaloneQuestionEvent,
    TokenEvent,
)
from awsomechat.chat.stateless import SOURCES_HEADINGS, standalone_history
from awsomechat.errors import ValidationFailedError
from awsomechat.text.storable import unstorable_reason

MODEL_PREFIX = "awsomechat"

_ERROR_CODES = {
    401: "invalid_api_key", 403: "permission_denied", 404: "not_found", 429: "rate_limit_exceeded",
}  # fmt: skip


def _openai_error(body: dict[str, Any], status: int) -> dict[str, Any]:
    """OpenAI's ``error`` object for a problem document."""
    code = str(body.get("type", "")).rsplit("/", 1)[-1]
    if not code or code.isdigit():
        code = _ERROR_CODES.get(status, "invalid_request_error" if status < 500 else "server_error")
    errors = body.get("errors") or []
    return {
        "message": str(body.get("detail", "")),
        "type": "server_error" if status >= 500 else "rate_limit_error" if status == 429
        else "invalid_request_error",
        "code": code.replace("-", "_"),
        "param": errors[0].get("field") if errors and isinstance(errors[0], dict) else None,
    }  # fmt: skip


class _OpenAIErrorsRoute(APIRoute):
    """Renders errors with the app's problem handlers, then adds OpenAI's ``error`` member."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as exc:
                handlers = request.app.exception_handlers
                handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
                if handler is None:
                    raise
                response = handler(request, exc)
                if inspect.isawaitable(response):
                    response = await response
                if not isinstance(response, JSONResponse):
                    return response  # type: ignore[no-any-return]
                body = json.loads(bytes(response.body))
                if not isinstance(body, dict) or "error" in body:
                    return response
                body["error"] = _openai_error(body, response.status_code)
                headers = {
                    k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
                }
                return JSONResponse(
                    body, status_code=response.status_code, headers=headers, media_type=response.media_type
                )

        return route


router = APIRouter(tags=["openai"], route_class=_OpenAIErrorsRoute)


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class CompletionIn(BaseModel):
    """The OpenAI chat-completions request; unknown OpenAI fields are accepted and ignored."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "awsomechat",
                    "messages": [{"role": "user", "content": "What is the Lambda deployment package limit?"}],
                }
            ]
        },
    )
    model: str = Field(default=MODEL_PREFIX, max_length=100)
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    filters: list[FilterIn] = Field(
        default_factory=list, max_length=20, description="extension: metadata filters"
    )
    session_id: uuid.UUID | None = Field(
        default=None, description="extension: continue and store in this session"
    )


def _profile_of(model: str, names: list[str]) -> str:
    if model in (MODEL_PREFIX, "default", "gpt-3.5-turbo", "gpt-4o-mini"):
        return "chat"
    name = model.removeprefix(f"{MODEL_PREFIX}-")
    if name in names:
        return name
    raise ApiProblem(
        404, f"the model {model!r} does not exist; see GET /v1/models",
        errors=[{"field": "model", "message": "unknown model"}], code="model_not_found",
    )  # fmt: skip


def _history(messages: list[OpenAIMessage]) -> tuple[int, str, tuple[tuple[str, str], ...]]:
    """(index of the last user message, its text, earlier (question, answer) pairs)."""
    talk = [(i, m) for i, m in enumerate(messages) if m.role in ("user", "assistant")]
    if not talk or talk[-1][1].role != "user":
        raise ValidationFailedError("messages", "the last message must be from the user")
    for i, m in talk:  # every text reaches retrieval or the database
        reason = unstorable_reason(m.text())
        if reason:
            raise ValidationFailedError(_content_field(i), reason)
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for _, m in talk[:-1]:
        if m.role == "user":
            question = m.text()
        elif question is not None:
            pairs.append((question, m.text()))
            question = None
    return talk[-1][0], talk[-1][1].text(), tuple(pairs)


def _content_field(index: int) -> str:
    return f"messages[{index}].content"


def _model_list(ctx: Context) -> list[dict[str, Any]]:
    created = 1_767_225_600
    return [
        {
            "id": MODEL_PREFIX if p.name == "chat" else f"{MODEL_PREFIX}-{p.name}",
            "object": "model",
            "created": created,
            "owned_by": "awsomechat",
            "description": p.description,
        }
        for p in ctx.container.chat.profiles()
    ]


@router.get("/v1/models")
def models(principal: CurrentPrincipal, ctx: Context) -> dict[str, Any]:
    """The answer profiles as OpenAI models: `awsomechat` and `awsomechat-<profile>`."""
    return {"object": "list", "data": _model_list(ctx)}


@router.get("/v1/models/{model_id}")
def model(model_id: str, principal: CurrentPrincipal, ctx: Context) -> dict[str, Any]:
    """One model (OpenAI's `models.retrieve`)."""
    for entry in _model_list(ctx):
        if entry["id"] == model_id:
            return entry
    raise ApiProblem(
        404, f"the model {model_id!r} does not exist; see GET /v1/models", code="model_not_found"
    )


@router.post("/v1/chat/completions")
async def completions(
    body: CompletionIn, principal: CurrentPrincipal, ctx: Context, links: RequestLinks
) -> Any:
    """Answer the last user message from the documents, OpenAI-style (streaming or not).

    Earlier messages are the conversation: a follow-up is rewritten with them exactly as in a
    native session. The content ends with the cited sources (the closest ones when the documents
    do not answer), each with a link a reader can open."""
    profiles = {p.name: p for p in ctx.container.chat.profiles()}
    profile = _profile_of(body.model, list(profiles))
    index, question, raw_pairs = _history(body.messages)
    # the chat service's own settings: the replay must decide as it does
    pairs = standalone_history(raw_pairs, chat=ctx.container.settings.chat, profile=profiles[profile])
    with_sources = profiles[profile].input_kind == "question"  # not into a customer's e-mail draft
    request = await checked_request(
        ctx, principal, message=question, session_id=body.session_id, filters=conditions(body.filters),
        profile=profile, history=None if body.session_id else pairs, persist=body.session_id is not None,
        message_field=_content_field(index),
    )  # fmt: skip
    # A message the model's context cannot hold is a 422 now, not an error once the answer streams.
    await run_in_threadpool(ctx.container.chat.check_fits, request, field=_content_field(index))
    stream = await start_stream(ctx, request)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _chunks(ctx, stream, completion_id, created, body.model, include_usage, links, with_sources),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    turn = await collect(ctx, stream, links)  # errors: the same statuses as POST /v1/chat
    footer = _sources_text(turn.final, turn.sources, links) if with_sources else ""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": turn.final.answer + footer},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(turn.final),
        **_extension(turn.final, turn.sources, turn.standalone, links),
    }


def _sources_text(final: FinalEvent, sources: list[Citation], links: Links) -> str:
    """The list appended to the content: ``[n] [title › heading](url)`` per cited passage; when
    the answer abstained, the closest passages, one line per link (the abstention says they are
    listed below)."""
    if not final.abstained:
        cited = [Citation.of(c, links) for c in final.citations]
        return SOURCES_HEADINGS[0] + "\n".join(f"[{c.n}] {_md_link(c)}" for c in cited) if cited else ""
    closest: dict[str, Citation] = {}
    for c in sources:
        closest.setdefault(c.url, c)
    lines = [f"- {_md_link(c)}" for c in closest.values()] or ["- none: no document came close"]
    return SOURCES_HEADINGS[1] + "\n".join(lines)


def _md_link(c: Citation) -> str:
    where = " › ".join(h for h in c.heading_path if h != c.title)
    label = (c.title or "Untitled document") + (f" › {where}" if where else "")
    label = label.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace("\n", " ")
    return f"[{label}]({c.url})"


def _usage(final: FinalEvent) -> dict[str, int]:
    return {
        "prompt_tokens": final.prompt_tokens,
        "completion_tokens": final.completion_tokens,
        "total_tokens": final.prompt_tokens + final.completion_tokens,
    }


def _extension(
    final: FinalEvent, sources: list[Citation], standalone: StandaloneQuestionEvent | None, links: Links
) -> dict[str, Any]:
    return {
        "citations": [c.model_dump() for c in (Citation.of(x, links) for x in final.citations)],
        "awsomechat": {
            "answer": final.answer,
            "abstained": final.abstained,
            # the question retrieval used: the last user message rewritten with the history, or as asked
            "standalone_question": standalone.question if standalone else None,
            "rewritten": standalone.rewritten if standalone else False,
            "sources": [s.model_dump() for s in sources],
            "session_id": str(final.session_id) if final.session_id else None,
            "message_id": str(final.message_id) if final.message_id else None,
        },
    }


def _data(body: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(body, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def _chunks(
    ctx: Context,
    stream: Any,
    cid: str,
    created: int,
    model: str,
    include_usage: bool,
    links: Links,
    with_sources: bool,
) -> AsyncIterator[bytes]:

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        choices = (
            [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        )
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": choices, **extra}  # fmt: skip
        return _data(body)

    yield chunk({"role": "assistant", "content": ""})
    sources: list[Citation] = []
    standalone: StandaloneQuestionEvent | None = None
    async for event in events(ctx, stream):
        if isinstance(event, StandaloneQuestionEvent):
            standalone = event
        elif isinstance(event, SourcesEvent):
            sources = [Citation.of(c, links) for c in event.sources]
        elif isinstance(event, TokenEvent):
            yield chunk({"content": event.text})
        elif isinstance(event, ErrorEvent):
            yield _data({"error": {"message": event.message, "type": "server_error", "code": event.code}})
            return
        elif isinstance(event, FinalEvent):
            footer = _sources_text(event, sources, links) if with_sources else ""
            if footer:
                yield chunk({"content": footer})
            yield chunk({}, "stop", **_extension(event, sources, standalone, links))
            if include_usage:
                yield chunk(None, usage=_usage(event))
    yield b"data: [DONE]\n\n"
