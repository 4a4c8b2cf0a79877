"""The chat-model contract on the local backends: llama.cpp in-process and through the model
runner (the AWS backends run it in test_chat_models_aws.py, the OpenAI one in test_openai_backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from awsomechat.chat.models.packaged import small_model_path
from awsomechat.chat.models.runner_client import RunnerChatModel
from awsomechat.runner.supervisor import RunnerSupervisor
from awsomechat.seams import ChatModel
from awsomechat.settings import LlamaCppSettings
from awsomechat.testing.chat_model import ChatModelContract


class TestLlamaCppContract(ChatModelContract):
    @pytest.fixture
    def model(self, small_model: ChatModel) -> ChatModel:
        return small_model


@pytest.fixture(scope="module")
def runner(data_dir: Path) -> Iterator[RunnerSupervisor]:
    llm = LlamaCppSettings(model="small", n_ctx=2048)
    env = {
        "AWSOMECHAT_DATA_DIR": str(data_dir),
        "AWSOMECHAT_LLM__MODEL": "small",
        "AWSOMECHAT_LLM__N_CTX": "2048",
    }
    sup = RunnerSupervisor(data_dir / "run" / "contract-runner.sock", llm, env=env)
    sup.start()
    assert sup.wait_ready(120).ready, sup.state
    yield sup
    sup.stop()


class TestRunnerContract(ChatModelContract):
    @pytest.fixture
    def model(self, runner: RunnerSupervisor) -> ChatModel:
        return RunnerChatModel(runner.url, small_model_path(), LlamaCppSettings(model="small", n_ctx=2048))
