"""Shared by the native and the OpenAI-compatible chat routes: request checks, the generation
slot, the threaded event stream and the chat metrics."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from awsomechat.api.context import ApiContext
from awsomechat.api.gate import GenerationGate
from awsomechat.api.links import Links
from awsomechat.api.problems import ApiProblem
from awsomechat.api.schemas import Citation, FilterIn
from awsomechat.api.sse import ThreadedStream
from awsomechat.chat.events import ChatEvent, ErrorEvent, FinalEvent, SourcesEvent, StandaloneQuestionEvent
from awsomechat.chat.service import ChatRequest
from awsomechat.errors import AwsomeChatError, FilterError, StoreError, ValidationFailedError
from awsomechat.filters import make_condition
from awsomechat.types import Condition, Principal

log = logging.getLogger(__name__)


def conditions(filters: Sequence[FilterIn], field: str = "filters") -> tuple[Condition, ...]:
    out = []
    for i, f in enumerate(filters):
        try:
            out.append(make_condition(f.field, f.op, f.value))
        except FilterError as exc:
            raise ValidationFailedError(f"{field}[{i}]", exc.message, hint=exc.hint) from None
    return tuple(out)


async def checked_request(
    ctx: ApiContext,
    principal: Principal,
    *,
    message: str,
    session_id: uuid.UUID | None,
    filters: tuple[Condition, ...],
    profile: str,
    history: tuple[tuple[str, str], ...] | None = None,
    persist: bool = True,
    message_field: str = "message",
) -> ChatRequest:
    """A ChatRequest whose problems (length, profile, session) are found before any streaming."""
    limit = ctx.settings.chat.max_message_chars
    if not message.strip():
        raise ValidationFailedError(message_field, "the message is empty")
    if "\x00" in message:
        raise ValidationFailedError(message_field, "must not contain a NUL character")
    if len(message) > limit:
        raise ValidationFailedError(message_field, f"{len(message)} characters, over the limit of {limit}")
    names = [p.name for p in ctx.container.chat.profiles()]
    if profile not in names:
        raise ValidationFailedError(
            "profile", f"unknown profile {profile!r}; choose one of {', '.join(names)}"
        )
    # A model runner that is down or restarting: 503 + Retry-After now, never a hang or a stream
    # that can only end in an error.
    await run_in_threadpool(ctx.container.check_model_available)
    if session_id is not None:  # 404 now rather than an error event mid-stream
        await run_in_threadpool(ctx.container.conversations.get_session, principal.user_id, session_id)
    return ChatRequest(
        user_id=principal.user_id, message=message, access=principal.access, session_id=session_id,
        filters=filters, profile=profile, history=history, persist=persist,
    )  # fmt: skip


def record_final(ctx: ApiContext, final: FinalEvent) -> None:
    m = ctx.metrics
    m.answers.labels("abstained" if final.abstained else "answered").inc()
    m.tokens.labels("prompt").inc(final.prompt_tokens)
    m.tokens.labels("completion").inc(final.completion_tokens)
    t = final.timings
    if "retrieve_s" in t:
        m.retrieval.labels("chat").observe(t["retrieve_s"])
    if "ttft_s" in t:
        m.ttft.observe(t["ttft_s"])
    if "generate_s" in t:
        m.generation.observe(t["generate_s"])


class _TurnSlot:
    """The generation slot of one turn: taken on the stream's thread when the chain is about to
    call the model (the service calls it), released once when the stream has stopped."""

    def __init__(self, gate: GenerationGate) -> None:
        self._gate = gate
        self._held = False
        self.cancelled: threading.Event | None = None

    def __call__(self) -> None:
        if not self._held:
            self._gate.acquire(self.cancelled)
            self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate.release()


class TurnStream:
    """A turn's event stream whose first event has already arrived (see :func:`start_stream`)."""

    def __init__(self, stream: ThreadedStream[ChatEvent]) -> None:
        self._stream = stream
        self._events = stream.__aiter__()
        self._first: ChatEvent | None = None
        self._failure: Exception | None = None

    @property
    def cancelled(self) -> bool:
        return self._stream.cancelled

    async def prime(self) -> None:
        """Wait for the first event. A refusal by the generation gate is raised now (503 before the
        response starts); any other failure is kept for the iteration to report, as before."""
        try:
            self._first = await self._events.__anext__()
        except StopAsyncIteration:
            pass
        except ApiProblem:
            raise
        except Exception as exc:
            self._failure = exc

    async def __aiter__(self) -> AsyncIterator[ChatEvent]:
        if self._failure is not None:
            raise self._failure
        if self._first is not None:
            yield self._first
        async for event in self._events:
            yield event


