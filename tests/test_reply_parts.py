"""The e-mail reply's pure parts: the frame, the model-output filter, the request checks."""

from __future__ import annotations

from awsomechat.chat.email import Request, parse_email
from awsomechat.chat.reply import (
    BodyFilter,
    PlannedRequest,
    ReplyPlan,
    handoff_reply,
    head,
    judge_text,
    prompt_text,
    request_question,
    tail,
    unsupported,
)
from awsomechat.types import RelevanceVerdict, Scores, SearchHit


def _hit(chunk_id: str, text: str) -> SearchHit:
    return SearchHit(
        chunk_id=chunk_id, document_id="doc-" + chunk_id, title="T", uri="file:///t.md", source="s",
        attributes={}, text=text, heading_path=(), page=None, position=0, excerpt=text[:40], highlights=(),
        scores=Scores(fused=1.0, dense=0.8),
    )  # fmt: skip


def _terms(text: str) -> set[str]:
    return {w.strip(".,?!()").lower() for w in text.split()} - {"", "the", "a", "is", "of", "for", "can"}


def _plan(mail: str, answerable: list[bool], hits: list[list[SearchHit]] | None = None) -> ReplyPlan:
    email = parse_email(mail)
    hits = hits or [[] for _ in email.requests]
    return ReplyPlan(
        email,
        tuple(
            PlannedRequest(r, tuple(h), RelevanceVerdict(ok, 0.6, 0.8, "" if ok else "low"))
            for r, ok, h in zip(email.requests, answerable, hits, strict=True)
        ),
    )


def test_model_output_loses_its_own_greeting_and_stops_at_its_sign_off() -> None:
    f = BodyFilter()
    out = "".join(f.feed(t) for t in ["Dear Ma", "ria,\n", "\nA function can use up to", " 5 layers [1].\n"])
    assert out == "A function can use up to 5 layers [1].\n"
    assert not f.done
    assert f.feed("\nBest regards,\nThe support team") == "\n" and f.flush() == ""
    assert f.done  # the chain stops generating here


def test_partly_answerable_mail_gets_the_answer_frame_and_a_named_hand_off() -> None:
    plan = _plan(
        "Hi,\n\nhow many FAQs can a Kendra index have? Also, what does Kendra cost per hour in dollars?\n\n"
        "thanks,\nAmir",
        [True, False],
    )
    assert head(plan).startswith("Hi Amir,\n\n")
    end = tail(plan)
    assert "follow up" in end and "- what does Kendra cost per hour in dollars?" in end
    assert end.rstrip().endswith("The support team")
    prompt = prompt_text(plan)
    assert (
        "1. how many FAQs can a Kendra index have?" in prompt
        and "cost per hour" not in prompt.split("\n\n")[-1]
    )
    assert "Do not answer anything else" in prompt


def test_the_reply_keeps_the_mails_language_and_register() -> None:
    plan = _plan(
        "Hallo,\n\nwie lange darf eine Lambda-Funktion laufen?\n\nViele Grüße\nJürgen",
        [False],
    )
    text = handoff_reply(plan)
    assert text.startswith("Hallo Jürgen,") and "Ihr Support-Team" in text and "Dokumentation" in text
    assert "Write in German." in prompt_text(plan)
    upset = _plan("Hello,\n\nThird time I ask! How do I fix it?\n\nKevin", [True])
    assert "sorry" in head(upset)
    formal = _plan("Dear support,\n\nWhat is the maximum memory?\n\nKind regards,\nInes Duarte", [True])
    assert head(formal).startswith("Dear Ines Duarte,")


def test_requests_the_documents_never_answer() -> None:
    docs = [_hit("1", "Lambda pricing depends on requests and duration. See the pricing page.")]
    assert "price" in unsupported(Request("What is the price per million Lambda requests?", ""), docs, _terms)
    priced = [_hit("2", "It costs $0.20 per 1M requests.")]
    assert unsupported(Request("What is the price per million requests?", ""), priced, _terms) == ""
    assert "account" in unsupported(Request("Can you send me last month's invoice?", ""), docs, _terms)
    layers = [_hit("3", "AWS Lambda layers\n\nA function can use up to 5 layers at a time.")]
    assert "SnapStart" in unsupported(Request("Is Lambda SnapStart available for Java?", ""), layers, _terms)
    assert unsupported(Request("How many layers can a Lambda function use?", ""), layers, _terms) == ""


def test_customer_figures_do_not_count_against_coverage() -> None:
    r = Request("Will that fit", "our package is about 180 MB unzipped and takes 20 minutes. Will that fit")
    assert judge_text(r) == "our package is about unzipped and takes . Will that fit"


def test_answerable_requests_share_the_passages_in_turn() -> None:
    a = [_hit("a1", "x"), _hit("a2", "y"), _hit("shared", "z")]
    b = [_hit("shared", "z"), _hit("b2", "w")]
    c = [_hit("c1", "v")]
    plan = _plan("Hi,\n\nWhat is A? What is B? What is C?\n\nBo", [True, True, False], [a, b, c])
    assert [h.chunk_id for h in plan.hits()] == ["a1", "shared", "a2", "b2"]
    assert plan.verdict().answerable and [r.request.text for r in plan.handed_off] == ["What is C?"]


def test_each_answerable_request_gets_its_own_passages_and_question() -> None:
    hits = [[_hit(f"{q}{i}", f"passage {q}{i}") for i in range(6)] for q in "ab"]
    plan = _plan(
        "Hi,\n\nhow many layers can a Lambda function use? And what is the maximum timeout of a "
        "function?\n\nThanks,\nInes",
        [True, True],
        hits,
    )
    parts = plan.request_hits(5)
    assert [len(h) for _, h in parts] == [3, 3]  # an even share of 5 would cut each to 2
    assert [h[0].chunk_id for _, h in parts] == ["a0", "b0"]
    assert request_question(plan, parts[0][0]) == "how many layers can a Lambda function use?"
    one = _plan("Hi,\n\nhow many layers can a Lambda function use?\n\nInes", [True], hits[:1])
    assert [len(h) for _, h in one.request_hits(5)] == [5]
    handed = _plan(
        "Hi,\n\nhow many layers can a Lambda function use? And what does Kendra cost per hour in "
        "dollars?\n\nAmir",
        [True, False],
        hits,
    )
    only = [r.request.text for r, _ in handed.request_hits(5)]
    assert only == ["how many layers can a Lambda function use?"]
    german = _plan("Hallo,\n\nwie lange darf eine Lambda-Funktion laufen?\n\nJürgen", [True], hits[:1])
    assert request_question(german, german.requests[0]).endswith("\nWrite the answer in German.")
