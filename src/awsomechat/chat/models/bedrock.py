"""Amazon Bedrock through the Converse API: ``ConverseStream`` for answers, any model that has it.

The system prompt goes in ``system``, the turns in ``messages`` (Bedrock wants them to start with a
user turn and alternate, so neighbours of one role are joined), the limits in ``inferenceConfig``;
the stream's ``metadata`` event gives the token counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from awsomechat.aws import client
from awsomechat.chat.models.aws_errors import model_error
from awsomechat.chat.models.control_tokens import defuse_control_tokens
from awsomechat.chat.models.remote import RemoteChatModel
from awsomechat.chat.types import Message, Usage
from awsomechat.errors import ModelError
from awsomechat.settings import BedrockSettings

STREAM_ERRORS = {
    "modelStreamErrorException", "internalServerException", "throttlingException", "validationException",
    "serviceUnavailableException",
}  # fmt: skip
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def converse_messages(messages: Sequence[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, alternating user/assistant messages) for the Converse API."""
    system = [{"text": defuse_control_tokens(m.content)} for m in messages if m.role == "system"]
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        text = defuse_control_tokens(m.content)
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["content"][0]["text"] += "\n\n" + text
        else:
            turns.append({"role": m.role, "content": [{"text": text}]})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"text": "(conversation start)"}]})
    return system, turns


class BedrockChatModel(RemoteChatModel):
    """The ``ChatModel`` seam over Bedrock's ConverseStream."""

    _settings: BedrockSettings

    def __init__(self, settings: BedrockSettings) -> None:
        self._settings = settings
        self._client = client(
            "bedrock-runtime", what="the Bedrock chat model", timeout_s=settings.request_timeout_s
        )

    @property
    def name(self) -> str:
        return self._settings.model_id

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Usage]:
        system, turns = converse_messages(messages)
        config: dict[str, Any] = {"maxTokens": max_tokens, "temperature": temperature}
        if stop:
            config["stopSequences"] = list(stop)[:4]
        what = f"Bedrock model {self._settings.model_id}"
        usage = Usage(0, 0)
        finish = None
        completion = 0
        try:
            resp = self._client.converse_stream(
                modelId=self._settings.model_id, messages=turns, system=system, inferenceConfig=config
            )
            stream = resp["stream"]
            try:
                for event in stream:
                    if "contentBlockDelta" in event:
                        text = event["contentBlockDelta"].get("delta", {}).get("text")
                        if text:
                            completion += 1
                            yield text
                    elif "messageStop" in event:
                        finish = STOP_REASONS.get(event["messageStop"].get("stopReason", ""), "stop")
                    elif "metadata" in event:
                        u = event["metadata"].get("usage", {})
                        usage = Usage(int(u.get("inputTokens", 0)), int(u.get("outputTokens", 0)))
                    else:
                        for key in STREAM_ERRORS.intersection(event):
                            detail = event[key].get("message")
                            raise ModelError(f"{what} failed mid-answer ({key}): {detail}")
            finally:
                stream.close()
        except ModelError:
            raise
        except Exception as exc:
            raise model_error(exc, what) from exc
        if finish is None:
            raise ModelError(f"{what} ended the answer stream before its end")
        yield Usage(usage.prompt_tokens, usage.completion_tokens or completion, finish)
