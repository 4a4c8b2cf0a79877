"""Bedrock (ConverseStream) and SageMaker endpoints (TGI streaming, JumpStart FLAN-T5) as chat
models, through real boto3 clients against loopback servers that speak the AWS wire protocols."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from awsomechat.chat.models.bedrock import BedrockChatModel
from awsomechat.chat.models.sagemaker import SageMakerChatModel
from awsomechat.chat.service import ChatRequest
from awsomechat.chat.types import Message, Usage
from awsomechat.container import Container
from awsomechat.errors import ModelError, ModelUnavailableError
from awsomechat.seams import ChatModel
from awsomechat.settings import BedrockSettings, SageMakerSettings
from awsomechat.testing.chat_model import MESSAGES, ChatModelContract
from tests.aws_fakes.runtime_servers import Recorder, aws_runtime_server
from tests.helpers import ingest_texts

pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[str, Recorder]]:
    with aws_runtime_server() as (url, recorder):
        yield url, recorder


@pytest.fixture(autouse=True)
def aws_env(aws: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = aws
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


class TestBedrockContract(ChatModelContract):
    @pytest.fixture
    def model(self) -> ChatModel:
        return BedrockChatModel(BedrockSettings(model_id="anthropic.claude-3-haiku-20240307-v1:0"))


class TestSageMakerTgiContract(ChatModelContract):
    @pytest.fixture
    def model(self) -> ChatModel:
        return SageMakerChatModel(SageMakerSettings(endpoint_name="tgi-endpoint", payload="tgi"))


class TestSageMakerT5Contract(ChatModelContract):
    @pytest.fixture
    def model(self) -> ChatModel:
        return SageMakerChatModel(SageMakerSettings(endpoint_name="flan-t5-xxl", payload="jumpstart-t5"))


def test_bedrock_request_shape_and_usage(aws: tuple[str, Recorder]) -> None:
    _, recorder = aws
    recorder.requests.clear()
    model = BedrockChatModel(BedrockSettings(model_id="amazon.nova-micro-v1:0"))
    history = [
        *MESSAGES[:1],
        Message("assistant", "Hello."),
        Message("user", "first"),
        Message("user", "second"),
    ]
    pieces = list(model.stream(history, max_tokens=50, temperature=0.2, stop=["\n\n"]))
    req = recorder.requests[-1]
    assert req["path"] == ["model", "amazon.nova-micro-v1:0", "converse-stream"]
    assert "/bedrock/aws4_request" in req["auth"]  # SigV4 for the bedrock service
    body = json.loads(req["body"])
    assert body["system"] == [{"text": MESSAGES[0].content}]
    assert [m["role"] for m in body["messages"]] == [
        "user",
        "assistant",
        "user",
    ]  # starts with user, alternates
    assert body["messages"][-1]["content"][0]["text"] == "first\n\nsecond"
    assert body["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2, "stopSequences": ["\n\n"]}
    usage = pieces[-1]
    assert isinstance(usage, Usage) and usage.prompt_tokens == 42  # from the metadata event
    assert "[1]" in "".join(p for p in pieces if isinstance(p, str))


def test_bedrock_failures_are_the_projects_errors() -> None:
    with pytest.raises(ModelUnavailableError, match="ThrottlingException"):
        list(
            BedrockChatModel(BedrockSettings(model_id="throttled")).stream(
                MESSAGES, max_tokens=8, temperature=0
            )
        )
    with pytest.raises(ModelError, match="modelStreamErrorException"):
        list(
            BedrockChatModel(BedrockSettings(model_id="broken")).stream(
                MESSAGES, max_tokens=20, temperature=0
            )
        )


def test_unreachable_endpoint_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
    model = BedrockChatModel(BedrockSettings(model_id="m", request_timeout_s=2))
    with pytest.raises(ModelUnavailableError, match="cannot reach"):
        list(model.stream(MESSAGES, max_tokens=8, temperature=0))


def test_sagemaker_payloads(aws: tuple[str, Recorder]) -> None:
    _, recorder = aws
    recorder.requests.clear()
    tgi = SageMakerChatModel(SageMakerSettings(endpoint_name="tgi-endpoint"))
    text = "".join(p for p in tgi.stream(MESSAGES, max_tokens=40, temperature=0.0) if isinstance(p, str))
    assert text.startswith("According to the passages [1],")  # reassembled from lines split across parts
    req = recorder.requests[-1]
    assert req["path"] == ["endpoints", "tgi-endpoint", "invocations-response-stream"]
    body = json.loads(req["body"])
    assert body["stream"] is True and body["parameters"]["max_new_tokens"] == 40
    assert (
        body["inputs"].endswith("Assistant:") and "Instructions: Answer from the passages" in body["inputs"]
    )
    t5 = SageMakerChatModel(SageMakerSettings(endpoint_name="flan-t5-xxl", payload="jumpstart-t5"))
    pieces = list(t5.stream(MESSAGES, max_tokens=12, temperature=0.0))
    assert len(pieces) == 2  # one chunk, then the usage
    body = json.loads(recorder.requests[-1]["body"])
    assert body["max_length"] == 12 and "text_inputs" in body and "do_sample" not in body
    with pytest.raises(ModelError, match="CUDA out of memory"):
        list(
            SageMakerChatModel(SageMakerSettings(endpoint_name="broken")).stream(
                MESSAGES, max_tokens=30, temperature=0
            )
        )
    with pytest.raises(ModelUnavailableError):
        list(
            SageMakerChatModel(SageMakerSettings(endpoint_name="throttled")).stream(
                MESSAGES, max_tokens=8, temperature=0
            )
        )


@pytest.mark.parametrize("llm", [
    BedrockSettings(model_id="anthropic.claude-3-haiku-20240307-v1:0"),
    SageMakerSettings(endpoint_name="tgi-endpoint"),
    SageMakerSettings(endpoint_name="flan-t5-xxl", payload="jumpstart-t5"),
], ids=["bedrock", "sagemaker-tgi", "sagemaker-t5"])  # fmt: skip
def test_the_whole_chain_on_aws_models(container: Container, llm: object) -> None:
    ingest_texts(
        container, {"lambda.md": "# Lambda quotas\n\nA Lambda function can run for up to 900 seconds.\n"}
    )
    container.settings.llm = llm  # type: ignore[assignment]
    container.settings.chat.min_coverage = 0
    final = container.chat.ask(ChatRequest(user_id="u", message="How long can a Lambda function run?"))
    assert not final.abstained
    assert final.answer and final.citations and final.citations[0].n == 1
