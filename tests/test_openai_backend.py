"""The OpenAI-compatible backend against a real server on loopback (llama-cpp-python's own server
serving the small packaged model), and through the whole chain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from awsomechat.chat.models.openai_compat import OpenAIChatModel
from awsomechat.chat.service import ChatRequest
from awsomechat.chat.types import Message, Usage
from awsomechat.container import Container
from awsomechat.errors import ModelError
from awsomechat.seams import ChatModel
from awsomechat.settings import OpenAISettings
from awsomechat.testing.chat_model import ChatModelContract
from tests.helpers import ingest_texts
from tests.live import free_port
from tests.llama_server import llama_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llama_server(tmp_path_factory.mktemp("llama-server")) as base:
        yield base


def _settings(base: str, **kw: object) -> OpenAISettings:
    return OpenAISettings(base_url=base, remote_model="smol", **kw)  # type: ignore[arg-type]


def test_streams_text_and_usage(server: str) -> None:
    model = OpenAIChatModel(_settings(server))
    items = list(model.stream([Message("user", "Say hello.")], max_tokens=12, temperature=0.0))
    text = "".join(i for i in items if isinstance(i, str))
    usage = items[-1]
    assert text.strip() and isinstance(usage, Usage)
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 12


def test_unreachable_server_is_a_model_error() -> None:
    model = OpenAIChatModel(_settings(f"http://127.0.0.1:{free_port()}/v1", request_timeout_s=2))
    with pytest.raises(ModelError) as err:
        list(model.stream([Message("user", "hi")], max_tokens=4, temperature=0.0))
    assert "AWSOMECHAT_LLM__BASE_URL" in str(err.value.hint)


def test_http_error_names_the_status(server: str) -> None:
    model = OpenAIChatModel(_settings(server.removesuffix("/v1") + "/nope"))
    with pytest.raises(ModelError, match="HTTP 404"):
        list(model.stream([Message("user", "hi")], max_tokens=4, temperature=0.0))


def test_whole_chain_on_the_remote_backend(container: Container, server: str) -> None:
    container.settings.llm = _settings(server, max_answer_tokens=32)
    ingest_texts(
        container, {"q.md": "# GuardDuty quotas\n\nYou can create up to 100 saved filters per account."}
    )
    final = container.chat.ask(
        ChatRequest(user_id="u", message="How many saved filters can I create in GuardDuty?")
    )
    assert not final.abstained and final.model == "smol" and final.answer
    assert container.conversations.turns("u", final.session_id)[0].completion_tokens > 0


class TestOpenAIContract(ChatModelContract):
    @pytest.fixture
    def model(self, server: str) -> ChatModel:
        return OpenAIChatModel(_settings(server))
