"""The answer chain: a stateless LangChain pipeline from a message to a stored, cited answer.

prepare (langchain-core runnables):  load history → standalone question → retrieve → judge → pack
answer (a generator):                 prompt → stream tokens → resolve citations → store the turn

Everything a turn needs comes from the request and the database, so any process can serve any
turn of any session. Abstention happens before the model is called.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from awsomechat.chat.budget import (
    MIN_PASSAGE_TOKENS,
    PROMPT_OVERHEAD_TOKENS,
    fit_history,
    room_left,
    tokens_upper_bound,
)
from awsomechat.chat.citations import attribute_uncited, resolve_citations
from awsomechat.chat.context import PackedPassage, citation_for, number_parts, pack_passages, render_passages
from awsomechat.chat.events import (
    ChatEvent,
    ErrorEvent,
    FinalEvent,
    SourcesEvent,
    StandaloneQuestionEvent,
    TokenEvent,
)
from awsomechat.chat.followup import with_history_terms
from awsomechat.chat.prompts import PromptProfile, all_profiles, get_profile
from awsomechat.chat.reply import (
    BodyFilter,
    ReplyPlan,
    handoff_reply,
    plan_reply,
    prompt_text,
    request_question,
)
from awsomechat.chat.reply import head as reply_head
from awsomechat.chat.reply import tail as reply_tail
from awsomechat.chat.rewrite import (
    REWRITE_MAX_TOKENS,
    history_line,
    make_standalone,
    needs_context,
    rewrite,
    rewrite_messages,
)
from awsomechat.chat.types import ChatSession, Citation, Message, NewTurn, Turn, Usage
from awsomechat.chat.verify import AnswerVerifier, LexicalVerifier, ModelJudge, SentenceCheck, cited_numbers
from awsomechat.chat.verify_stream import VerifiedStream
from awsomechat.errors import AwsomeChatError, ModelUnavailableError, ValidationFailedError
from awsomechat.seams import ChatModel, ConversationStore, RelevanceJudge, Retriever
from awsomechat.settings import ChatModelSettings, ChatSettings
from awsomechat.text.storable import unstorable_reason
from awsomechat.types import AccessScope, Condition, RelevanceVerdict, SearchHit, SearchRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatRequest:
    """One user message. ``access`` comes from the authenticated principal, never from the client."""

    user_id: str
    message: str
    access: AccessScope = field(default_factory=AccessScope)
    session_id: uuid.UUID | None = None
    filters: tuple[Condition, ...] = ()
    profile: str = "chat"
    # Stateless callers (the OpenAI-compatible API) send the conversation themselves: (question,
    # answer) pairs used instead of a stored session, and ``persist=False`` stores nothing.
    history: tuple[tuple[str, str], ...] | None = None
    persist: bool = True


@dataclass
class _State:
    request: ChatRequest
    profile: PromptProfile
    session: ChatSession | None
    history: list[Turn]
    timings: dict[str, float]
    standalone: str = ""
    search_text: str = ""  # a follow-up's standalone question plus the previous question's terms
    rewritten: bool = False
    usage: list[Usage] = field(default_factory=list)
    hits: list[SearchHit] = field(default_factory=list)
    verdict: RelevanceVerdict | None = None
    passages: list[PackedPassage] = field(default_factory=list)
    # An e-mail (profile input_kind "email"): its requests, each retrieved and judged (chat/reply.py),
    # and the model calls answering them: (question, its passages numbered as in ``passages``).
    reply: ReplyPlan | None = None
    parts: list[tuple[str, list[PackedPassage]]] = field(default_factory=list)
    # Called once, just before the first model call of the turn (the API's generation slot).
    model_slot: Callable[[], None] | None = None


class ChatService:
    """Streams :mod:`awsomechat.chat.events` for a message; stores the finished turn."""

    def __init__(
        self,
        retriever: Retriever,
        memory: ConversationStore,
        model: Callable[[], ChatModel],
        gate: RelevanceJudge,
        chat: ChatSettings,
        llm: ChatModelSettings,
        profiles: dict[str, PromptProfile] | None = None,
    ) -> None:
        self._retriever = retriever
        self._memory = memory
        self._model = model
        self._gate = gate
        # E-mails are judged request by request with thresholds calibrated on e-mails
        # (`awsomechat eval reply-gate`); a judge without tunable thresholds applies as it is.
        retune = getattr(gate, "with_thresholds", None)
        self._email_gate: RelevanceJudge = (
            retune(min_dense=chat.email_min_dense, min_coverage=chat.email_min_coverage) if retune else gate
        )
        self._chat = chat
        self._llm = llm
        self._profiles = profiles or {}
        self.prepare: Runnable[ChatRequest, _State] = (
            RunnableLambda(self._load)
            | RunnableLambda(self._standalone)
            | RunnableLambda(self._retrieve)
            | RunnableLambda(self._judge)
            | RunnableLambda(self._pack)
        ).with_config(run_name="awsomechat-prepare")

    # ----------------------------------------------------------------- steps
    def _load(self, request: ChatRequest, config: RunnableConfig) -> _State:
        message = request.message.strip()
        if not message:
            raise AwsomeChatError("the message is empty")
        if len(message) > self._chat.max_message_chars:
            raise AwsomeChatError(
                f"the message is {len(message)} characters, over the {self._chat.max_message_chars} limit",
                hint="shorten it or raise AWSOMECHAT_CHAT__MAX_MESSAGE_CHARS",
            )
        profile = get_profile(request.profile, self._profiles)
        session: ChatSession | None = None
        history: list[Turn] = []
        if request.session_id is not None:  # a new session is created only when its first turn is stored
            session = self._memory.get_session(request.user_id, request.session_id)
            history = self._memory.turns(request.user_id, session.id, last=self._chat.history_turns)
        if request.history is not None:
            history = [Turn(question=q, standalone_question=q, answer=a) for q, a in request.history]
        req = dataclasses.replace(request, message=message, profile=profile.name)
        self.check_fits(req)
        slot = (config.get("configurable") or {}).get("model_slot")
        return _State(req, profile, session, history, {}, model_slot=slot)

    def check_fits(self, request: ChatRequest, *, field: str = "message") -> None:
        """Refuse a message the model's context cannot hold with the profile's instructions, the
        answer and room for one passage (``ValidationFailedError`` naming ``field``).

        The API calls this before any response starts, so the refusal is a 422; the turn itself
        checks again. A message that fits whatever the tokenizer is passed without counting (and
        without loading the model).
        """
        reason = unstorable_reason(request.message)
        if reason:
            raise ValidationFailedError(field, reason)
        profile = get_profile(request.profile, self._profiles)
        message = request.message.strip()
        system, user = profile.system, profile.user_message("", message)
        reserve = self._llm.max_answer_tokens + MIN_PASSAGE_TOKENS + PROMPT_OVERHEAD_TOKENS
        if tokens_upper_bound(system) + tokens_upper_bound(user) + reserve <= self._llm.n_ctx:
            return
        model = self._model()
        room = room_left(model, system=system, user=user, answer_tokens=self._llm.max_answer_tokens)
        if room < MIN_PASSAGE_TOKENS:
            tokens = model.count_tokens(message)
            raise ValidationFailedError(
                field,
                f"the message is {tokens} model tokens; with the instructions, the answer and one passage,"
                f" the model's context of {model.context_window} tokens has room for"
                f" {max(0, tokens + room - MIN_PASSAGE_TOKENS)}",
                hint="shorten it",
            )

    def _fit_history(self, model: ChatModel, history: list[Turn], question: str) -> list[Turn]:
        """Newest turns that fit ``chat.history_tokens`` and the rewrite prompt's share of the context."""
        prompt = rewrite_messages([], question)
        room = room_left(
            model, system=prompt[0].content, user=prompt[1].content, answer_tokens=REWRITE_MAX_TOKENS
        )
        limit = min(self._chat.history_tokens, room)
        return fit_history(history, history_line, model.count_tokens, limit)

    def _standalone(self, s: _State) -> _State:
        t0 = time.perf_counter()
        question = s.request.message
        mode, method = self._chat.rewrite, self._chat.rewrite_method
        earlier = [t.standalone_question for t in s.history]
        wanted = (
            bool(s.history) and mode != "never" and (mode == "always" or needs_context(question, earlier))
        )
        wanted = wanted and s.profile.input_kind != "email"  # an e-mail stands alone (or quotes)
        if wanted and method != "model":  # the conversation's subject first: no model call
            quick = make_standalone(None, s.history, question, method)
            if quick.method == "topic" or method == "topic":
                s.standalone = quick.text if quick.method == "topic" else s.profile.search_text(question)
                s.rewritten = quick.method == "topic"
                s.search_text = with_history_terms(s.standalone, earlier)
                s.timings["rewrite_s"] = round(time.perf_counter() - t0, 3)
                return s
        history = self._fit_history(self._model(), s.history, question) if wanted else []
        if history:
            self._take_slot(s)
            text, p, c = rewrite(self._model(), history, question)
            s.usage.append(Usage(p, c))
            s.standalone, s.rewritten = text, text != question
            s.search_text = with_history_terms(text, earlier)
        else:
            s.standalone = s.profile.search_text(question)
        s.timings["rewrite_s"] = round(time.perf_counter() - t0, 3)
        return s

    def _retrieve(self, s: _State) -> _State:
        t0 = time.perf_counter()
        if s.profile.input_kind == "email":  # each request of the e-mail retrieved and judged alone
            s.reply = plan_reply(
                s.request.message, retriever=self._retriever, gate=self._email_gate,
                access=s.request.access, filters=s.request.filters, k=self._chat.retrieve_k,
            )  # fmt: skip
            s.hits, s.standalone = s.reply.hits(self._chat.max_passages), s.reply.search_text()
            s.timings["requests"] = len(s.reply.requests)
            s.timings["handed_off_requests"] = len(s.reply.handed_off)
        else:
            req = SearchRequest(
                text=s.search_text or s.standalone,
                k=self._chat.retrieve_k,
                filters=s.request.filters,
                access=s.request.access,
            )
            s.hits = self._retriever.search(req).hits
        s.timings["retrieve_s"] = round(time.perf_counter() - t0, 3)
        return s

    def _judge(self, s: _State) -> _State:
        if s.reply is not None:
            s.verdict = s.reply.verdict()
        else:
            s.verdict = self._gate.judge(s.standalone, s.hits, s.request.access)
        return s

    def _pack(self, s: _State) -> _State:
        """Passages within ``chat.context_tokens`` and what the context has left after the
        instructions, the question and the answer; an e-mail's requests each get their own."""
        if s.verdict is None or not s.verdict.answerable:
            return s
        model = self._model()
        if s.reply is None:
            s.passages = self._fit(model, s, self._prompt_question(s), s.hits, s.standalone)
            return s
        parts = []
        for planned, hits in s.reply.request_hits(self._chat.max_passages):
            question = request_question(s.reply, planned)
            packed = self._fit(model, s, question, hits, planned.request.query, len(hits))
            if packed:
                parts.append((question, packed))
        s.passages, numbered = number_parts([p for _, p in parts])
        s.parts = [(q, p) for (q, _), p in zip(parts, numbered, strict=True)]
        return s

    def _fit(
        self,
        model: ChatModel,
        s: _State,
        question: str,
        hits: Sequence[SearchHit],
        scored_by: str,
        max_passages: int | None = None,
    ) -> list[PackedPassage]:
        """``hits`` packed for one model call, re-packed tighter if the whole prompt, counted at
        once, still comes out over the context."""
        system, answer = s.profile.system, self._llm.max_answer_tokens
        room = room_left(
            model, system=system, user=s.profile.user_message("", question), answer_tokens=answer
        )
        budget = min(self._chat.context_tokens, room)
        for _ in range(3):
            passages = pack_passages(
                hits,
                count_tokens=model.count_tokens,
                budget_tokens=budget,
                max_passages=max_passages or self._chat.max_passages,
                relevance=self._gate.relevance_scorer(scored_by, s.request.access),
            )
            user = s.profile.user_message(render_passages(passages), question)
            over = -room_left(model, system=system, user=user, answer_tokens=answer)
            if over <= 0:
                return passages
            budget -= over
        return []

    @staticmethod
    def _take_slot(s: _State) -> None:
        slot, s.model_slot = s.model_slot, None
        if slot is not None:
            slot()

    # ---------------------------------------------------------------- public
    def stream(
        self, request: ChatRequest, *, model_slot: Callable[[], None] | None = None
    ) -> Iterator[ChatEvent]:
        """Events of one turn. Closing the iterator early stops generation and stores nothing.

        ``model_slot`` (the API's generation queue) is called once, on this thread, just before the
        model is first asked to generate: before a follow-up rewrite, or before the first event of
        a turn that will be answered. It may block or raise. A turn that abstains without a
        rewrite never calls it.
        """
        t_start = time.perf_counter()
        state = self.prepare.invoke(request, config={"configurable": {"model_slot": model_slot}})
        if state.passages:
            self._take_slot(state)
        yield StandaloneQuestionEvent(state.standalone, state.rewritten)
        if not state.passages:
            yield from self._abstain(state, t_start)
            return
        sources = tuple(p.citation for p in state.passages)
        yield SourcesEvent(sources, abstained=False)
        model = self._model()
        # One model call; an e-mail: one per answerable request, each with its own passages.
        calls = state.parts if state.reply is not None else [(self._prompt_question(state), state.passages)]
        out = self._verified_stream(state, model)
        raw: list[str] = []  # what the model wrote (for its own citations)
        usage = Usage(0, 0)
        t_gen = time.perf_counter()
        for i, (question, passages) in enumerate(calls):
            messages = [
                Message("system", state.profile.system),
                Message("user", state.profile.user_message(render_passages(passages), question)),
            ]
            if i and (text := out.feed("\n\n")):  # the next request's answer: a new paragraph
                yield TokenEvent(text)
            used = yield from self._generate(state, model, messages, out, raw, t_start)
            if used is None:
                return
            usage = Usage(
                usage.prompt_tokens + used.prompt_tokens, usage.completion_tokens + used.completion_tokens
            )
            if out.full:
                break
        if text := out.finish():
            state.timings.setdefault("ttft_s", round(time.perf_counter() - t_start, 3))
            yield TokenEvent(text)
        state.timings["generate_s"] = round(time.perf_counter() - t_gen, 3)
        state.timings["model_citations"] = float(len(cited_numbers("".join(raw))))
        checks = tuple(out.checks)
        if out.verifier is not None:
            state.timings["verify_s"] = round(out.verify_s, 3)
            state.timings["sentences"] = float(sum(c.claim for c in checks))
            state.timings["sentences_supported"] = float(out.supported)
        if not out.answered:  # nothing supported remains: the abstention (an e-mail: the hand-off)
            text = handoff_reply(state.reply) if state.reply is not None else state.profile.abstain
            yield TokenEvent(text)
            yield self._store(
                state, text, (), sources, abstained=True, usage=usage, model=model.name, t0=t_start,
                verification=checks,
            )  # fmt: skip
            return
        answer = out.text.strip() if state.reply is None else out.text.rstrip()
        if out.verifier is None:  # unchecked: markers added afterwards where a passage clearly fits
            given = [(p.citation, p.text) for p in state.passages]
            answer = attribute_uncited(answer, given, self._gate.term_set)
        if state.reply is not None:
            tail = reply_tail(state.reply)
            yield TokenEvent(tail)
            answer += tail
        answer, cited = resolve_citations(answer, sources)
        yield self._store(
            state, answer, cited, sources, abstained=False, usage=usage, model=model.name, t0=t_start,
            verification=checks,
        )  # fmt: skip

    def _generate(
        self,
        state: _State,
        model: ChatModel,
        messages: list[Message],
        out: VerifiedStream,
        raw: list[str],
        t_start: float,
    ) -> Generator[ChatEvent, None, Usage | None]:
        """One model call streamed through ``out``: its token events; returns its usage, or None
        after an error event. An e-mail reply's greeting, hand-off and sign-off are the system's:
        the model's own greeting is dropped, its sign-off ends the call."""
        usage = Usage(0, 0)
        body = BodyFilter() if state.reply is not None else None
        written: list[str] = []
        gen = model.stream(
            messages, max_tokens=self._llm.max_answer_tokens, temperature=self._llm.temperature
        )
        try:
            for item in gen:
                if isinstance(item, Usage):
                    usage = item
                    continue
                if body is not None:
                    item = body.feed(item)
                    if body.done:
                        break
                    if not item:
                        continue
                written.append(item)
                if text := out.feed(item):
                    state.timings.setdefault("ttft_s", round(time.perf_counter() - t_start, 3))
                    yield TokenEvent(text)
                if out.full:  # the profile's sentence limit: the rest is not generated
                    break
            if body is not None and (rest := body.flush()) and not out.full:
                written.append(rest)
                if text := out.feed(rest):
                    yield TokenEvent(text)
        except AwsomeChatError as exc:
            log.warning("generation failed: %s", exc)
            code = "model_unavailable" if isinstance(exc, ModelUnavailableError) else "model_error"
            yield ErrorEvent(code, f"the answer could not be completed: {exc.message}")
            return None
        finally:
            close = getattr(gen, "close", None)
            if close:
                close()
        raw.extend(written)
        if usage == Usage(0, 0) and written:  # stopped early, before the model's own count
            prompt_tokens = sum(model.count_tokens(m.content) for m in messages)
            usage = Usage(prompt_tokens, model.count_tokens("".join(written)))
        return usage

    def _verified_stream(self, state: _State, model: ChatModel) -> VerifiedStream:
        """The sentence-by-sentence checker of this turn (``chat.verify``, ``chat.verify_action``)."""
        chat = self._chat
        verifier: AnswerVerifier | None = None
        if chat.verify != "off":
            # A reply in another language than the (English-stemmed) passages: numbers and names
            # are still checked, content terms cannot be compared across languages.
            foreign = state.reply is not None and state.reply.email.language != "en"
            coverage = 0.0 if foreign else chat.verify_min_coverage
            verifier = AnswerVerifier(
                LexicalVerifier(self._gate.term_set, min_coverage=coverage),
                {p.citation.n: p.text for p in state.passages},
                question=self._prompt_question(state),
                judge=ModelJudge(model) if chat.verify == "model" else None,
                correct=chat.verify_correct and not foreign,  # passages quoted in the reply's language only
            )
        limit = state.profile.max_sentences if chat.enforce_length else None
        action = "drop" if state.reply is not None else chat.verify_action
        lead = reply_head(state.reply) if state.reply is not None else ""
        return VerifiedStream(verifier, action=action, max_sentences=limit, lead=lead)

    @staticmethod
    def _prompt_question(state: _State) -> str:
        # An e-mail: its body and the requests to answer; a question as rewritten.
        if state.reply is not None:
            return prompt_text(state.reply)
        return state.request.message if state.profile.input_kind == "email" else state.standalone

    def _abstain(self, state: _State, t_start: float) -> Iterator[ChatEvent]:
        closest = tuple(citation_for(i, h) for i, h in enumerate(state.hits[:3], start=1))
        yield SourcesEvent(closest, abstained=True)
        text = handoff_reply(state.reply) if state.reply is not None else state.profile.abstain
        yield TokenEvent(text)
        if state.verdict is not None:
            state.timings["top_dense"] = round(state.verdict.top_dense, 4)
            state.timings["coverage"] = round(state.verdict.coverage, 4)
        yield self._store(state, text, (), closest, abstained=True, usage=Usage(0, 0), model="", t0=t_start)

    def _store(
        self,
        state: _State,
        answer: str,
        cited: tuple[Citation, ...],
        sources: tuple[Citation, ...],
        *,
        abstained: bool,
        usage: Usage,
        model: str,
        t0: float,
        verification: tuple[SentenceCheck, ...] = (),
    ) -> FinalEvent:
        state.timings["total_s"] = round(time.perf_counter() - t0, 3)
        prompt = usage.prompt_tokens + sum(u.prompt_tokens for u in state.usage)
        completion = usage.completion_tokens + sum(u.completion_tokens for u in state.usage)
        if not state.request.persist:
            return FinalEvent(
                message_id=None, session_id=None, answer=answer, citations=cited, abstained=abstained,
                model=model, prompt_tokens=prompt, completion_tokens=completion, timings=dict(state.timings),
                verification=verification,
            )  # fmt: skip
        if state.session is None:
            state.session = self._memory.create_session(state.request.user_id, profile=state.profile.name)
        turn = self._memory.append_turn(
            state.request.user_id,
            state.session.id,
            NewTurn(
                question=state.request.message, standalone_question=state.standalone, answer=answer,
                abstained=abstained, citations=cited, sources=sources, model=model,
                prompt_tokens=prompt, completion_tokens=completion, timings=dict(state.timings),
            ),
        )  # fmt: skip
        return FinalEvent(
            message_id=turn.id, session_id=state.session.id, answer=answer, citations=cited,
            abstained=abstained, model=model, prompt_tokens=prompt, completion_tokens=completion,
            timings=dict(state.timings), verification=verification,
        )  # fmt: skip

    def profiles(self) -> list[PromptProfile]:
        """The prompt profiles a request may name."""
        return all_profiles(self._profiles)

    def ask(self, request: ChatRequest) -> FinalEvent:
        """Run a turn to the end and return its final event (raises on an error event)."""
        final: FinalEvent | None = None
        for event in self.stream(request):
            if isinstance(event, ErrorEvent):
                raise AwsomeChatError(event.message)
            if isinstance(event, FinalEvent):
                final = event
        assert final is not None
        return final
