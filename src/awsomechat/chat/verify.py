"""Claim verification: each answer sentence checked against the passage it cites.

A small model states wrong things with a citation attached (a wrong API name, a number the passage
does not hold, "visible" for "hidden"). Before a sentence reaches any client it is checked here:

* hard checks, all deterministic: every number (with its unit) and every API / operation /
  parameter name (``CamelCase``, ``snake_case``, ``code`` spans) of the sentence must appear in the
  passage it cites;
* content-term coverage: the share of the sentence's content terms (the project's analyzer, so
  stems and stop words match retrieval) found in that passage must reach ``min_coverage``;
* optionally (``chat.verify = "model"``) the chat model answers yes/no on the sentence-passage
  pair, for sentences the lexical layer supports (it can only remove, never rescue).

An uncited sentence is checked against every passage and cited to the best one that supports it;
a cited sentence that fails against its passage but is supported by another gets that citation
instead. Thresholds were tuned on the dev half of ``eval/data/claims_labelled.jsonl``
(``awsomechat eval claims``); see docs/answer-trust.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from awsomechat.chat.types import Message
from awsomechat.seams import ChatModel

MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,–-]\s*\d{1,3})*)\]")
_NUMBER = re.compile(r"(?<![\w.,/:-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w]|\.\d)")
_UNITS = {
    "ms": "millisecond", "millisecond": "millisecond", "milliseconds": "millisecond",
    "s": "second", "sec": "second", "second": "second", "seconds": "second",
    "min": "minute", "minute": "minute", "minutes": "minute",
    "h": "hour", "hr": "hour", "hour": "hour", "hours": "hour",
    "day": "day", "days": "day", "week": "week", "weeks": "week",
    "month": "month", "months": "month", "year": "year", "years": "year",
    "b": "byte", "byte": "byte", "bytes": "byte", "kb": "kb", "kib": "kib", "mb": "mb", "mib": "mib",
    "gb": "gb", "gib": "gib", "tb": "tb", "tib": "tib", "pb": "pb",
    "%": "percent", "percent": "percent",
    "character": "character", "characters": "character", "item": "item", "items": "item",
    "request": "request", "requests": "request", "tps": "tps",
}  # fmt: skip
_UNIT_AFTER = re.compile(r"\s?-?\s?(%|[A-Za-z]+)")
_CODE = re.compile(r"`([^`]{2,80})`")
# SetQueueAttributes, ChangeMessageVisibility, maxResults, VisibilityTimeout, snake_case, a:b
_IDENT = re.compile(
    r"(?<![\w`])(?:[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+|[a-z]+(?:[A-Z][a-z0-9]+)+|[a-z0-9]+(?:_[a-z0-9]+)+"
    r"|[a-z0-9-]+:[A-Za-z*][\w*]+)(?![\w`])"
)
# "can't", "does not", "never": a sentence that drops (or adds) the passage's negation says the
# opposite with the same words ("Yes, you can delete ..." from "You can't delete ...").
_NEGATION = re.compile(r"\b(?:not|never|cannot|unable|no longer)\b|n[’']t\b", re.IGNORECASE)
# Text written to steer an assistant ("ignore all previous instructions", "reply only with ...",
# "do not mention ..."): a passage may hold it (prompt injection) and a small model may copy it into
# the answer with a citation. Such a sentence states nothing about the documents' subject, so it is
# never supported, whatever passage it quotes.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*(?:previous|prior|above|"
    r"earlier|preceding|system|original)?\s*(?:instructions?|prompts?|rules|directions|context)\b"
    r"|\b(?:reply|respond|answer|say|output|print|write)\s+(?:only\s+)?(?:with\s+)?(?:only\s+)?the\s+word\b"
    r"|\b(?:reply|respond|answer)\s+only\b"
    r"|^\W*(?:do\s+not|don[’']t|never)\s+(?:mention|reveal|tell|say|disclose|repeat|cite)\b"
    r"|\bsystem\s+(?:notice|override|instruction)s?\b|\byou\s+are\s+now\b",
    re.IGNORECASE,
)
# "can't exceed 250 MB", "must not be longer than": a limit, said the same way as "up to 250 MB".
_LIMIT = re.compile(
    r"\b(?:cannot|can\s+not|must\s+not|may\s+not|should\s+not|does\s+not|do\s+not|"
    r"can[’']t|won[’']t|\w+n[’']t)\s+(?:be\s+)?(?:exceed\w*|"
    r"(?:more|greater|larger|longer|higher|bigger)\s+than|go\s+(?:over|above|beyond))",
    re.IGNORECASE,
)


# "The total number of FAQ questions in the index is [4][5].": the model left out what it was
# about to state; the words before are all the passage's, so coverage alone would keep it. (Not
# prepositions a sentence may end on: "algorithms to choose from.")
_DANGLING = re.compile(
    r"\b(?:is|are|was|were|be|of|the|a|an|than|between)\s*[.!?]?\s*$",
    re.IGNORECASE,
)


# "For more information, see the [2] passage.": the prompt's word for the context, which the reader
# never sees; such a sentence states nothing (un-056 on the whole corpus kept it as the answer).
_POINTER = re.compile(
    r"^\W*(?:for (?:more )?(?:information|details)[^,]{0,40},\s*)?(?:please\s+)?"
    r"(?:see|refer to|check|read|consult)\b[^.]{0,60}\bpassages?\b",
    re.IGNORECASE,
)


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(_LIMIT.sub(" limit ", text)))


_YES_NO = re.compile(r"^\s*(?:yes|no)\b[,.!]?\s*", re.IGNORECASE)
# A corrected sentence: the passage's own sentence, without a list bullet or Markdown link syntax.
_LIST_LEAD = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
# Sentences, and clauses after ", but" / ";": "You can change X, but the change does not occur".
_PASSAGE_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+|;\s*|,\s*(?=(?:but|although|however|except|unless)\b)")


@dataclass(frozen=True)
class SentenceCheck:
    """The verdict on one answer sentence."""

    text: str  # as the model wrote it, markers included
    model_cited: tuple[int, ...]  # the [n] the model wrote
    checked: tuple[int, ...]  # the passage(s) it was finally checked against / cited to
    claim: bool  # False: no content to check ("Yes.", a connective); never shown alone
    supported: bool
    coverage: float
    reason: str = ""  # why not supported: "number 45", "name SetQueueAttributes", "coverage 0.40"
    action: str = "kept"  # kept | marked | dropped | corrected
    # The text of the passage(s) in ``checked`` (for evaluation; not sent to clients).
    evidence: str = field(default="", repr=False, compare=False)
    # A sentence vetoed as the opposite of a passage: that passage's own sentence, shown instead
    # (``action`` "corrected", cited to ``checked``); "" when there is none to show.
    correction: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "sentence": self.text, "model_cited": list(self.model_cited), "cited": list(self.checked),
            "claim": self.claim, "supported": self.supported, "coverage": round(self.coverage, 3),
            "reason": self.reason, "action": self.action, "correction": self.correction,
        }  # fmt: skip


def cited_numbers(sentence: str) -> list[int]:
    out: list[int] = []
    for m in MARKER.finditer(sentence):
        for part in re.split(r"\s*[,–-]\s*", m.group(1)):
            out.append(int(part))
    return list(dict.fromkeys(out))


def strip_markers(sentence: str) -> str:
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", MARKER.sub("", sentence)).strip()


def numbers_with_units(text: str) -> list[tuple[str, str]]:
    """(number, normalised unit or "") of every free-standing number (not EC2, t2.micro, [3])."""
    text = MARKER.sub(" ", text)
    out: list[tuple[str, str]] = []
    for m in _NUMBER.finditer(text):
        num = m.group(1).replace(",", "")
        unit = ""
        after = _UNIT_AFTER.match(text, m.end())
        if after:
            unit = _UNITS.get(after.group(1).lower(), "")
        out.append((num, unit))
    return out


def identifiers(text: str) -> set[str]:
    """API / operation / parameter names: ``code`` spans, CamelCase, camelCase, snake_case, a:b."""
    text = MARKER.sub(" ", text)
    names = {c.strip() for c in _CODE.findall(text)}
    names |= set(_IDENT.findall(_CODE.sub(" ", text)))
    return {n for n in names if len(n) > 2}


_SIZE_UNITS = frozenset({"tib", "gib", "mib", "kib", "tb", "gb", "mb", "kb"})
# Words that name a size unit: its symbols ("TiB") and its names ("tebibytes").
_SIZE_WORDS = {w: u for w, u in _UNITS.items() if u in _SIZE_UNITS} | {
    "tebibytes": "tib", "gibibytes": "gib", "mebibytes": "mib", "kibibytes": "kib",
    "terabytes": "tb", "gigabytes": "gb", "megabytes": "mb", "kilobytes": "kb",
}  # fmt: skip
_SIZE_WORD = re.compile(r"\b(" + "|".join(sorted(_SIZE_WORDS, key=len, reverse=True)) + r")\b")


def _size_units_named(low: str) -> set[str]:
    """The size units a (lower-cased) passage names anywhere, normalised; "in TiB" counts."""
    return {_SIZE_WORDS[m] for m in _SIZE_WORD.findall(low)}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


@dataclass
class LexicalVerifier:
    """The deterministic layer: numbers+units and names must appear, content terms must be covered."""

    terms: Callable[[str], set[str]]
    min_coverage: float = 0.6
    min_claim_terms: int = 2
    _cache: dict[str, tuple[str, set[str], list[tuple[str, str]]]] = field(default_factory=dict)

    def _passage(self, text: str) -> tuple[str, set[str], list[tuple[str, str]]]:
        got = self._cache.get(text)
        if got is None:
            got = (_norm(text), self.terms(text), numbers_with_units(text))
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[text] = got
        return got

    def problem(
        self, sentence: str, passage: str, question: str = "", *, negation_share: float = 0.5
    ) -> tuple[str, float]:
        """("" when supported, else the reason) and the content-term coverage. ``negation_share``:
        how much of the sentence the passage's closest sentence must share to contradict it."""
        plain = strip_markers(sentence)
        if _INSTRUCTION.search(plain):
            return "instruction", 0.0
        if _DANGLING.search(plain):
            return "incomplete", 0.0
        if _POINTER.search(plain):
            return "points to a passage", 0.0
        low, pterms, pnums = self._passage(passage)
        qlow = _norm(question)
        for num, unit in numbers_with_units(plain):
            same = [u for n, u in pnums if n == num]
            if not same:
                return f"number {num}", 0.0
            if (
                unit
                and unit not in same
                and not re.search(rf"\b{re.escape(num)}\s?-?\s?{unit}", low)
                # A table states its unit once ("All values are in tebibytes (TiB)", a header
                # "Size (GiB)"): a bare number there takes the unit the passage names, if only one.
                and not ("" in same and _size_units_named(low) == {unit})
            ):
                return f"number {num} {unit}", 0.0
        for name in identifiers(plain):
            n = _norm(name)
            if n not in low and n not in qlow:
                return f"name {name}", 0.0
        words = self.terms(plain)
        cov = len(words & pterms) / len(words) if words else 1.0
        if cov < self.min_coverage:
            return f"coverage {cov:.2f}", cov
        if self.contradiction(plain, passage, negation_share) is not None:
            return "negation", cov
        return "", cov

    def contradiction(self, sentence: str, passage: str, min_share: float = 0.5) -> str | None:
        """The passage sentence that says the opposite of ``sentence``, or None.

        The passage sentence closest to ``sentence`` (most shared terms, at least ``min_share`` of
        them; table rows aside) is negated and ``sentence`` is not, or the other way round.
        Passage sentences that say no more than ``sentence`` does (all their terms, two or more,
        are the sentence's) decide first: "Doesn't support elastic volumes." for "Magnetic storage
        does (not) support elastic volumes", whose closest sentence is "RDS also supports magnetic
        storage". A limit ("can't exceed 250 MB") is not a negation."""
        bare = _YES_NO.sub("", strip_markers(sentence))
        negated = _negated(bare)
        words = self.terms(bare)  # "Yes," is no term of the claim
        if not words:
            return None
        best, best_own, best_share = "", set[str](), 0.0
        contained: list[str] = []  # the sentences that say no more than ``sentence``
        for part in _PASSAGE_SENTENCE.split(passage):
            if "|" in part or not part.strip():
                continue
            own = self.terms(_NEGATION.sub(" ", part))  # "doesn't" is no content of its own
            if len(own) >= 2 and own <= words:
                contained.append(part.strip())
            share = len(words & self.terms(part)) / len(words)
            if share > best_share:
                best, best_own, best_share = part.strip(), own, share
        if contained:
            opposite = [c for c in contained if _negated(c) != negated]
            return max(opposite, key=len) if len(opposite) == len(contained) else None
        if best_share < min_share or negated == _negated(best):
            return None
        # A sentence that adds at least as many terms of its own as the claim has is about a
        # narrower case: "AWS IoT Greengrass doesn't support Lambda aliases for $LATEST versions"
        # does not contradict "AWS Lambda supports versioning" (claims set, dev half, aws-096).
        if len(best_own - words) >= len(words):
            return None
        return best

    def correction(self, sentence: str, passage: str, min_share: float = 0.5) -> str | None:
        """What the passage says instead, when it contradicts ``sentence`` about the same thing:
        its own sentence (yes/no flipped), to show in place of the wrong one. Only a plain prose
        sentence holding every content term of the claim qualifies, so the quote is about what
        the claim was about ("You can change the option group … of a stopped DB instance" does not
        correct "you cannot delete it"); anything else stays a plain veto."""
        plain = strip_markers(sentence)
        quote = self.contradiction(plain, passage, min_share)
        if quote is None:
            return None
        quote = _MD_LINK.sub(r"\1", _LIST_LEAD.sub("", quote)).strip()
        if (
            not self.terms(_YES_NO.sub("", plain)) <= self.terms(quote)
            or not 4 <= len(quote.split()) <= 60
            or not quote[:1].isupper()
            or quote.endswith(":")
            or any(mark in quote for mark in ("#", "**", "\n"))
        ):
            return None
        if quote[-1] not in ".!?":
            quote += "."
        yes_no = _YES_NO.match(plain)
        if yes_no:
            flipped = "No" if yes_no.group().strip(" ,.!").lower() == "yes" else "Yes"
            quote = f"{flipped}. {quote}"
        return quote

    def is_claim(self, sentence: str) -> bool:
        plain = strip_markers(sentence)
        return (
            len(self.terms(plain)) >= self.min_claim_terms
            or bool(numbers_with_units(plain))
            or bool(identifiers(plain))
        )


