"""The chat model as the API workers see it when ``serve`` runs a model runner.

Generation goes over the runner's socket in the OpenAI wire format (:class:`OpenAIChatModel`);
token counts come from the GGUF's vocabulary loaded here alone (no weights), so prompt packing is
exact. Before each answer the supervisor's state file says whether the runner is up: a runner
that is down makes :meth:`check_available` raise at once, never a hang.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from awsomechat.chat.models.llamacpp import GgufTokenizer
from awsomechat.chat.models.openai_compat import OpenAIChatModel
from awsomechat.chat.types import Message, Usage
from awsomechat.errors import ModelUnavailableError
from awsomechat.runner.state import RunnerState, state_path, unix_socket_path
from awsomechat.settings import LlamaCppSettings, OpenAISettings


class RunnerChatModel:
    """The ``ChatModel`` seam over a model runner (``awsomechat.runner``)."""

    def __init__(self, url: str, gguf: Path, settings: LlamaCppSettings, *, retry_after_s: int = 5) -> None:
        self.url = url
        self._gguf = gguf
        self._settings = settings
        self._retry_after_s = retry_after_s
        self._tokenizer = GgufTokenizer(gguf)
        self._state_path = state_path(url)
        sock = unix_socket_path(url)
        if sock is not None:
            transport: httpx.BaseTransport | None = httpx.HTTPTransport(uds=str(sock))
            base = "http://model-runner/v1"
        else:
            transport, base = None, url.rstrip("/") + "/v1"
        remote = OpenAISettings(
            base_url=base, api_key=settings.api_key, remote_model=gguf.stem, n_ctx=settings.n_ctx,
            temperature=settings.temperature, max_answer_tokens=settings.max_answer_tokens,
            request_timeout_s=settings.request_timeout_s,
        )  # fmt: skip
        self._remote = OpenAIChatModel(
            remote,
            base_url=base,
            transport=transport,
            server_name=f"the model runner ({url})",
            defuse=False,
        )
        self._health = httpx.Client(base_url=base.removesuffix("/v1"), transport=transport, timeout=2.0)
        self._probe: tuple[float, dict[str, Any]] | None = None

    @property
    def name(self) -> str:
        return self._gguf.stem

    @property
    def context_window(self) -> int:
        return self._settings.n_ctx

    def count_tokens(self, text: str) -> int:
        return self._tokenizer.count_tokens(text)

    def status(self) -> dict[str, Any]:
        """The runner's state for ``/readyz``: from the supervisor, or a probe of an external runner."""
        return supervised_status(self.url) or self._probe_external()

    def _probe_external(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._probe is not None and now - self._probe[0] < 1.0:
            return self._probe[1]
        try:
            resp = self._health.get("/health")
            info = resp.json() if resp.status_code == 200 else {}
            out = {"state": "ready" if info else "down", "ready": bool(info), "pid": info.get("pid"),
                   "last_error": None if info else f"HTTP {resp.status_code}"}  # fmt: skip
        except (httpx.HTTPError, ValueError) as exc:
            out = {"state": "down", "ready": False, "pid": None, "last_error": f"unreachable: {exc}"}
        self._probe = (now, out)
        return out

    def check_available(self) -> None:
        """Raise :class:`ModelUnavailableError` (→ 503 + Retry-After) unless the runner is ready."""
        raise_unless_ready(self.status(), self._retry_after_s)
        sock = unix_socket_path(self.url)
        if sock is not None:  # the runner may have died a moment ago, before its supervisor noticed
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(1.0)
                    probe.connect(str(sock))
            except OSError as exc:
                raise ModelUnavailableError(
                    f"the model runner does not answer ({exc.strerror or exc}); try again shortly",
                    retry_after_s=self._retry_after_s,
                ) from None

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Usage]:
        return self._remote.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)


def supervised_status(url: str) -> dict[str, Any] | None:
    """The state the supervisor of the runner at ``url`` published (None: not supervised here)."""
    path = state_path(url)
    if path is None or not path.exists():
        return None
    state = RunnerState.read(path)
    if state is None:
        return {"state": "unknown", "ready": False, "last_error": f"unreadable state file {path}"}
    out = state.to_json()
    info = out.pop("info", {})
    out["ready"] = state.ready
    if state.ready:
        out.update({k: info[k] for k in ("model", "selftest") if k in info})
    return out


def raise_unless_ready(status: dict[str, Any], retry_after_s: int) -> None:
    """:class:`ModelUnavailableError` for a runner status that is not ready, saying why."""
    if status.get("ready"):
        return
    state = status.get("state", "unknown")
    retry = retry_after_s
    if status.get("retry_at"):
        retry = max(1, round(float(status["retry_at"]) - time.time()))
    why = f" (last error: {status['last_error']})" if status.get("last_error") else ""
    if state == "failed":
        raise ModelUnavailableError(
            f"the model runner is down after repeated crashes{why}",
            hint="see /readyz and the server log; restart the service", retry_after_s=retry,
        )  # fmt: skip
    raise ModelUnavailableError(f"the model is {state}{why}; try again shortly", retry_after_s=retry)
