"""The e-mail evaluation and calibration sets: shape, sizes, and every required fact checked
against the sample knowledge base (no models, no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from awsomechat.chat.reply import PHRASES
from awsomechat.eval.replies import DEV_SET, EVAL_SET, fact_present, load_emails, normalise

SAMPLE = Path(__file__).resolve().parents[1] / "src/awsomechat/sample_kb"


def _page(doc: str) -> str:
    text = (SAMPLE / doc).read_text(encoding="utf-8")
    return normalise(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text))


def test_sizes_the_issue_asks_for() -> None:
    items = load_emails(EVAL_SET)
    assert sum(bool(e.facts) for e in items) >= 40
    assert sum(e.kind == "unanswerable" for e in items) >= 10
    assert any(e.kind == "partial" for e in items)


def test_calibration_set_is_disjoint_from_the_reported_one() -> None:
    ev, dev = load_emails(EVAL_SET), load_emails(DEV_SET)
    assert not {e.id for e in ev} & {e.id for e in dev}
    assert not {normalise(e.email) for e in ev} & {normalise(e.email) for e in dev}
    assert not {f.evidence for e in ev for f in e.facts} & {f.evidence for e in dev for f in e.facts}


@pytest.mark.parametrize("path", [EVAL_SET, DEV_SET], ids=["eval", "dev"])
def test_every_fact_is_in_its_page_and_its_pattern_matches_it(path: Path) -> None:
    items = load_emails(path)
    assert len({e.id for e in items}) == len(items)
    for e in items:
        assert (e.kind == "unanswerable") == (not e.facts), e.id
        assert (e.kind == "partial") == bool(e.handoff), e.id
        for f in e.facts:
            assert normalise(f.evidence) in _page(f.doc), (e.id, f.evidence)
            assert fact_present(f, f.evidence), (e.id, f.match, f.evidence)
            assert f.doc in e.doc_ids


def test_a_fact_pattern_is_not_satisfied_by_an_unrelated_reply() -> None:
    e = next(x for x in load_emails(EVAL_SET) if x.id == "em-001")
    hand_off = "Thank you. A member of our team will look into your request and follow up shortly."
    assert not any(fact_present(f, hand_off) for f in e.facts)
    assert all(fact_present(f, "Up to 5 layers [1]; the unzipped limit is 250\\ MB [2].") for f in e.facts)


@pytest.mark.parametrize("path", [EVAL_SET, DEV_SET], ids=["eval", "dev"])
def test_the_systems_own_sentences_state_no_fact(path: Path) -> None:
    """A hand-off ("We could not find this ...") must not satisfy a pattern such as "not"."""
    frames = [
        "\n\n".join([p.hello + " Ana,", p.sorry, p.partial, "- a question", p.handoff, p.sign_off])
        for p in PHRASES.values()
    ]
    for e in load_emails(path):
        for f in e.facts:
            assert not any(fact_present(f, text) for text in frames), (e.id, f.match)
