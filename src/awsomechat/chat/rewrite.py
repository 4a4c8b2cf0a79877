"""Follow-up questions: deciding whether one leans on the conversation, and rewriting it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from awsomechat.chat.prompts import REWRITE_SYSTEM
from awsomechat.chat.types import Message, Turn, Usage
from awsomechat.seams import ChatModel

_ANAPHORA = re.compile(
    r"\b(it|its|it's|itself|this|that|these|those|they|them|their|theirs|there|he|she|him|her|"
    r"one|ones|same|former|latter|above|previous|such)\b",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about|why|why not|and if|or|else|more|tell me more|"
    r"how come|any other|what else|which one|what if)\b",
    re.IGNORECASE,
)


def needs_context(question: str) -> bool:
    """True when a question probably cannot be understood alone (pronoun, continuation, fragment)."""
    words = re.findall(r"\w+", question)
    return bool(_ANAPHORA.search(question) or _CONTINUATION.search(question) or len(words) <= 3)


REWRITE_MAX_TOKENS = 64


def history_line(turn: Turn) -> str:
    """How one earlier turn appears in the rewrite prompt (answers shortened)."""
    return f"User: {turn.standalone_question}\nAssistant: {_short(turn.answer)}"


def rewrite_messages(history: Sequence[Turn], question: str) -> list[Message]:
    convo = "\n".join(history_line(t) for t in history)
    return [
        Message("system", REWRITE_SYSTEM),
        Message("user", f"Conversation:\n{convo}\n\nLast question: {question}\nRewritten question:"),
    ]


def _short(answer: str, limit: int = 300) -> str:
    answer = re.sub(r"\[\d+\]", "", answer).strip()
    return answer if len(answer) <= limit else answer[:limit].rsplit(" ", 1)[0] + " …"


def rewrite(model: ChatModel, history: Sequence[Turn], question: str) -> tuple[str, int, int]:
    """(standalone question, prompt tokens, completion tokens); falls back to the question as asked."""
    out: list[str] = []
    usage = Usage(0, 0)
    messages = rewrite_messages(history, question)
    for item in model.stream(messages, max_tokens=REWRITE_MAX_TOKENS, temperature=0.0):
        if isinstance(item, Usage):
            usage = item
        else:
            out.append(item)
    text = " ".join("".join(out).strip().splitlines()[:1]).strip().strip('"').strip()
    text = re.sub(r"^(rewritten question|question)\s*:\s*", "", text, flags=re.IGNORECASE)
    if len(text) < 3 or len(text) > 4 * len(question) + 200:
        text = question
    return text, usage.prompt_tokens, usage.completion_tokens
