"""Chat-template control markers in text sent to a remote model server, defused.

A remote server (vLLM, TGI, Ollama, a SageMaker or Bedrock endpoint) renders its chat template and
tokenizes the result itself, usually with special tokens parsed, so a passage holding
``<|im_end|>\\n<|im_start|>system`` would open a real system turn there. We cannot tokenize for it;
instead every marker of the common template families is broken with a word joiner (U+2060) after
its first character: the text still reads the same to the model, but no longer matches the
special token's string. Local GGUF models need none of this (see :mod:`gguf_prompt`).
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"

# ChatML / Qwen / Llama 3 / Phi / DeepSeek style <|...|> (also with the full-width bar some use),
# Gemma's turn markers, Llama 2 / Mistral's [INST] and <<SYS>>, and the usual BOS/EOS strings.
_MARKERS = re.compile(
    r"<[|｜][^<>\s]{1,64}?[|｜]>"
    r"|</?(?:start_of_turn|end_of_turn|start_of_image|end_of_image|bos|eos|pad|unk|s|mask)>"
    r"|\[/?(?:INST|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]"
    r"|<</?SYS>>",
    re.IGNORECASE,
)


def defuse_control_tokens(text: str) -> str:
    """``text`` with every chat-template control marker broken by a word joiner."""
    return _MARKERS.sub(lambda m: m.group(0)[0] + WORD_JOINER + m.group(0)[1:], text)
