"""Chat-model backends: one builder per ``llm.kind``, imported lazily (a registry, not if-chains)."""

from __future__ import annotations

from collections.abc import Callable

from awsomechat.seams import ChatModel
from awsomechat.settings import (
    BedrockSettings,
    LlamaCppSettings,
    OpenAISettings,
    SageMakerSettings,
    Settings,
)


def _llamacpp(settings: Settings) -> ChatModel:
    from awsomechat.chat.models.packaged import resolve_gguf

    llm = settings.llm
    assert isinstance(llm, LlamaCppSettings)
    path = resolve_gguf(llm, settings.data_dir)
    if llm.runner_url:  # generation in the model runner; only the vocabulary loads here
        from awsomechat.chat.models.runner_client import RunnerChatModel

        return RunnerChatModel(llm.runner_url, path, llm, retry_after_s=settings.api.retry_after_s)
    from awsomechat.chat.models.llamacpp import LlamaCppChatModel

    return LlamaCppChatModel(path, llm)


def _openai(settings: Settings) -> ChatModel:
    from awsomechat.chat.models.openai_compat import OpenAIChatModel

    assert isinstance(settings.llm, OpenAISettings)
    return OpenAIChatModel(settings.llm)


def _bedrock(settings: Settings) -> ChatModel:
    from awsomechat.chat.models.bedrock import BedrockChatModel

    assert isinstance(settings.llm, BedrockSettings)
    return BedrockChatModel(settings.llm)


def _sagemaker(settings: Settings) -> ChatModel:
    from awsomechat.chat.models.sagemaker import SageMakerChatModel

    assert isinstance(settings.llm, SageMakerSettings)
    return SageMakerChatModel(settings.llm)


CHAT_MODELS: dict[str, Callable[[Settings], ChatModel]] = {
    "llamacpp": _llamacpp,
    "openai": _openai,
    "bedrock": _bedrock,
    "sagemaker": _sagemaker,
}


def build_chat_model(settings: Settings) -> ChatModel:
    """Build (and load) the configured chat model."""
    return CHAT_MODELS[settings.llm.kind](settings)
