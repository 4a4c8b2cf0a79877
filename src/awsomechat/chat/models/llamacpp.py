"""A GGUF model run with llama-cpp-python: in the model runner process, or in-process for the CLI.

Loaded once per process. Generation is serialised with a lock (one llama context cannot serve two
requests at once); llama-cpp-python keeps the KV cache of the previous prompt and re-evaluates
only what changed after the common prefix, so a fixed system prompt is computed once.

Prompts are token ids built from the model's own chat template with the texts tokenized without
special-token parsing (:mod:`gguf_prompt`): a passage cannot open a fake role turn.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from awsomechat.chat.models.cpu_features import use_extra_buffer_types
from awsomechat.chat.models.gguf_prompt import GgufPromptBuilder
from awsomechat.chat.types import Message, Usage
from awsomechat.errors import MissingExtraError, ModelError
from awsomechat.settings import LlamaCppSettings

# llama-cpp-python's ``Llama`` does not expose ``use_extra_bufts``; it takes the model params from
# ``llama_model_default_params()``, which is swapped for one load under this lock.
_PARAMS_LOCK = threading.Lock()


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingExtraError("the llama.cpp backend", "llm") from exc
    return llama_cpp


@contextlib.contextmanager
def _model_params(extra_buffer_types: bool) -> Iterator[None]:
    if extra_buffer_types:
        yield
        return
    import llama_cpp.llama_cpp as low

    with _PARAMS_LOCK:
        original = low.llama_model_default_params

        def without_extra_bufts() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        low.llama_model_default_params = without_extra_bufts
        try:
            yield
        finally:
            low.llama_model_default_params = original


def prompt_builder(model: Any, metadata: dict[str, str]) -> GgufPromptBuilder:
    """The prompt builder of a loaded ``llama_cpp`` model (``LlamaModel`` from ``_internals``)."""
    template = metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError("the GGUF file has no chat template", hint="use an instruction-tuned chat model")
    bos, eos = model.token_bos(), model.token_eos()

    def tokenize(text: str, special: bool) -> list[int]:
        if not text:
            return []
        return list(model.tokenize(text.encode("utf-8"), add_bos=False, special=special))

    return GgufPromptBuilder(
        template=template,
        tokenize=tokenize,
        bos_token=model.token_get_text(bos) if bos != -1 else "",
        eos_token=model.token_get_text(eos) if eos != -1 else "",
        bos_id=bos,
        add_bos=bool(model.add_bos_token()) and bos != -1,
    )


class LlamaCppChatModel:
    """The ``ChatModel`` seam over ``llama_cpp.Llama``."""

    def __init__(self, path: Path, settings: LlamaCppSettings) -> None:
        llama_cpp = _import_llama_cpp()
        self._path = path
        self._lock = threading.Lock()
        self.extra_buffer_types = use_extra_buffer_types(settings.extra_buffer_types)
        try:
            with _model_params(self.extra_buffer_types):
                self._llm: Any = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=settings.n_ctx,
                    n_threads=settings.n_threads or os.cpu_count() or 2,
                    n_batch=settings.n_batch,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"could not load the GGUF model {path}: {exc}", hint="check the file") from exc
        self._prompts = prompt_builder(self._llm._model, self._llm.metadata)

    @property
    def name(self) -> str:
        return self._path.stem

    @property
    def context_window(self) -> int:
        return int(self._llm.n_ctx())

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        return self._prompts.build(messages)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Usage]:
        ids = self.prompt_ids(messages)
        if len(ids) + max_tokens > self.context_window:
            raise ModelError(
                f"the prompt ({len(ids)} tokens) and answer ({max_tokens}) exceed the model's context "
                f"window of {self.context_window} tokens"
            )
        with self._lock:
            try:
                chunks = self._llm.create_completion(
                    prompt=ids,
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
                    text = choice.get("text")
                    if text:
                        completion += 1
                        yield text
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"generation failed: {exc}") from exc
            finally:
                chunks.close()  # a consumer that stops early stops the model here
            yield Usage(prompt_tokens=len(ids), completion_tokens=completion, finish_reason=finish)

    def self_test(self, max_tokens: int = 4) -> dict[str, float]:
        """A short real generation; raises ``ModelError`` if the model cannot produce a token."""
        t0 = time.perf_counter()
        pieces = [
            p
            for p in self.stream(
                [Message("user", "Reply with the word OK.")], max_tokens=max_tokens, temperature=0.0
            )
            if isinstance(p, str)
        ]
        if not pieces:
            raise ModelError("the model produced no token in its self-test")
        return {"tokens": float(len(pieces)), "seconds": round(time.perf_counter() - t0, 3)}


class GgufTokenizer:
    """Only the vocabulary of a GGUF file (a few MB, no weights): token counts in API workers."""

    def __init__(self, path: Path) -> None:
        llama_cpp = _import_llama_cpp()
        from llama_cpp._internals import LlamaModel

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        try:
            self._model: Any = LlamaModel(path_model=str(path), params=params, verbose=False)
        except ValueError as exc:
            raise ModelError(f"could not read the vocabulary of {path}: {exc}") from exc
        self.n_ctx_train = int(self._model.n_ctx_train())

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        self._model.close()