JUDGE_SYSTEM = (
    "You check facts. Reply with one word: yes if the passage states what the sentence says, "
    "no if the passage does not say it or says something different."
)


@dataclass
class ModelJudge:
    """The chat model's yes/no on one sentence-passage pair (two tokens of output)."""

    model: ChatModel
    max_passage_chars: int = 1500

    def supports(self, sentence: str, passage: str) -> bool:
        text = passage[: self.max_passage_chars]
        user = f"Passage: {text}\n\nSentence: {strip_markers(sentence)}\n\nYes or no?"
        out = ""
        for item in self.model.stream(
            [Message("system", JUDGE_SYSTEM), Message("user", user)], max_tokens=2, temperature=0.0
        ):
            if isinstance(item, str):
                out += item
        return not out.strip().lower().startswith("no")


OTHER_NEGATION_SHARE = 0.8


@dataclass
class AnswerVerifier:
    """Verdicts on sentences of one answer, given its numbered passages."""

    lexical: LexicalVerifier
    passages: dict[int, str]
    question: str = ""
    judge: ModelJudge | None = None
    correct: bool = True  # offer the contradicting passage's sentence in place of a negation flip

    def check(self, sentence: str) -> SentenceCheck:
        cited = tuple(n for n in cited_numbers(sentence) if n in self.passages)
        written = tuple(cited_numbers(sentence))
        if not self.lexical.is_claim(sentence):
            return SentenceCheck(sentence, written, cited, claim=False, supported=False, coverage=0.0)
        # A passage that says the opposite (its closest sentence negated where this one is not, or
        # the other way round) vetoes the sentence, whichever passage it cites. A passage it does
        # not cite vetoes only with a sentence about the same thing: one that says no more than
        # the sentence, or shares OTHER_NEGATION_SHARE of its terms. Half was too little: "TLS
        # encrypts communication between the core and connected devices" vetoed the right "traffic
        # between components on the same core device is not encrypted" (emails_dev.jsonl).
        for n, text in self.passages.items():
            share = OTHER_NEGATION_SHARE if cited and n not in cited else 0.5
            if self.lexical.problem(sentence, text, self.question, negation_share=share)[0] == "negation":
                fix = self.lexical.correction(sentence, text, share) if self.correct else None
                return SentenceCheck(
                    sentence, written, (n,) if fix else cited, True, False, 0.0, f"negation in [{n}]",
                    evidence=text, correction=fix or "",
                )  # fmt: skip
        first_reason, first_cov = "", 0.0
        if cited:
            joined = "\n".join(self.passages[n] for n in cited)
            reason, cov = self.lexical.problem(sentence, joined, self.question)
            if not reason and self._judged(sentence, joined):
                return SentenceCheck(sentence, written, cited, True, True, cov, evidence=joined)
            first_reason, first_cov = reason or "judge: no", cov
        # Uncited, or not supported by what it cites: the best other passage that supports it.
        best: tuple[float, int] | None = None
        for n, text in self.passages.items():
            if n in cited:
                continue
            reason, cov = self.lexical.problem(sentence, text, self.question)
            if not reason and (best is None or cov > best[0]):
                best = (cov, n)
        if best is not None and self._judged(sentence, self.passages[best[1]]):
            n = best[1]
            return SentenceCheck(sentence, written, (n,), True, True, best[0], evidence=self.passages[n])
        if not cited:
            first_reason = first_reason or "no passage supports it"
        # Uncited and unsupported: every passage it was checked against, numbered.
        evidence = (
            "\n".join(self.passages[n] for n in cited)
            if cited
            else "\n\n".join(f"[{n}] {t}" for n, t in self.passages.items())
        )
        return SentenceCheck(
            sentence, written, cited, True, False, first_cov, first_reason, evidence=evidence
        )

    def _judged(self, sentence: str, passage: str) -> bool:
        return self.judge is None or self.judge.supports(sentence, passage)