async def start_stream(ctx: ApiContext, request: ChatRequest) -> TurnStream:
    """Start the turn and return its event stream once its first event is there.

    No generation slot is taken here: the chain takes one on its thread just before it calls the
    model (a rewrite, or the answer), so a question that abstains never waits behind other answers.
    That moment always comes before the chain's first event, and the first event is awaited here,
    before any response starts: a full queue (or a wait past the queue timeout) is still a 503 with
    Retry-After. The slot is released by the stream's thread when the chain has stopped.
    """
    slot = _TurnSlot(ctx.gate)
    stream = ThreadedStream(lambda: ctx.container.chat.stream(request, model_slot=slot), slot.release)
    slot.cancelled = stream.stop_event
    turn = TurnStream(stream)
    await turn.prime()
    return turn


async def events(ctx: ApiContext, stream: TurnStream) -> AsyncIterator[ChatEvent]:
    """The stream's events; failures become an ErrorEvent (the response has already started)."""
    try:
        async for event in stream:
            if isinstance(event, FinalEvent):
                record_final(ctx, event)
            elif isinstance(event, ErrorEvent):
                ctx.metrics.answers.labels("error").inc()
            yield event
    except ApiProblem as exc:  # the generation gate, if a slot were ever taken after the first event
        ctx.metrics.answers.labels("error").inc()
        yield ErrorEvent("queue_full" if exc.code == "queue-full" else "queue_timeout", exc.detail)
    except StoreError:
        ctx.metrics.answers.labels("error").inc()
        yield ErrorEvent(
            "store_unavailable", "the database is unavailable; nothing was stored, try again shortly"
        )
    except AwsomeChatError as exc:
        ctx.metrics.answers.labels("error").inc()
        yield ErrorEvent("failed", exc.message)
    except Exception as exc:
        log.exception("chat stream failed")
        ctx.metrics.answers.labels("error").inc()
        yield ErrorEvent("internal_error", f"the answer failed ({type(exc).__name__}); try again")
    finally:
        if stream.cancelled:
            ctx.metrics.answers.labels("cancelled").inc()


@dataclass(frozen=True)
class Collected:
    """A whole turn, for the non-streaming responses."""

    standalone: StandaloneQuestionEvent | None
    sources: list[Citation]
    final: FinalEvent


def error_problem(ctx: ApiContext, event: ErrorEvent) -> ApiProblem:
    """The HTTP error for a turn that failed before any byte of the response was sent."""
    if event.code in ("store_unavailable", "model_unavailable", "queue_full", "queue_timeout"):
        code = event.code.replace("_", "-")
        return ApiProblem(503, event.message, code=code, retry_after=ctx.settings.api.retry_after_s)
    return ApiProblem(502 if event.code == "model_error" else 500, event.message, code=event.code)


async def collect(ctx: ApiContext, stream: TurnStream, links: Links | None = None) -> Collected:
    """Run the turn to its end; an error event becomes an :class:`ApiProblem`."""
    standalone: StandaloneQuestionEvent | None = None
    sources: list[Citation] = []
    async for event in events(ctx, stream):
        if isinstance(event, StandaloneQuestionEvent):
            standalone = event
        elif isinstance(event, SourcesEvent):
            sources = [Citation.of(c, links) for c in event.sources]
        elif isinstance(event, ErrorEvent):
            raise error_problem(ctx, event)
        elif isinstance(event, FinalEvent):
            return Collected(standalone, sources, event)
    raise ApiProblem(500, "the answer ended without a result")
