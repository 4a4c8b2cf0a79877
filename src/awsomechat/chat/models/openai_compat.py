"""Any OpenAI-compatible chat server (vLLM, TGI, llama.cpp server, Ollama, OpenAI), streamed over SSE.

Speaks the wire format directly with httpx: ``POST {base_url}/chat/completions`` with
``stream: true`` and reads ``data: {...}`` lines until ``data: [DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from awsomechat.chat.models.control_tokens import defuse_control_tokens
from awsomechat.chat.models.remote import RemoteChatModel
from awsomechat.chat.types import Message, Usage
from awsomechat.errors import ModelError, ModelUnavailableError
from awsomechat.settings import OpenAISettings


class OpenAIChatModel(RemoteChatModel):
    """The ``ChatModel`` seam over an OpenAI-compatible HTTP API."""

    _settings: OpenAISettings

    def __init__(
        self,
        settings: OpenAISettings,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        server_name: str | None = None,
        defuse: bool = True,
    ) -> None:
        self._settings = settings
        # The server tokenizes our texts itself, usually parsing special tokens: defuse them. Our
        # own model runner tokenizes texts without special tokens, so it needs no defusing.
        self._defuse = defuse_control_tokens if defuse else (lambda text: text)
        self._server = server_name or settings.base_url
        headers = {"Accept": "text/event-stream"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.Client(
            base_url=(base_url or settings.base_url).rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(settings.request_timeout_s, connect=10.0),
            transport=transport,
        )

    @property
    def name(self) -> str:
        return self._settings.remote_model

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Usage]:
        body: dict[str, Any] = {
            "model": self._settings.remote_model,
            "messages": [{"role": m.role, "content": self._defuse(m.content)} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop:
            body["stop"] = list(stop)
        usage = Usage(0, 0)
        completion = 0
        finished = False
        try:
            with self._client.stream("POST", "chat/completions", json=body) as resp:
                if resp.status_code != 200:
                    detail = resp.read().decode("utf-8", "replace")[:300]
                    raise ModelError(
                        f"model server {self._server} answered HTTP {resp.status_code}: {detail}",
                        hint="check AWSOMECHAT_LLM__BASE_URL, __REMOTE_MODEL and __API_KEY",
                    )
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        finished = True
                        break
                    event = json.loads(data)
                    if event.get("error"):
                        err = event["error"]
                        message = err.get("message", err) if isinstance(err, dict) else err
                        raise ModelError(f"model server {self._server} failed mid-answer: {message}")
                    if event.get("usage"):
                        u = event["usage"]
                        usage = Usage(int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0)))
                    for choice in event.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            completion += 1
                            yield text
                        if choice.get("finish_reason"):
                            usage = Usage(
                                usage.prompt_tokens, usage.completion_tokens, choice["finish_reason"]
                            )
        except httpx.ConnectError as exc:  # nothing was sent: the server is not there (yet)
            raise ModelUnavailableError(
                f"model server {self._server} is unreachable: {exc}",
                hint="is the server running? check AWSOMECHAT_LLM__BASE_URL",
            ) from exc
        except httpx.HTTPError as exc:
            raise ModelError(
                f"model server {self._server} failed: {exc}",
                hint="is the server running? check AWSOMECHAT_LLM__BASE_URL",
            ) from exc
        except json.JSONDecodeError as exc:
            raise ModelError(f"model server sent a malformed stream event: {exc}") from exc
        if not finished:  # the connection ended without [DONE]: a crash, not a short answer
            raise ModelError(f"model server {self._server} ended the answer stream before its end")
        # Servers that do not report usage in streams (llama.cpp's) get an estimate of the prompt size.
        prompt = usage.prompt_tokens or sum(self.count_tokens(m.content) for m in messages)
        yield Usage(prompt, usage.completion_tokens or completion, usage.finish_reason)