_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|approx|incl|no|fig|ex)|\b[A-Z])\.$", re.IGNORECASE)
_LIST_NUMBER = re.compile(r"(?:^|\n)\s*\d{1,2}\.$")
_PARTIAL_MARKER = re.compile(r"\[\d{0,3}(?:\s*[,–-]\s*\d{0,3})*")
_MARKER_AFTER = re.compile(r"\s*" + MARKER.pattern)


class SentenceSplitter:
    """Cuts streamed text into whole sentences as they finish (markers after the full stop kept
    with their sentence); each piece carries the whitespace before it."""

    def __init__(self) -> None:
        self._buf = ""

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        while (end := self._boundary()) is not None:
            out.append(self._buf[:end])
            self._buf = self._buf[end:]
        return out

    def flush(self) -> list[str]:
        rest, self._buf = self._buf, ""
        return [rest] if rest.strip() else []

    def _boundary(self) -> int | None:
        buf = self._buf
        start = len(buf) - len(buf.lstrip())
        for i in range(start, len(buf)):
            ch = buf[i]
            if ch == "\n":
                if buf[start:i].strip() and i + 1 < len(buf):
                    return i
                continue
            if ch not in ".!?:" or (ch == ":" and buf[i + 1 : i + 2] != "\n"):
                continue
            if ch == "." and (_ABBREV.search(buf[: i + 1]) or _LIST_NUMBER.search(buf[start : i + 1])):
                continue
            j = i + 1
            while True:  # markers written after the full stop belong to this sentence
                m = _MARKER_AFTER.match(buf, j)
                if not m:
                    break
                j = m.end()
            k = j
            while k < len(buf) and buf[k] in " \t\n":
                k += 1
            if k == j or k >= len(buf):
                if k == j and k < len(buf):
                    continue  # "1.5", "docs.aws": no space after the stop
                return None  # wait for what follows (a marker may still come)
            if buf[k] == "[" and _PARTIAL_MARKER.fullmatch(buf[k:]):
                return None  # a marker still arriving
            return j
        return None
