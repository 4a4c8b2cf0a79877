"""Fitting a turn into the model's context window, counted in the model's own tokens.

A message within the character limit can still be far over the context window (an emoji or a CJK
character is one character but several tokens), so the question, the history given to the
rewrite and the passages are all measured with ``ChatModel.count_tokens``: history is trimmed
first, then passages; a question that cannot fit even alone is refused before anything streams.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from awsomechat.chat.types import Turn
from awsomechat.seams import ChatModel

# The chat template's role markers around a system and a user message, and the small differences
# between counting pieces of a prompt and counting it whole.
PROMPT_OVERHEAD_TOKENS = 32
# A question must leave at least this much room for passages: an answer needs one to cite.
MIN_PASSAGE_TOKENS = 64


def tokens_upper_bound(text: str) -> int:
    """Tokens ``text`` can take at most, without a tokenizer: byte-level BPE and SentencePiece with
    byte fallback never make more tokens than UTF-8 bytes, plus one for a leading-space marker."""
    return len(text.encode("utf-8", "surrogatepass")) + 1


def room_left(model: ChatModel, *, system: str, user: str, answer_tokens: int) -> int:
    """Tokens of the context window left once ``system``, ``user`` and the answer are placed."""
    used = model.count_tokens(system) + model.count_tokens(user) + answer_tokens + PROMPT_OVERHEAD_TOKENS
    return model.context_window - used


def fit_history(
    history: Sequence[Turn], line: Callable[[Turn], str], count: Callable[[str], int], limit: int
) -> list[Turn]:
    """The newest turns whose lines (``line(turn)`` and a newline) fit ``limit`` tokens, in order."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history):
        used += count(line(turn)) + 1
        if used > limit:
            break
        kept.append(turn)
    return list(reversed(kept))
