"""Follow-up questions: deciding whether one leans on the conversation, and making it stand alone.

Three ways, measured side by side by ``awsomechat eval conversations`` (README):

- ``topic``: the conversation's subject put into the follow-up, no model call (``chat/followup.py``);
- ``model``: the chat model rewrites it, shown worked examples first;
- ``topic+model`` (the default): the subject in place of a pronoun when there is one, else the
  model (continuations such as "And the Enterprise Edition?" need more than a subject).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from awsomechat.chat.followup import (
    carry_topic,
    is_fragment_or_anaphoric,
    leans_on_history,
    with_history_terms,
)
from awsomechat.chat.prompts import REWRITE_SYSTEM
from awsomechat.chat.types import Message, Turn, Usage
from awsomechat.seams import ChatModel

RewriteMethod = Literal["topic", "model", "topic+model"]
REWRITE_MAX_TOKENS = 64

# Worked examples (written for this prompt; none comes from an evaluation set).
_EXAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "User: What is Amazon S3 Glacier?\nAssistant: An archive storage class for rarely used data.",
        "How long does a retrieval take?",
        "How long does an Amazon S3 Glacier retrieval take?",
    ),
    (
        "User: Which runtimes does AWS Lambda support?\nAssistant: Node.js, Python, Java, .NET, Ruby and"
        " custom runtimes.\nUser: What is the maximum timeout of a Lambda function?\nAssistant: 15 minutes.",
        "And the memory?",
        "What is the maximum memory of a Lambda function?",
    ),
    (
        "User: Tell me about the Great Barrier Reef.\nAssistant: The world's largest coral reef system.",
        "Why is it bleaching?",
        "Why is the Great Barrier Reef bleaching?",
    ),
    (
        "User: How do I create a DynamoDB table?\nAssistant: With CreateTable or the console.",
        "How do I turn on versioning for an S3 bucket?",
        "How do I turn on versioning for an S3 bucket?",
    ),
)


def needs_context(question: str, history: Sequence[str] | None = None) -> bool:
    """True when a follow-up probably cannot be searched alone. With ``history`` (the earlier
    standalone questions) a question without a subject of its own counts too."""
    if history is None:
        return is_fragment_or_anaphoric(question)
    return leans_on_history(question, history)


def history_line(turn: Turn) -> str:
    """How one earlier turn appears in the rewrite prompt (answers shortened)."""
    return f"User: {turn.standalone_question}\nAssistant: {_short(turn.answer)}"


def _ask(convo: str, question: str) -> str:
    return f"Conversation:\n{convo}\n\nLast question: {question}\nRewritten question:"


def rewrite_messages(history: Sequence[Turn], question: str) -> list[Message]:
    messages = [Message("system", REWRITE_SYSTEM)]
    for convo, asked, rewritten in _EXAMPLES:
        messages += [Message("user", _ask(convo, asked)), Message("assistant", rewritten)]
    messages.append(Message("user", _ask("\n".join(history_line(t) for t in history), question)))
    return messages


def _short(answer: str, limit: int = 300) -> str:
    answer = re.sub(r"\[\d+\]", "", answer).strip()
    return answer if len(answer) <= limit else answer[:limit].rsplit(" ", 1)[0] + " …"


def rewrite(model: ChatModel, history: Sequence[Turn], question: str) -> tuple[str, int, int]:
    """The model's rewrite: (standalone question, prompt tokens, completion tokens); falls back to
    the question as asked when the output is empty or runaway."""
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


@dataclass(frozen=True)
class Standalone:
    """A follow-up made to stand alone, how, and what the model call (if any) cost."""

    text: str
    method: Literal["asked", "topic", "model"]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    search_text: str = ""  # what retrieval searches: the text plus the previous question's terms


def make_standalone(
    model: ChatModel | None, history: Sequence[Turn], question: str, method: RewriteMethod
) -> Standalone:
    """``question`` made searchable alone by ``method`` (``model`` None: no model strategy)."""
    earlier = [t.standalone_question for t in history]
    if method in ("topic", "topic+model"):
        filled = carry_topic(question, earlier, append=method == "topic")
        if filled is not None:
            return Standalone(filled, "topic", search_text=with_history_terms(filled, earlier))
        if method == "topic" or model is None:
            return Standalone(question, "asked", search_text=with_history_terms(question, earlier))
    if model is None:
        return Standalone(question, "asked", search_text=with_history_terms(question, earlier))
    text, p, c = rewrite(model, history, question)
    return Standalone(text, "model", p, c, search_text=with_history_terms(text, earlier))
