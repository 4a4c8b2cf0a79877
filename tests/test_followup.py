"""Follow-up questions without a model call: the subject carried over, the skip rule, and what
they measure on TREC CAsT (held-out half) and our multi-turn set."""

from __future__ import annotations

from pathlib import Path

import pytest

from awsomechat.chat.followup import asked_about, carry_topic, entities, leans_on_history, salient_topic
from awsomechat.chat.rewrite import make_standalone
from awsomechat.chat.types import Turn
from awsomechat.eval.conversations import evaluate_conversations
from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]


def test_subject_of_a_conversation() -> None:
    assert entities("How do I add documents to an Amazon Kendra index?") == ["Amazon Kendra"]
    assert asked_about("What is throat cancer?") == "throat cancer"
    assert asked_about("How does the National Popular Vote Interstate Compact work?") == (
        "the National Popular Vote Interstate Compact"
    )
    assert salient_topic(["What is throat cancer?", "Tell me about lung cancer."]) == "lung cancer"
    # The newest subject wins: "How do I change it?" is then about the timeout, not SQS.
    assert salient_topic(["What is Amazon SQS?", "What is the default visibility timeout?"]) == (
        "the default visibility timeout"
    )
    assert salient_topic(["Hello there"]) is None


@pytest.mark.parametrize(
    ("history", "question", "expected"),
    [
        (["What is throat cancer?"], "Is it treatable?", "Is throat cancer treatable?"),
        (["What is Amazon Kendra?"], "How much does it cost?", "How much does Amazon Kendra cost?"),
        (["Tell me about lung cancer."], "What are its symptoms?", "What are lung cancer's symptoms?"),
        (["What is AWS Lambda?"], "What are the quotas?", "What are the quotas AWS Lambda?"),
        (["What is AWS Lambda?"], "Does AWS Lambda support Ruby?", None),  # already names it
        ([], "Is it treatable?", None),
    ],
)
def test_carry_topic(history: list[str], question: str, expected: str | None) -> None:
    assert carry_topic(question, history) == expected


@pytest.mark.parametrize(
    ("question", "leans"),
    [
        ("Is it treatable?", True),  # a pronoun
        ("And the Enterprise Edition?", True),  # a continuation
        ("What are the main themes?", True),  # no subject of its own
        ("What is taurine?", False),  # a definition question
        ("Tell me about lung cancer.", False),
        ("What causes throat cancer?", False),  # names the conversation's subject again
        ("Does the Museum of Art open on Mondays?", False),  # a named entity
    ],
)
def test_skip_rule(question: str, leans: bool) -> None:
    assert leans_on_history(question, ["What is throat cancer?", "Is throat cancer treatable?"]) is leans


def test_topic_needs_no_model() -> None:
    history = [
        Turn(question="What is Amazon Kendra?", standalone_question="What is Amazon Kendra?", answer="")
    ]
    done = make_standalone(None, history, "How much does it cost?", "topic+model")
    assert (done.text, done.method, done.prompt_tokens) == ("How much does Amazon Kendra cost?", "topic", 0)
    # Without a pronoun topic+model needs the model; with none given it keeps the question.
    assert make_standalone(None, history, "And the Enterprise Edition?", "topic+model").method == "asked"


def test_cast_held_out_half_topic_beats_as_asked() -> None:
    """The issue's target: token F1 where people rewrote >= as asked + 0.10, on the half not used
    for development; the skip rule's recall >= 0.85."""
    r = evaluate_conversations(SHARED_DATA / "cast" / "rewrites_dev.jsonl", None, None)
    held = r["halves"]["held_out"]
    assert held["token_f1_where_needed"]["topic"] >= held["token_f1_where_needed"]["asked"] + 0.10, held
    assert held["needs_context_recall"] >= 0.85, held
    assert r["token_f1"]["topic"] > r["token_f1"]["asked"]  # standalone turns are not damaged overall


def test_search_text_adds_the_previous_questions_terms() -> None:
    from awsomechat.chat.followup import with_history_terms

    earlier = ["What limits does the Amazon Kendra Developer Edition have?"]
    assert with_history_terms("And the Enterprise Edition?", earlier) == (
        "And the Enterprise Edition? limits Amazon Kendra Developer"
    )
    assert with_history_terms("Is it free?", []) == "Is it free?"
