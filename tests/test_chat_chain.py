"""The answer chain with the real small model (SmolLM2-135M) and the real store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from awsomechat.chat.events import ErrorEvent, FinalEvent, SourcesEvent, StandaloneQuestionEvent, TokenEvent
from awsomechat.chat.service import ChatRequest
from awsomechat.chat.types import Message, Usage
from awsomechat.container import Container
from awsomechat.errors import ModelError, NotFoundError
from awsomechat.seams import ChatModel
from awsomechat.settings import Settings
from awsomechat.types import AccessScope
from tests.helpers import ingest_texts

KB = {
    "lambda-limits.md": "# Lambda quotas\n\nThe maximum unzipped deployment package size for AWS Lambda is "
    "250 MB. The maximum timeout of a Lambda function is 900 seconds (15 minutes).",
    "kendra-docs.md": "# Adding documents to Amazon Kendra\n\nYou add documents to an Amazon Kendra index "
    "with the BatchPutDocument operation or by syncing a data source such as an S3 bucket.",
    "guardduty.md": "# GuardDuty quotas\n\nYou can create up to 100 saved filters per AWS account per Region "
    "in Amazon GuardDuty.",
}
SECRET = {
    "merger.md": "# Project Falcon\n\nProject Falcon is the confidential acquisition of Globex Corporation, "
    "closing in March with a budget of 40 million dollars.",
}


class Recording:
    """Wraps a real chat model: counts calls and the tokens it actually produced."""

    def __init__(self, inner: ChatModel, fail_after: int | None = None) -> None:
        self.inner = inner
        self.calls = 0
        self.produced = 0
        self.fail_after = fail_after

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float, stop: Sequence[str] = ()
    ) -> Iterator[str | Usage]:
        self.calls += 1
        for item in self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop):
            if isinstance(item, str):
                if self.fail_after is not None and self.produced >= self.fail_after:
                    raise ModelError("the model server went away")
                self.produced += 1
            yield item


@pytest.fixture
def kb(container: Container, small_model: ChatModel) -> Iterator[Container]:
    ingest_texts(container, KB)
    ingest_texts(container, SECRET, groups=("execs",))
    container.__dict__["chat_model"] = Recording(small_model)
    container.settings.llm.max_answer_tokens = 48  # the small model rambles; plumbing needs few tokens
    yield container


def _events(c: Container, **kw: object) -> list[object]:
    return list(c.chat.stream(ChatRequest(**kw)))  # type: ignore[arg-type]


def test_answer_streams_with_citations_that_map_to_real_passages(kb: Container) -> None:
    events = _events(
        kb, user_id="u1", message="What is the maximum unzipped deployment package size for Lambda?"
    )
    kinds = [type(e) for e in events]
    assert kinds[0] is StandaloneQuestionEvent and kinds[1] is SourcesEvent and kinds[-1] is FinalEvent
    assert TokenEvent in kinds
    sources = events[1]
    assert isinstance(sources, SourcesEvent) and not sources.abstained
    assert sources.sources[0].title == "Lambda quotas"
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert (
        final.answer == "".join(e.text for e in events if isinstance(e, TokenEvent)).strip()
        or final.citations
    )
    given = {s.chunk_id for s in sources.sources}
    assert all(c.chunk_id in given for c in final.citations)
    with kb.database.pool.connection() as conn:
        for s in sources.sources:
            row = conn.execute("SELECT text FROM chunks WHERE id = %s", (s.chunk_id,)).fetchone()
            assert row is not None and s.title in row[0]
    turns = kb.conversations.turns("u1", final.session_id)
    assert len(turns) == 1 and turns[0].answer == final.answer and turns[0].model == final.model
    assert turns[0].timings["total_s"] > 0 and turns[0].completion_tokens > 0


def test_abstains_without_calling_the_model(kb: Container) -> None:
    model = kb.chat_model
    assert isinstance(model, Recording)
    final = kb.chat.ask(ChatRequest(user_id="u1", message="What is the best recipe for pad thai?"))
    assert final.abstained and model.calls == 0
    assert "do not cover" in final.answer
    stored = kb.conversations.turns("u1", final.session_id)[0]
    assert stored.abstained and stored.sources  # the closest passages are kept for the user


def test_access_groups_reach_retrieval(kb: Container) -> None:
    q = "What is Project Falcon and what does the acquisition of Globex cost?"
    outsider = _events(kb, user_id="u2", message=q)
    shown = [s.title for e in outsider if isinstance(e, SourcesEvent) for s in e.sources]
    assert "Project Falcon" not in shown
    insider = _events(kb, user_id="u3", message=q, access=AccessScope(groups=frozenset({"execs"})))
    shown = [s.title for e in insider if isinstance(e, SourcesEvent) for s in e.sources]
    assert shown[0] == "Project Falcon"


def test_history_is_per_user(kb: Container) -> None:
    first = kb.chat.ask(
        ChatRequest(user_id="alice", message="How do I add documents to an Amazon Kendra index?")
    )
    with pytest.raises(NotFoundError):
        kb.chat.ask(
            ChatRequest(user_id="mallory", message="And how do I remove them?", session_id=first.session_id)
        )
    follow = _events(kb, user_id="alice", message="How do I turn it on?", session_id=first.session_id)
    standalone = follow[0]
    assert isinstance(standalone, StandaloneQuestionEvent)
    assert len(kb.conversations.turns("alice", first.session_id)) == 2
    assert kb.conversations.list_sessions("mallory") == []


def test_backend_error_mid_stream_gives_error_event_and_stores_nothing(kb: Container) -> None:
    model = kb.chat_model
    assert isinstance(model, Recording)
    model.fail_after = 3
    events = _events(kb, user_id="u4", message="How many saved filters can I create in GuardDuty?")
    assert isinstance(events[-1], ErrorEvent) and events[-1].code == "model_error"
    assert not any(isinstance(e, FinalEvent) for e in events)
    assert kb.conversations.list_sessions("u4") == []


def test_cancelled_consumer_stops_generation_and_stores_nothing(kb: Container) -> None:
    model = kb.chat_model
    assert isinstance(model, Recording)
    stream = kb.chat.stream(
        ChatRequest(user_id="u5", message="What is the maximum timeout of a Lambda function?")
    )
    for event in stream:
        if isinstance(event, TokenEvent):
            break
    at_first = model.produced  # the answer streams a checked sentence at a time (chat/verify_stream.py)
    stream.close()
    produced = model.produced
    assert produced <= at_first + 2  # generation stopped with the consumer
    assert kb.conversations.list_sessions("u5") == []


def test_reply_profile_drafts_or_hands_off(kb: Container) -> None:
    covered = kb.chat.ask(
        ChatRequest(
            user_id="u6",
            message="Hi, how many saved filters can we create per account in GuardDuty? Thanks, Ann",
            profile="email_reply",
        )
    )
    assert not covered.abstained and covered.citations is not None
    uncovered = kb.chat.ask(
        ChatRequest(
            user_id="u6", message="Hello, can you book me a table for two on Friday?", profile="email_reply"
        )
    )
    assert uncovered.abstained and "follow up" in uncovered.answer


def test_empty_and_oversized_messages_are_refused(kb: Container, settings: Settings) -> None:
    from awsomechat.errors import AwsomeChatError

    with pytest.raises(AwsomeChatError, match="empty"):
        kb.chat.ask(ChatRequest(user_id="u7", message="   "))
    with pytest.raises(AwsomeChatError, match="limit"):
        kb.chat.ask(ChatRequest(user_id="u7", message="x" * (settings.chat.max_message_chars + 1)))
