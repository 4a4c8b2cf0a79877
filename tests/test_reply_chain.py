"""E-mail replies through the whole chain (the path the API, the web UI and `awsomechat reply`
take), with the real small model and the real store: plumbing, not answer quality."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pytest

from awsomechat.chat.events import FinalEvent, TokenEvent
from awsomechat.chat.service import ChatRequest
from awsomechat.chat.types import Message, Usage
from awsomechat.container import Container
from awsomechat.seams import ChatModel
from tests.helpers import ingest_texts
from tests.test_chat_chain import Recording

KB = {
    "lambda-limits.md": "# Lambda quotas\n\nThe maximum unzipped deployment package size for AWS Lambda is "
    "250 MB, including layers. The maximum timeout of a Lambda function is 900 seconds (15 minutes).",
    "lambda-layers.md": "# AWS Lambda layers\n\nA layer is a ZIP archive that contains libraries. A function "
    "can use up to 5 layers at a time. Layers are extracted to the /opt directory.",
}


@pytest.fixture
def kb(container: Container, small_model: ChatModel) -> Iterator[Container]:
    ingest_texts(container, KB)
    container.__dict__["chat_model"] = Recording(small_model)
    container.settings.llm.max_answer_tokens = 48
    yield container


def _reply(c: Container, mail: str) -> tuple[str, FinalEvent]:
    events = list(c.chat.stream(ChatRequest(user_id="cust", message=mail, profile="email_reply")))
    final = events[-1]
    assert isinstance(final, FinalEvent)
    return "".join(e.text for e in events if isinstance(e, TokenEvent)), final


def test_a_partly_answerable_mail_gets_one_model_call_and_a_hand_off_for_the_rest(kb: Container) -> None:
    streamed, final = _reply(
        kb,
        "Hi,\n\nhow many layers can a Lambda function use? And is Lambda SnapStart available for our Java "
        "functions?\n\nThanks,\nInes",
    )
    assert not final.abstained
    assert kb.chat_model.calls == 1  # type: ignore[attr-defined]
    assert final.timings["requests"] == 2 and final.timings["handed_off_requests"] == 1
    assert final.answer.startswith("Hi Ines,\n\n")
    assert (
        "follow up" in final.answer
        and "- is Lambda SnapStart available for our Java functions?" in final.answer
    )
    assert final.answer.rstrip().endswith("The support team")
    assert streamed.startswith("Hi Ines,") and streamed.rstrip().endswith("The support team")
    assert all(c.title in ("Lambda quotas", "AWS Lambda layers") for c in final.citations)
    stored = kb.conversations.turns("cust", final.session_id)  # type: ignore[arg-type]
    assert stored[-1].answer == final.answer


def test_a_mail_the_documents_do_not_cover_is_handed_off_without_a_model_call(kb: Container) -> None:
    _, final = _reply(
        kb, "Hello,\n\nCan you send me a copy of last month's invoice for our audit?\n\nThanks,\nGabriel"
    )
    assert final.abstained and final.model == ""
    assert kb.chat_model.calls == 0  # type: ignore[attr-defined]
    assert final.answer.startswith("Hello Gabriel,") and "follow up" in final.answer


def test_the_hand_off_keeps_the_mails_language(kb: Container) -> None:
    _, final = _reply(
        kb, "Hallo,\n\nkönnen Sie mir bitte die Rechnung vom letzten Monat schicken?\n\nViele Grüße\nJürgen"
    )
    assert final.abstained
    assert final.answer.startswith("Hallo Jürgen,") and "Ihr Support-Team" in final.answer


class Prompts(Recording):
    """Also keeps each call's user message."""

    def __init__(self, inner: ChatModel) -> None:
        super().__init__(inner)
        self.prompts: list[str] = []

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float, stop: Sequence[str] = ()
    ) -> Iterator[str | Usage]:
        self.prompts.append(messages[-1].content)
        return super().stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)


def test_each_question_of_a_mail_gets_its_own_model_call_with_one_numbering(
    container: Container, small_model: ChatModel
) -> None:
    ingest_texts(container, KB)
    model = Prompts(small_model)
    container.__dict__["chat_model"] = model
    container.settings.llm.max_answer_tokens = 24
    _, final = _reply(
        container,
        "Hi,\n\nhow many layers can a Lambda function use? And what is the maximum timeout of a Lambda "
        "function?\n\nThanks,\nInes",
    )
    assert final.timings["requests"] == 2 and final.timings["handed_off_requests"] == 0
    assert model.calls == 2
    asked = [re.findall(r"^Question: (.+)$", p, re.MULTILINE) for p in model.prompts]
    assert asked == [
        ["how many layers can a Lambda function use?"],
        ["what is the maximum timeout of a Lambda function?"],
    ]
    labels = [dict(re.findall(r"^\[(\d+)\] (.+)$", p, re.MULTILINE)) for p in model.prompts]
    assert labels[0] and labels[1]
    assert all(labels[1][n] == labels[0][n] for n in labels[0].keys() & labels[1].keys())
    assert final.answer.startswith("Hi Ines,") and final.answer.rstrip().endswith("The support team")
    assert {c.n for c in final.citations} <= {int(n) for lab in labels for n in lab}
