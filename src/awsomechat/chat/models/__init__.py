"""Chat-model backends, chosen by ``llm.kind`` and imported lazily."""

from __future__ import annotations

from awsomechat.seams import ChatModel
from awsomechat.settings import Settings


def build_chat_model(settings: Settings) -> ChatModel:
    """Build (and load) the configured chat model."""
    llm = settings.llm
    if llm.kind == "llamacpp":
        from awsomechat.chat.models.packaged import resolve_gguf

        path = resolve_gguf(llm, settings.data_dir)
        if llm.runner_url:  # generation in the model runner; only the vocabulary loads here
            from awsomechat.chat.models.runner_client import RunnerChatModel

            return RunnerChatModel(llm.runner_url, path, llm, retry_after_s=settings.api.retry_after_s)
        from awsomechat.chat.models.llamacpp import LlamaCppChatModel

        return LlamaCppChatModel(path, llm)
    if llm.kind == "openai":
        from awsomechat.chat.models.openai_compat import OpenAIChatModel

        return OpenAIChatModel(llm)
    raise AssertionError(f"unknown llm kind {llm.kind!r}")  # settings validation prevents this
