"""The answer chain's pure parts: citations, context packing, follow-up detection, profiles."""

from __future__ import annotations

import pytest

from awsomechat.chat.citations import resolve_citations
from awsomechat.chat.context import PackedPassage, citation_for, number_parts, pack_passages, render_passages
from awsomechat.chat.prompts import BUILTIN_PROFILES, PromptProfile, get_profile
from awsomechat.chat.rewrite import needs_context
from awsomechat.chat.types import Citation
from awsomechat.errors import AwsomeChatError
from awsomechat.types import Scores, SearchHit


def _cite(n: int) -> Citation:
    return Citation(n=n, chunk_id=str(100 + n), document_id=str(n), title=f"T{n}", uri=f"file:///d{n}.md")


def _hit(cid: int, doc: int, pos: int, text: str, title: str = "Doc") -> SearchHit:
    return SearchHit(
        chunk_id=str(cid), document_id=str(doc), title=title, uri=f"file:///{doc}.md", source="s",
        attributes={},
        text=f"{title} > Part\n\n{text}", heading_path=(title, "Part"), page=None, position=pos,
        excerpt=text[:50], highlights=(), scores=Scores(fused=1.0 / cid),
    )  # fmt: skip


def test_citations_map_and_drop_markers_that_point_at_nothing() -> None:
    sources = [_cite(1), _cite(2), _cite(3)]
    text, cited = resolve_citations(
        "Lambda scales [2]. It is cheap [1, 2] and fast [7]. Also [3][9].", sources
    )
    assert text == "Lambda scales [2]. It is cheap [1][2] and fast. Also [3]."
    assert [c.n for c in cited] == [2, 1, 3]


def test_citation_ranges_expand() -> None:
    text, cited = resolve_citations("See [1-3].", [_cite(1), _cite(2), _cite(3)])
    assert text == "See [1][2][3]." and len(cited) == 3


def test_packing_dedupes_respects_budget_and_groups_by_document() -> None:
    words = lambda t: len(t.split())  # noqa: E731 - a simple token counter
    hits = [
        _hit(1, doc=10, pos=5, text="alpha " * 30),
        _hit(2, doc=20, pos=0, text="beta " * 30),
        _hit(3, doc=10, pos=1, text="gamma " * 30),
        _hit(4, doc=30, pos=0, text="alpha " * 30),  # same text as hit 1: dropped
        _hit(5, doc=40, pos=0, text="delta " * 400),  # too long: trimmed to its share
    ]
    packed = pack_passages(hits, count_tokens=words, budget_tokens=150, max_passages=4)
    ids = [p.citation.chunk_id for p in packed]
    assert "4" not in ids
    assert ids[:2] == ["3", "1"]  # document 10 first (best rank), in reading order
    assert [p.citation.n for p in packed] == list(range(1, len(packed) + 1))
    assert sum(words(p.text) for p in packed) <= 150
    rendered = render_passages(packed)
    assert rendered.startswith("[1] Doc › Part\n")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How do I turn it on?", True),
        ("And for MySQL?", True),
        ("What about the limits?", True),
        ("Pricing?", True),
        ("What is the maximum unzipped deployment package size in AWS Lambda?", False),
        ("How do I add documents to an Amazon Kendra index?", False),
    ],
)
def test_follow_up_detection(question: str, expected: bool) -> None:
    assert needs_context(question) is expected


def test_profiles_builtin_and_custom() -> None:
    assert set(BUILTIN_PROFILES) >= {"chat", "email_reply"}
    custom = PromptProfile("pirate", "Arr", "Talk like a pirate.", "{passages}\nQ: {question}", "Nay.")
    assert get_profile("pirate", {"pirate": custom}).user_message("P", "Q?") == "P\nQ: Q?"
    with pytest.raises(AwsomeChatError) as err:
        get_profile("nope", {})
    assert "email_reply" in str(err.value.hint)


def test_uncited_sentences_get_the_passage_that_clearly_supports_them() -> None:
    from awsomechat.chat.citations import attribute_uncited
    from awsomechat.text.analyzer import Analyzer

    an = Analyzer()
    passages = [
        (_cite(1), "You can create up to 100 saved filters per AWS account per Region."),
        (_cite(2), "The Lambda deployment package is limited to 250 MB unzipped."),
    ]
    answer = (
        "You can save 100 filters per account per Region. Lambda packages are 250 MB unzipped [2]. Cheers!"
    )
    out = attribute_uncited(answer, passages, lambda s: set(an.terms(s)))
    assert out.startswith("You can save 100 filters per account per Region [1]. ")
    assert out.endswith("Lambda packages are 250 MB unzipped [2]. Cheers!")


def test_remote_token_estimate_never_undercounts_non_ascii() -> None:
    from awsomechat.chat.models.token_estimate import estimate_tokens

    assert estimate_tokens("Lambda functions run for up to 900 seconds.") == 11
    assert estimate_tokens("😀" * 100) >= 200  # common BPE vocabularies: 1-3 tokens per emoji
    assert estimate_tokens("日本語のテキスト") >= 8
    assert estimate_tokens("") == 1


def test_passages_of_several_model_calls_share_one_numbering() -> None:
    a, b, c = _hit(1, 1, 0, "Layers."), _hit(2, 2, 0, "Quotas."), _hit(3, 3, 0, "Timeouts.")
    first = [PackedPassage(citation_for(1, a), "A function can use up to 5 layers."),
             PackedPassage(citation_for(2, b), "250 MB unzipped.")]  # fmt: skip
    second = [PackedPassage(citation_for(1, b), "900 seconds."),
              PackedPassage(citation_for(2, c), "Timeouts.")]  # fmt: skip
    merged, calls = number_parts([first, second])
    assert [(p.citation.chunk_id, p.citation.n) for p in merged] == [("1", 1), ("2", 2), ("3", 3)]
    assert [p.citation.n for p in calls[0]] == [1, 2]
    assert [p.citation.n for p in calls[1]] == [2, 3]  # the quota passage keeps its number
    assert "[2] Doc" in render_passages(calls[1]) and "[1]" not in render_passages(calls[1])
    # the verifier checks against what either call was shown of a passage
    assert merged[1].text == "250 MB unzipped. … 900 seconds."
    assert number_parts([]) == ([], [])
