"""What the chat models served elsewhere (an OpenAI-compatible server, Bedrock, SageMaker) share:
the context window is configured, and token counts are estimates (their tokenizer is remote)."""

from __future__ import annotations

from awsomechat.chat.models.token_estimate import estimate_tokens
from awsomechat.settings import ChatModelSettings


class RemoteChatModel:
    """Base of the remote ``ChatModel`` backends; subclasses set ``_settings`` and add ``name``."""

    _settings: ChatModelSettings

    @property
    def context_window(self) -> int:
        return self._settings.n_ctx

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)
