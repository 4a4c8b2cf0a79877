"""A SageMaker real-time endpoint as the chat model, in one of two payload formats.

- ``tgi``: Hugging Face TGI / LMI containers. ``{"inputs", "parameters", "stream": true}`` through
  ``InvokeEndpointWithResponseStream``; the event stream's ``PayloadPart`` bytes carry server-sent
  ``data:{"token":{"text": ...}}`` lines, which may be split across parts.
- ``jumpstart-t5``: the lab's FLAN-T5-XXL JumpStart endpoint. ``{"text_inputs", "max_length", ...}``
  through ``InvokeEndpoint``, answered as ``{"generated_texts": [...]}`` in one piece.

Both take one prompt string: the conversation is rendered as labelled turns (the endpoint's own
chat template is not known here), with chat-template control markers defused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from awsomechat.aws import client
from awsomechat.chat.models.aws_errors import model_error
from awsomechat.chat.models.control_tokens import defuse_control_tokens
from awsomechat.chat.models.remote import RemoteChatModel
from awsomechat.chat.types import Message, Usage
from awsomechat.errors import ModelError
from awsomechat.settings import SageMakerSettings

LABELS = {"system": "Instructions", "user": "User", "assistant": "Assistant"}


def render_prompt(messages: Sequence[Message]) -> str:
    turns = [f"{LABELS[m.role]}: {defuse_control_tokens(m.content)}" for m in messages]
    return "\n\n".join(turns) + "\n\nAssistant:"


class SageMakerChatModel(RemoteChatModel):
    """The ``ChatModel`` seam over a SageMaker endpoint (``tgi`` or ``jumpstart-t5`` payloads)."""

    _settings: SageMakerSettings

    def __init__(self, settings: SageMakerSettings) -> None:
        self._settings = settings
        self._client = client(
            "sagemaker-runtime", what="the SageMaker chat model", timeout_s=settings.request_timeout_s
        )
        self._what = f"SageMaker endpoint {settings.endpoint_name}"

    @property
    def name(self) -> str:
        return self._settings.endpoint_name

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Usage]:
        prompt = render_prompt(messages)
        try:
            if self._settings.payload == "jumpstart-t5":
                yield from self._t5(prompt, max_tokens, temperature)
            else:
                yield from self._tgi(prompt, max_tokens, temperature, stop)
        except ModelError:
            raise
        except Exception as exc:
            raise model_error(exc, self._what) from exc

    def _t5(self, prompt: str, max_tokens: int, temperature: float) -> Iterator[str | Usage]:
        body: dict[str, Any] = {"text_inputs": prompt, "max_length": max_tokens}
        if temperature > 0:
            body.update(do_sample=True, temperature=temperature)
        resp = self._client.invoke_endpoint(
            EndpointName=self._settings.endpoint_name, ContentType="application/json",
            Accept="application/json", Body=json.dumps(body).encode("utf-8"),
        )  # fmt: skip
        try:
            data = json.loads(resp["Body"].read())
            text = data["generated_texts"][0] if "generated_texts" in data else data["generated_text"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"{self._what} answered an unexpected payload: {exc}") from exc
        if text:
            yield str(text)
        # max_length bounds the answer in the endpoint's tokens; our estimate must not exceed it
        yield Usage(self.count_tokens(prompt), min(self.count_tokens(str(text)), max_tokens), "stop")

    def _tgi(
        self, prompt: str, max_tokens: int, temperature: float, stop: Sequence[str]
    ) -> Iterator[str | Usage]:
        params: dict[str, Any] = {"max_new_tokens": max_tokens, "return_full_text": False, "details": True}
        if temperature > 0:
            params.update(do_sample=True, temperature=temperature)
        if stop:
            params["stop"] = list(stop)
        resp = self._client.invoke_endpoint_with_response_stream(
            EndpointName=self._settings.endpoint_name, ContentType="application/json",
            Accept="text/event-stream",
            Body=json.dumps({"inputs": prompt, "parameters": params, "stream": True}).encode("utf-8"),
        )  # fmt: skip
        completion, finish = 0, None
        prompt_tokens = self.count_tokens(prompt)
        stream = resp["Body"]
        try:
            for line in self._stream_lines(stream):
                token, done = self._tgi_line(line)
                if token:
                    completion += 1
                    yield token
                if done is not None:
                    finish = done
        finally:
            stream.close()
        if finish is None:
            raise ModelError(f"{self._what} ended the answer stream before its end")
        yield Usage(prompt_tokens, completion, finish)

    def _stream_lines(self, stream: Any) -> Iterator[bytes]:
        """The lines of the event stream's ``PayloadPart`` bytes (a line may span parts)."""
        buffer = b""
        for event in stream:
            if "ModelStreamError" in event or "InternalStreamFailure" in event:
                err = event.get("ModelStreamError") or event.get("InternalStreamFailure") or {}
                raise ModelError(f"{self._what} failed mid-answer: {err.get('Message', err)}")
            buffer += event.get("PayloadPart", {}).get("Bytes", b"")
            *lines, buffer = buffer.split(b"\n")
            yield from lines
        if buffer.strip():
            yield buffer

    def _tgi_line(self, line: bytes) -> tuple[str, str | None]:
        """(token text, the finish reason on the stream's last event) of one stream line."""
        line = line.strip()
        if not line.startswith(b"data:"):
            return "", None
        try:
            event = json.loads(line[5:])
        except ValueError as exc:
            raise ModelError(f"{self._what} sent a malformed stream event: {exc}") from exc
        if event.get("error"):
            raise ModelError(f"{self._what} failed mid-answer: {event['error']}")
        token = event.get("token") or {}
        text = "" if token.get("special") else str(token.get("text") or "")
        if event.get("generated_text") is not None or event.get("details"):  # the last event
            reason = (event.get("details") or {}).get("finish_reason", "eos_token")
            return text, "length" if reason == "length" else "stop"
        return text, None
