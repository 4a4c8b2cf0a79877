"""Conversations a client carries itself (OpenAI ``messages``): the history a session would hold.

A native session stores each turn with its *standalone* question ("How much does Amazon Kendra
cost?" for "How much does it cost?"), and the next follow-up is rewritten against those. A
stateless client sends only what was typed, so a third turn would see "How much does it cost?"
as the previous question: no subject to carry, and the previous question's terms added to the
search are the wrong ones. :func:`standalone_history` replays the follow-up step over the earlier
questions, with the same settings (``chat.rewrite``, ``chat.rewrite_method``,
``chat.history_turns``) and the same rules (``chat/rewrite.py``, ``chat/followup.py``) as
``ChatService._standalone``, so the last message is rewritten exactly as in a session.

One difference is left: where a session had the *model* rewrite an earlier follow-up
(``rewrite_method`` ``model``, or ``topic+model`` when no subject could be carried), the replay
keeps that question as typed rather than make a model call per earlier turn on every request.
With the default ``topic`` no model is involved and the replay is exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from awsomechat.chat.prompts import PromptProfile
from awsomechat.chat.rewrite import make_standalone, needs_context
from awsomechat.chat.types import Turn
from awsomechat.settings import ChatSettings

# What the OpenAI-compatible route appends to an answer's text for clients that show only the
# content; it is taken off again when the client sends the answer back as history.
SOURCES_HEADINGS = ("\n\nSources:\n", "\n\nClosest sources:\n")


def answer_text(content: str) -> str:
    """An assistant message as the service stored it: without the sources list the API appended."""
    cut = max(content.rfind(h) for h in SOURCES_HEADINGS)
    return content[:cut] if cut >= 0 else content


def standalone_of(
    question: str, history: Sequence[Turn], *, chat: ChatSettings, profile: PromptProfile
) -> str:
    """The standalone question a session stores for ``question`` after ``history`` (no model call)."""
    mode, method = chat.rewrite, chat.rewrite_method
    earlier = [t.standalone_question for t in history]
    wanted = bool(history) and mode != "never" and (mode == "always" or needs_context(question, earlier))
    if wanted and profile.input_kind != "email" and method != "model":
        quick = make_standalone(None, history, question, method)
        if quick.method == "topic":
            return quick.text
    return profile.search_text(question)


def standalone_history(
    pairs: Sequence[tuple[str, str]], *, chat: ChatSettings, profile: PromptProfile
) -> tuple[tuple[str, str], ...]:
    """``(standalone question, answer)`` for each earlier ``(question, answer)``, each question made
    standalone against the turns before it (the last ``chat.history_turns``, as a session loads),
    and only the last ``chat.history_turns`` returned."""
    keep = chat.history_turns
    turns: list[Turn] = []
    now = dt.datetime.now(dt.UTC)
    for i, (question, answer) in enumerate(pairs):
        before = turns[-keep:] if keep else []
        standalone = standalone_of(question, before, chat=chat, profile=profile)
        text = answer_text(answer)
        turns.append(
            Turn(question=question, standalone_question=standalone, answer=text, seq=i + 1, created_at=now)
        )
    kept = turns[-keep:] if keep else []
    return tuple((t.standalone_question, t.answer) for t in kept)
