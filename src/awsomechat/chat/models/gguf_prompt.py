"""Chat prompts as token ids, with the template's control tokens and none from the text.

A chat template renders messages into one string (``<|im_start|>user\\n…<|im_end|>``); tokenizing
that string with special-token parsing on (what llama-cpp-python's chat handlers do) turns any
``<|im_end|>`` *inside a passage, question or e-mail* into a real role marker, so a document could
open a fake system turn. Here the template is rendered with a sentinel in place of each message's
text; the template's own pieces are tokenized with special tokens parsed, the texts without, and
the ids concatenated. No text can produce a control token, whatever the model's template (ChatML,
Llama 3, Gemma, …).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from awsomechat.chat.types import Message
from awsomechat.errors import ModelError

Tokenize = Callable[[str, bool], list[int]]  # (text, parse_special) -> ids, never adding BOS

_SENTINEL = "\ue000awc{}\ue001"  # private-use code points: not in any real message (stripped below)
_SENTINEL_RE = re.compile("\ue000awc(\\d+)\ue001")
_PRIVATE_MARKS = re.compile("[\ue000\ue001]")


@dataclass(frozen=True)
class GgufPromptBuilder:
    """Builds prompt token ids from a GGUF model's own chat template."""

    template: str
    tokenize: Tokenize
    bos_token: str
    eos_token: str
    bos_id: int
    add_bos: bool

    def render(self, messages: Sequence[Message]) -> str:
        """The template rendered with a sentinel standing in for each message's text."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(self.template, eos_token=self.eos_token, bos_token=self.bos_token)
        placeholders: list[Any] = [
            {"role": m.role, "content": _SENTINEL.format(i)} for i, m in enumerate(messages)
        ]
        return formatter(messages=placeholders).prompt

    def build(self, messages: Sequence[Message]) -> list[int]:
        rendered = self.render(messages)
        ids: list[int] = []
        seen: list[int] = []
        pos = 0
        for match in _SENTINEL_RE.finditer(rendered):
            ids += self.tokenize(rendered[pos : match.start()], True)
            index = int(match.group(1))
            seen.append(index)
            ids += self.tokenize(_PRIVATE_MARKS.sub("", messages[index].content), False)
            pos = match.end()
        ids += self.tokenize(rendered[pos:], True)
        if sorted(seen) != list(range(len(messages))):
            # A template that rewrites or drops message texts cannot be split safely: refuse rather
            # than fall back to parsing control tokens in the texts.
            raise ModelError(
                "the model's chat template does not place every message text verbatim",
                hint="use a model whose GGUF chat template inserts message content unchanged",
            )
        if self.add_bos and (not ids or ids[0] != self.bos_id):
            ids.insert(0, self.bos_id)
        return ids
