"""The hand-labelled answer sentences (eval/data/claims_labelled.jsonl) are well formed, split by
question, and scored by ``eval claims`` as the verifier decides them."""

from __future__ import annotations

import re

from awsomechat.eval.claims import load_claims, run_verifier, score
from awsomechat.text.analyzer import Analyzer


def _question_number(claim_id: str) -> int:
    m = re.match(r"[a-z]+-(\d+)", claim_id)
    assert m, claim_id
    return int(m.group(1))


def test_the_labelled_set_is_well_formed_and_split_by_question() -> None:
    claims = load_claims()
    assert len(claims) >= 113
    assert len({c.id for c in claims}) == len(claims)
    assert {c.half for c in claims} == {"dev", "test"}
    halves: dict[str, set[str]] = {}
    for c in claims:
        assert c.sentence.strip() and c.reason and (c.passages or not c.supported), c.id
        halves.setdefault(c.question, set()).add(c.half)
    # one question's sentences all fall in one half (no tuning on a question that is reported)
    assert all(len(h) == 1 for h in halves.values()), [q for q, h in halves.items() if len(h) > 1]
    # even question numbers are dev, odd are test
    assert all(c.half == ("dev" if _question_number(c.id) % 2 == 0 else "test") for c in claims)
    assert sum(not c.supported for c in claims) >= 30


def test_eval_claims_scores_the_verifier_on_a_half() -> None:
    analyzer = Analyzer()
    claims = [c for c in load_claims() if c.half == "dev"]
    verdicts, seconds = run_verifier(claims, lambda t: set(analyzer.terms(t)), min_coverage=0.6)
    figures = score(claims, verdicts, seconds)
    assert figures["n"] == len(claims) and figures["unsupported"] == sum(not c.supported for c in claims)
    # the verifier keeps most supported sentences and finds some unsupported ones
    assert figures["kept_supported"] > 0.8 and figures["recall_unsupported"] > 0.4
