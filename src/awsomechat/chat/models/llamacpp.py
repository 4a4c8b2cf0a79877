"""A GGUF model run in-process with llama-cpp-python (the offline default).

Loaded once per process. Generation is serialised with a lock (one llama context cannot serve two
requests at once); llama-cpp-python keeps the KV cache of the previous prompt and re-evaluates
only what changed after the common prefix, so a fixed system prompt is computed once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from awsomechat.chat.types import Message, Usage
from awsomechat.errors import MissingExtraError, ModelError
from awsomechat.settings import LLMSettings


class LlamaCppChatModel:
    """The ``ChatModel`` seam over ``llama_cpp.Llama``."""

    def __init__(self, path: Path, settings: LLMSettings) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingExtraError("the in-process llama.cpp backend", "llm") from exc
        self._path = path
        self._lock = threading.Lock()
        try:
            self._llm: Any = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_threads=settings.n_threads or os.cpu_count() or 2,
                n_batch=settings.n_batch,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"could not load the GGUF model {path}: {exc}", hint="check the file") from exc

    @property
    def name(self) -> str:
        return self._path.stem

    @property
    def context_window(self) -> int:
        return int(self._llm.n_ctx())

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Usage]:
        with self._lock:
            try:
                chunks = self._llm.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=list(stop) or None,
                    stream=True,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"generation failed: {exc}") from exc
            completion = 0
            finish = "stop"
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    text = choice.get("delta", {}).get("content")
                    if text:
                        completion += 1
                        yield text
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"generation failed: {exc}") from exc
            finally:
                chunks.close()  # a consumer that stops early stops the model here
            prompt = len(getattr(self._llm, "_input_ids", ())) - completion
            yield Usage(prompt_tokens=max(prompt, 0), completion_tokens=completion, finish_reason=finish)
