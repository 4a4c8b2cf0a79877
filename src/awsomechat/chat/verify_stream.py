"""The answer as it streams: whole sentences, each verified before any client sees it.

Streamed tokens cannot be taken back (an OpenAI-compatible stream has no "delete"), so the answer
is released a sentence at a time: the model's tokens are cut into sentences
(:class:`~awsomechat.chat.verify.SentenceSplitter`), each is checked, and only supported (or, with
``verify_action = "mark"``, visibly marked) sentences are passed on. Every client of the chat
service (native SSE, web UI, OpenAI-compatible, MCP, e-mail replies) thus sees the same checked
text, and the final event carries the same text and the per-sentence verdicts.

Sentences without content ("Yes.") and marked ones are held until a supported sentence comes:
when nothing supported comes, nothing was streamed and the turn becomes the abstention.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from awsomechat.chat.verify import AnswerVerifier, SentenceCheck, SentenceSplitter, strip_markers

UNVERIFIED = " (unverified)"


def _said(sentence: str) -> str:
    """A sentence as compared for repeats: without markers, case and spacing."""
    return " ".join(strip_markers(sentence).lower().split())


def _with_citations(sentence: str, numbers: tuple[int, ...]) -> str:
    """The sentence with its markers replaced by ``numbers``, before the final full stop."""
    lead = sentence[: len(sentence) - len(sentence.lstrip())]
    plain = strip_markers(sentence)
    marks = "".join(f"[{n}]" for n in numbers)
    if not marks:
        return lead + plain
    if plain and plain[-1] in ".!?":
        return f"{lead}{plain[:-1]} {marks}{plain[-1]}"
    return f"{lead}{plain} {marks}"


@dataclass
class VerifiedStream:
    """Feeds model tokens in, gives checked text out.

    ``verifier`` None (``chat.verify = "off"``): tokens pass through as the model writes them,
    and only the length limit applies (the generation stops after the sentence that reaches it).
    ``lead``: text emitted just before the first sentence shown (an e-mail's greeting).
    """

    verifier: AnswerVerifier | None
    action: str = "drop"  # drop | mark
    max_sentences: int | None = None
    lead: str = ""
    checks: list[SentenceCheck] = field(default_factory=list)
    shown: int = 0  # claim sentences shown (the length limit counts these)
    supported: int = 0
    verify_s: float = 0.0
    _out: list[str] = field(default_factory=list)
    _held: list[str] = field(default_factory=list)
    _splitter: SentenceSplitter = field(default_factory=SentenceSplitter)
    _said: set[str] = field(default_factory=set)  # shown sentences, to drop a verbatim repeat

    @property
    def full(self) -> bool:
        """The profile's sentence limit is reached: the caller stops the generation."""
        return self.max_sentences is not None and self.shown >= self.max_sentences

    @property
    def text(self) -> str:
        """Everything emitted so far (lead included)."""
        return "".join(self._out)

    def feed(self, token: str) -> str:
        if self.verifier is None:  # unchecked: tokens pass as they come; sentences are only counted
            if self.full or not (self._out or token.strip()):
                return ""
            out = self._emit(token)
            self.shown += len(self._splitter.feed(token))
            return out
        return "".join(self._sentence(s) for s in self._splitter.feed(token) if not self.full)

    def finish(self) -> str:
        if self.verifier is None:
            self._splitter.flush()
            return ""
        out = "".join(self._sentence(s) for s in self._splitter.flush() if not self.full)
        if self.verifier is None or self.supported:
            out += self._release()  # trailing "I hope this helps." after a supported sentence
        return out

    @property
    def answered(self) -> bool:
        """Something supported was shown (or nothing is checked)."""
        return self.supported > 0 if self.verifier is not None else bool(self.text.strip())

    # ------------------------------------------------------------------ inner
    def _emit(self, text: str) -> str:
        if not self._out:
            text = self.lead + text.lstrip()
        self._out.append(text)
        return text

    def _release(self) -> str:
        held, self._held = self._held, []
        return "".join(self._emit(h) for h in held)

    def _sentence(self, sentence: str) -> str:
        if self.verifier is None:
            self.shown += 1
            return self._emit(sentence)
        t0 = time.perf_counter()
        check = self.verifier.check(sentence)
        self.verify_s += time.perf_counter() - t0
        if not check.claim:
            self.checks.append(check)
            if self.supported == 0:
                self._held.append(sentence)
                return ""
            return self._emit(sentence)
        said = _said(check.correction or sentence)
        if said in self._said:
            # An e-mail's requests are answered by separate calls, which can find the same sentence.
            self.checks.append(replace(check, action="dropped", reason="repeats an earlier sentence"))
            return ""
        if check.supported or check.correction:
            # A sentence that said the opposite of a passage shows that passage's own sentence
            # instead, cited to it (the original stays in the verdicts, action "corrected").
            self._said.add(said)
            self.checks.append(check if check.supported else replace(check, action="corrected"))
            self.shown += 1
            self.supported += 1
            lead = sentence[: len(sentence) - len(sentence.lstrip())]
            shown = lead + check.correction if check.correction else sentence
            return self._release() + self._emit(_with_citations(shown, check.checked))
        if self.action == "mark":
            self.checks.append(replace(check, action="marked"))
            self.shown += 1
            marked = _with_citations(sentence, ()).rstrip()
            marked = (marked[:-1] + UNVERIFIED + marked[-1]) if marked[-1:] in ".!?" else marked + UNVERIFIED
            if self.supported == 0:
                self._held.append(marked)
                return ""
            return self._emit(marked)
        self.checks.append(replace(check, action="dropped"))
        return ""
