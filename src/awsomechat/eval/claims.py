"""The claim verifier against hand labels: ``awsomechat eval claims``.

``eval/data/claims_labelled.jsonl``: answer sentences the default model wrote for qa_dev questions,
each with the passages it was given (``passages``: number -> text; the sentence's own ``[n]``
markers say which it cites), a ``label`` (``supported`` / ``unsupported``, judged by reading the
passages, before any verifier ran on it), a short ``reason`` and a ``half`` (``dev``: tune on it;
``test``: report on it). A sentence is labelled supported when the passage it cites states it, or,
uncited or citing the wrong passage, when one of the given passages does (the verifier cites it to
that passage then).

Figures: the verifier as a detector of unsupported sentences (precision, recall), the share of
supported sentences it keeps, and seconds per sentence.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awsomechat.chat.verify import AnswerVerifier, LexicalVerifier, ModelJudge
from awsomechat.errors import SourceError

DEFAULT_PATH = Path(__file__).parent / "data" / "claims_labelled.jsonl"


@dataclass(frozen=True)
class LabelledClaim:
    id: str
    question: str
    sentence: str
    passages: dict[int, str]
    supported: bool
    reason: str
    half: str


def load_claims(path: Path = DEFAULT_PATH) -> list[LabelledClaim]:
    out: list[LabelledClaim] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            if r["label"] not in ("supported", "unsupported"):
                raise ValueError(f"label {r['label']!r}")
            out.append(
                LabelledClaim(
                    id=str(r["id"]), question=r["question"], sentence=r["sentence"],
                    passages={int(k): v for k, v in r["passages"].items()},
                    supported=r["label"] == "supported", reason=r.get("reason", ""), half=r["half"],
                )
            )  # fmt: skip
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"{path}:{n}: not a labelled claim ({exc})") from exc
    return out


def score(claims: list[LabelledClaim], verdicts: list[bool], seconds: float) -> dict[str, Any]:
    """``verdicts``: the verifier's "supported" per claim. Positive class = unsupported."""
    tp = sum(not c.supported and not v for c, v in zip(claims, verdicts, strict=True))
    fp = sum(c.supported and not v for c, v in zip(claims, verdicts, strict=True))
    fn = sum(not c.supported and v for c, v in zip(claims, verdicts, strict=True))
    supported = [v for c, v in zip(claims, verdicts, strict=True) if c.supported]
    kept = [c.supported for c, v in zip(claims, verdicts, strict=True) if v]
    return {
        "n": len(claims),
        "unsupported": sum(not c.supported for c in claims),
        "precision_unsupported": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall_unsupported": round(tp / (tp + fn), 3) if tp + fn else None,
        "kept_supported": round(sum(supported) / len(supported), 3) if supported else None,
        "kept_precision": round(sum(kept) / len(kept), 3) if kept else None,  # supported among kept
        "seconds_per_sentence": round(seconds / len(claims), 4) if claims else 0.0,
    }


def run_verifier(
    claims: list[LabelledClaim],
    terms: Callable[[str], set[str]],
    *,
    min_coverage: float,
    judge: ModelJudge | None = None,
) -> tuple[list[bool], float]:
    lexical = LexicalVerifier(terms, min_coverage=min_coverage)
    t0 = time.perf_counter()
    verdicts = []
    for c in claims:
        check = AnswerVerifier(lexical, c.passages, question=c.question, judge=judge).check(c.sentence)
        verdicts.append(check.supported or not check.claim)  # no content: never dropped alone
    return verdicts, time.perf_counter() - t0


_NUMBERED = re.compile(r"(?:^|\n\n)\[(\d{1,3})\] ")


def candidates_from_report(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Unlabelled records (``label`` null) from an ``eval answers`` JSON report: every sentence the
    model wrote with the passage(s) it was checked against, for a person to label. The verdict is
    left out on purpose: labels must not lean on the verifier."""
    out: list[dict[str, Any]] = []
    for r in report["results"]:
        item = r["item"]
        for i, c in enumerate(r.get("verification") or []):
            if not c["claim"] or len(c["sentence"].split()) < 4:
                continue
            evidence = c["evidence"]
            parts = _NUMBERED.split(evidence) if not c["cited"] else []
            passages = (
                {int(parts[k]): parts[k + 1].strip() for k in range(1, len(parts) - 1, 2)}
                if parts and len(parts) > 2
                else {n: evidence for n in c["cited"][:1]}
            )
            out.append({
                "id": f"{item['id']}-s{i}", "question": item["question"], "sentence": c["sentence"],
                "passages": passages, "label": None, "reason": "", "half": "",
            })  # fmt: skip
    return out
