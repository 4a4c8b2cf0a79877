"""What every ``ChatModel`` backend must do, as a test mixin.

    class TestMyModel(ChatModelContract):
        @pytest.fixture
        def model(self) -> ChatModel: ...

Each test asserts what the chat service relies on: text deltas then exactly one ``Usage`` last,
the answer budget respected, an early close that stops generation, token counts that grow.
"""

from __future__ import annotations

from awsomechat.chat.types import Message, Usage
from awsomechat.seams import ChatModel

MESSAGES = [
    Message("system", "Answer from the passages and cite them as [n]."),
    Message(
        "user", "[1] Lambda functions can run for up to 900 seconds.\n\nQuestion: How long can a Lambda run?"
    ),
]


class ChatModelContract:
    """Mix into a test class that provides a ``model`` fixture."""

    def test_streams_text_then_one_usage(self, model: ChatModel) -> None:
        pieces = list(model.stream(MESSAGES, max_tokens=24, temperature=0.0))
        assert pieces, "no output at all"
        assert isinstance(pieces[-1], Usage)
        assert sum(isinstance(p, Usage) for p in pieces) == 1
        text = [p for p in pieces if isinstance(p, str)]
        assert text and "".join(text).strip()
        usage = pieces[-1]
        assert usage.completion_tokens >= 1
        assert usage.prompt_tokens >= 1
        assert usage.finish_reason in ("stop", "length")

    def test_answer_budget_is_respected(self, model: ChatModel) -> None:
        pieces = list(model.stream(MESSAGES, max_tokens=3, temperature=0.0))
        usage = pieces[-1]
        assert isinstance(usage, Usage)
        assert usage.completion_tokens <= 3

    def test_closing_early_stops_cleanly(self, model: ChatModel) -> None:
        stream = model.stream(MESSAGES, max_tokens=24, temperature=0.0)
        first = next(iter(stream))
        assert isinstance(first, str)
        stream.close()  # type: ignore[attr-defined]
        # The model is free again for the next answer.
        again = list(model.stream(MESSAGES, max_tokens=4, temperature=0.0))
        assert isinstance(again[-1], Usage)

    def test_token_counts(self, model: ChatModel) -> None:
        short, long = model.count_tokens("Lambda"), model.count_tokens("Lambda functions run code. " * 20)
        assert 1 <= short < long
        assert model.context_window >= 512
        assert model.name
